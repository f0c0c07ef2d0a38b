// Reference quantizers, written from the definitions in llama.cpp's ggml-quants.c
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref, quantize_row_q4_1_ref). Built with
// -ffp-contract=off (CMakeLists.txt): the byte-exact match depends on every f32 operation
// rounding separately, as in ggml's C and numpy.
#include "quant/quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/float16.h"

namespace fastvlm::quant {

using kernels::BlockQ4_0;
using kernels::BlockQ4_1;
using kernels::BlockQ8_0;
using kernels::kQBlock;

namespace {

void QuantizeQ8_0(const float* x, BlockQ8_0* b) {
  float amax = 0.0f;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int i = 0; i < 32; ++i) b->qs[i] = static_cast<int8_t>(std::round(x[i] * id));
}

void QuantizeQ4_0(const float* x, BlockQ4_0* b) {
  float amax = 0.0f, max = 0.0f;  // the first element of largest magnitude, with its sign
  for (int i = 0; i < 32; ++i) {
    if (amax < std::fabs(x[i])) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int i = 0; i < 16; ++i) {
    // x·id ∈ [−8, 8], so x·id + 8.5 ∈ [0.5, 16.5]: truncation is floor, and only +8 clamps.
    const int q0 = std::min(15, static_cast<int>(x[i] * id + 8.5f));
    const int q1 = std::min(15, static_cast<int>(x[i + 16] * id + 8.5f));
    b->qs[i] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void QuantizeQ4_1(const float* x, BlockQ4_1* b) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int i = 0; i < 32; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
  }
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  b->m = F32ToF16(min);
  for (int i = 0; i < 16; ++i) {
    const int q0 = std::min(15, static_cast<int>((x[i] - min) * id + 0.5f));
    const int q1 = std::min(15, static_cast<int>((x[i + 16] - min) * id + 0.5f));
    b->qs[i] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

}  // namespace

void EncodeRow(WType t, const float* x, int64_t n, void* dst) {
  uint8_t* d = static_cast<uint8_t*>(dst);
  switch (t) {
    case WType::kF32: std::memcpy(d, x, n * sizeof(float)); return;
    case WType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = F32ToBF16(x[i]);
        std::memcpy(d + 2 * i, &v, 2);
      }
      return;
    case WType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t v = F32ToF16(x[i]);
        std::memcpy(d + 2 * i, &v, 2);
      }
      return;
    default: QuantizeRow(t, x, n, dst);
  }
}

void QuantizeRow(WType t, const float* x, int64_t n, void* dst) {
  CHECK(kernels::IsBlockType(t));
  CHECK_EQ(n % kQBlock, 0);
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t bb = kernels::BlockBytes(t);
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    // Blocks are built in an aligned local and copied: dst need not be 2-byte aligned.
    const float* xb = x + b * kQBlock;
    if (t == WType::kQ8_0) {
      BlockQ8_0 q;
      QuantizeQ8_0(xb, &q);
      std::memcpy(out + b * bb, &q, sizeof(q));
    } else if (t == WType::kQ4_0) {
      BlockQ4_0 q;
      QuantizeQ4_0(xb, &q);
      std::memcpy(out + b * bb, &q, sizeof(q));
    } else {
      BlockQ4_1 q;
      QuantizeQ4_1(xb, &q);
      std::memcpy(out + b * bb, &q, sizeof(q));
    }
  }
}

void DequantizeRow(WType t, const void* src, int64_t n, float* out) {
  CHECK(kernels::IsBlockType(t));
  CHECK_EQ(n % kQBlock, 0);
  const auto* in = static_cast<const uint8_t*>(src);
  const int64_t bb = kernels::BlockBytes(t);
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    float* o = out + b * kQBlock;
    if (t == WType::kQ8_0) {
      BlockQ8_0 q;
      std::memcpy(&q, in + b * bb, sizeof(q));
      const float d = F16ToF32(q.d);
      for (int i = 0; i < 32; ++i) o[i] = static_cast<float>(q.qs[i]) * d;
    } else {
      const uint8_t* qs;
      float d, m = 0.0f;
      int off = 0;
      BlockQ4_0 q0;
      BlockQ4_1 q1;
      if (t == WType::kQ4_0) {
        std::memcpy(&q0, in + b * bb, sizeof(q0));
        d = F16ToF32(q0.d);
        qs = q0.qs;
        off = 8;
      } else {
        std::memcpy(&q1, in + b * bb, sizeof(q1));
        d = F16ToF32(q1.d);
        m = F16ToF32(q1.m);
        qs = q1.qs;
      }
      for (int i = 0; i < 16; ++i) {
        const float lo = static_cast<float>((qs[i] & 15) - off) * d;
        const float hi = static_cast<float>((qs[i] >> 4) - off) * d;
        o[i] = t == WType::kQ4_1 ? lo + m : lo;
        o[i + 16] = t == WType::kQ4_1 ? hi + m : hi;
      }
    }
  }
}

double ElementErrorBound(WType t, float d) {
  const double ad = std::fabs(static_cast<double>(d));
  // The levels are placed with the f32 scale but read back with its f16 rounding, off by at most
  // half an f16 ulp: |d|·2^-11 for normal scales, 2^-25 for f16-subnormal ones (|d| < 2^-14,
  // e.g. Q8_0 blocks with amax < 0.0078). Level q·d moves by |q| times that (Q8_0: |q| <= 127;
  // Q4_0: 8; Q4_1: 15).
  const double dd = std::max(ad * 0x1p-11, 0x1p-25);
  switch (t) {
    case WType::kQ8_0: return ad / 2 + 127 * dd;
    // Q4_0: the extreme with the max's sign maps to level 0 (−8·d); the opposite extreme can need
    // level 16, clamped to 15 (error up to d); in between it rounds to nearest (d/2).
    case WType::kQ4_0: return ad + 8 * dd;
    // Q4_1: the min is stored as f16 too (the caller adds its rounding).
    case WType::kQ4_1: return ad / 2 + 15 * dd;
    default: return 0;
  }
}

ErrorStats Compare(const float* ref, const float* got, int64_t n) {
  ErrorStats s;
  double se = 0, sr = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(ref[i]) - got[i];
    s.max_abs = std::max(s.max_abs, std::fabs(e));
    se += e * e;
    sr += static_cast<double>(ref[i]) * ref[i];
  }
  s.rmse = n > 0 ? std::sqrt(se / n) : 0;
  s.nmse = sr > 0 ? se / sr : (se > 0 ? INFINITY : 0);
  return s;
}

const void* StandardBytes(const io::TensorView& t, std::vector<uint8_t>* scratch) {
  if (!t.decode_panels) return t.data;
  WType type;
  CHECK(StoredWType(t.dtype, &type) && t.shape.size() == 2);
  kernels::Matrix m{type, nullptr, t.shape[0], t.shape[1]};
  m.panels = t.data;
  scratch->resize(t.nbytes);
  kernels::UnpackDecodePanels(m, 0, m.rows, scratch->data());
  return scratch->data();
}

bool IsDecodeMatrixName(const std::string& name, const std::string& llm_prefix,
                        const std::string& lm_head_name) {
  if (name == lm_head_name) return true;
  if (name.rfind(llm_prefix + "layers.", 0) != 0) return false;
  for (const char* s : {".self_attn.q_proj.weight", ".self_attn.k_proj.weight",
                        ".self_attn.v_proj.weight", ".self_attn.o_proj.weight",
                        ".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"}) {
    const size_t n = std::strlen(s);
    if (name.size() > n && name.compare(name.size() - n, n, s) == 0) return true;
  }
  return false;
}

bool StoredWType(io::DType d, WType* out) {
  switch (d) {
    case io::DType::kF32: *out = WType::kF32; return true;
    case io::DType::kF16: *out = WType::kF16; return true;
    case io::DType::kBF16: *out = WType::kBF16; return true;
    case io::DType::kQ8_0: *out = WType::kQ8_0; return true;
    case io::DType::kQ4_0: *out = WType::kQ4_0; return true;
    case io::DType::kQ4_1: *out = WType::kQ4_1; return true;
    default: return false;
  }
}

}  // namespace fastvlm::quant
