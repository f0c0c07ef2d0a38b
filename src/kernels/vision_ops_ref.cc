// Scalar references of the vision ops (ops.h): plain loops in the order the math is written,
// what `FASTVLM_SIMD=ref` runs and what the tests compare the SIMD bodies against.
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/float16.h"
#include "kernels/ops.h"

namespace fastvlm::kernels::ref {

namespace {
inline float GeluScalar(float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); }
}  // namespace

void Gelu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = GeluScalar(x[i]);
}

void DepthwiseConv(const float* x, const DwConvShape& s, const float* w, const float* bias,
                   bool gelu, float* y, int64_t p_begin, int64_t p_end) {
  const int64_t OW = s.OW(), Cout = s.Cout();
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t oy = p / OW, ox = p % OW;
    for (int64_t o = 0; o < Cout; ++o) {
      float acc = bias ? bias[o] : 0.0f;
      for (int ky = 0; ky < s.k; ++ky) {
        const int64_t iy = oy * s.stride - s.pad + ky;
        if (iy < 0 || iy >= s.H) continue;
        for (int kx = 0; kx < s.k; ++kx) {
          const int64_t ix = ox * s.stride - s.pad + kx;
          if (ix < 0 || ix >= s.W) continue;
          acc += x[(iy * s.W + ix) * s.C + o / s.mult] * w[(ky * s.k + kx) * Cout + o];
        }
      }
      y[(p - p_begin) * Cout + o] = gelu ? GeluScalar(acc) : acc;
    }
  }
}

void Conv2D(const float* x, const ConvShape& s, const float* w, const float* bias, bool gelu,
            float* y, int64_t p_begin, int64_t p_end) {
  const int64_t OW = s.OW();
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t oy = p / OW, ox = p % OW;
    for (int64_t o = 0; o < s.Cout; ++o) {
      float acc = bias ? bias[o] : 0.0f;
      for (int ky = 0; ky < s.k; ++ky) {
        const int64_t iy = oy * s.stride - s.pad + ky;
        if (iy < 0 || iy >= s.H) continue;
        for (int kx = 0; kx < s.k; ++kx) {
          const int64_t ix = ox * s.stride - s.pad + kx;
          if (ix < 0 || ix >= s.W) continue;
          for (int64_t c = 0; c < s.Cin; ++c)
            acc += x[(iy * s.W + ix) * s.Cin + c] * w[((ky * s.k + kx) * s.Cin + c) * s.Cout + o];
        }
      }
      y[(p - p_begin) * s.Cout + o] = gelu ? GeluScalar(acc) : acc;
    }
  }
}

void LayerNormRows(const float* x, int64_t ldx, int64_t rows, int64_t C, const float* w,
                   const float* b, float eps, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float mean = 0.0f;
    for (int64_t c = 0; c < C; ++c) mean += xr[c];
    mean /= static_cast<float>(C);
    float var = 0.0f;
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= static_cast<float>(C);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; ++c) y[r * ldy + c] = (xr[c] - mean) * inv * w[c] + b[c];
  }
}

void GemmPacked(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                const GemmEpilogue& ep, float* y, int64_t ldy) {
  const int64_t N = w.rows, K = w.cols, kp_n = (K + 1) / 2;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      const int64_t pn = n / kPackPanel, j = n % kPackPanel;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        float wv;
        if (w.type == WType::kF32) {
          wv = static_cast<const float*>(w.data)[(pn * K + k) * kPackPanel + j];
        } else {
          wv = BF16ToF32(static_cast<const uint16_t*>(
              w.data)[((pn * kp_n + k / 2) * kPackPanel + j) * 2 + k % 2]);
        }
        acc += x[m * ldx + k] * wv;
      }
      float v = ep.alpha * acc + (ep.bias ? ep.bias[n] : 0.0f);
      if (ep.gelu) v = GeluScalar(v);
      if (ep.scale) v *= ep.scale[n];
      if (ep.residual) v += ep.residual[m * ep.ldr + n];
      y[m * ldy + n] = v;
    }
  }
}

}  // namespace fastvlm::kernels::ref
