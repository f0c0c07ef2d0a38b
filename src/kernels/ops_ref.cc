// Scalar references: the plainest correct loops, f32 accumulation in natural order. Every SIMD
// body is tested against these.
#include <algorithm>
#include <cmath>

#include "base/float16.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

namespace fastvlm::kernels {

const char* WTypeName(WType t) {
  switch (t) {
    case WType::kF32: return "f32";
    case WType::kBF16: return "bf16";
    case WType::kF16: return "f16";
    case WType::kQ8_0: return "q8_0";
    case WType::kQ4_0: return "q4_0";
    case WType::kQ4_1: return "q4_1";
  }
  return "?";
}

namespace ref {

// matmul_quant.cc: block types, the integer formula for M <= 4, dequantized f32 above.
void MatMulBlockRef(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias,
                    float* y, int64_t ldy);

namespace {
inline float Elem(const Matrix& w, int64_t r, int64_t c) {
  const uint8_t* row = w.Row(r);
  switch (w.type) {
    case WType::kF32: return reinterpret_cast<const float*>(row)[c];
    case WType::kBF16: return BF16ToF32(reinterpret_cast<const uint16_t*>(row)[c]);
    case WType::kF16: return F16ToF32(reinterpret_cast<const uint16_t*>(row)[c]);
    default: return 0.0f;  // block types are handled by their callers
  }
  return 0.0f;
}
}  // namespace

void MatMul(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
            int64_t ldy) {
  if (IsBlockType(w.type)) return MatMulBlockRef(x, ldx, M, w, bias, y, ldy);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < w.rows; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < w.cols; ++k) acc += x[m * ldx + k] * Elem(w, n, k);
      y[m * ldy + n] = acc + (bias ? bias[n] : 0.0f);
    }
  }
}

void RMSNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

int64_t ArgMax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

void Softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SiLUMul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void SiLU(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void Add(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

float Dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

void Axpy(float alpha, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void Scale(float alpha, float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

void RoPE(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t h = head_dim / 2;
  for (int64_t hd = 0; hd < heads; ++hd) {
    float* v = x + hd * head_dim;
    for (int64_t i = 0; i < h; ++i) {
      const float a = v[i], b = v[i + h];
      v[i] = a * cos[i] - b * sin[i];
      v[i + h] = b * cos[i] + a * sin[i];
    }
  }
}

void RowToF32(const Matrix& w, int64_t row, float* out) {
  if (IsBlockType(w.type)) return DequantizeRow(w, row, out);
  for (int64_t c = 0; c < w.cols; ++c) out[c] = Elem(w, row, c);
}

bool QuantizeRowQ8_0Norms(const float* x, int64_t n, BlockQ8_0* out, double sums[2]) {
  sums[0] = sums[1] = 0.0;
  bool finite = true;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    out[b].d = F32ToF16(amax / 127.0f);
    const float d = F16ToF32(out[b].d);
    finite = finite && std::isfinite(amax) && std::isfinite(d);
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    float s[2] = {0.0f, 0.0f};
    for (int i = 0; i < 32; ++i) {
      const float q = std::clamp(std::nearbyint(v[i] * id), -127.0f, 127.0f);
      out[b].qs[i] = static_cast<int8_t>(std::isnan(q) ? 0.0f : q);  // NaN: unspecified, not UB
      const float t = d * q, e = v[i] - t;
      s[0] += e * e;
      s[1] += t * t;
    }
    for (int j = 0; j < 2; ++j) sums[j] += s[j];
  }
  return finite && std::isfinite(sums[0]) && std::isfinite(sums[1]);
}

void DotColumns(const float* q, const float* kt, int64_t dim, int64_t len, float scale, float* out) {
  for (int64_t j = 0; j < len; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * kt[KeyTileIndex(j, d, dim)];
    out[j] = acc * scale;
  }
}

void WeightedRowSum(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                    float* out) {
  for (int64_t d = 0; d < dim; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j < len; ++j)
    for (int64_t d = 0; d < dim; ++d) out[d] += p[j] * v[j * ldv + d];
}

void DotColumnsGroup(const float* q, int64_t ldq, int64_t nq, const float* kt, int64_t dim,
                     int64_t len, float scale, float* out, int64_t ldo) {
  for (int64_t h = 0; h < nq; ++h) DotColumns(q + h * ldq, kt, dim, len, scale, out + h * ldo);
}

void WeightedRowSumGroup(const float* p, int64_t ldp, int64_t np, const float* v, int64_t len,
                         int64_t dim, int64_t ldv, float* out, int64_t ldout) {
  for (int64_t h = 0; h < np; ++h) WeightedRowSum(p + h * ldp, v, len, dim, ldv, out + h * ldout);
}

}  // namespace ref
}  // namespace fastvlm::kernels
