// Decode body for block-quantized weights on ARM64 with the Armv8.2 dot-product instructions
// (SDOT: four int8×int8 products summed into each int32 lane; Apple M1 and later, Cortex-A55/A76
// and later, Neoverse). Highway 1.0.3 has no int8 dot-product op (DESIGN.md "Toolchain facts"), so
// this uses the ACLE intrinsics in functions compiled for "+dotprod", called only when the CPU
// reports the feature (HWCAP_ASIMDDP on Linux; every Apple Silicon CPU has it).
//
// Q8_0 levels are int8 as stored; Q4_0 nibbles are made signed (q − 8, in [−8, 7]) and Q4_1
// nibbles stay unsigned (0..15, still valid int8), so one SDOT pair gives each block's exact
// int32 sum with no offset correction. The f32 part is the scalar reference's expression in its
// order: acc += d_w·d_x·isum (+ m·d_x·Σq_x for Q4_1) per block.
#include <cstdint>
#include <cstring>

#include "base/float16.h"
#include "kernels/matmul_quant_internal.h"

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define FVLM_HAVE_QUANT_ARM 1
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif
#else
#define FVLM_HAVE_QUANT_ARM 0
#endif

namespace fastvlm::kernels {

#if FVLM_HAVE_QUANT_ARM
namespace {

bool HasDotProd() {
#if defined(__APPLE__)
  return true;  // every Apple Silicon CPU (M1 and later) implements FEAT_DotProd
#elif defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}

#if defined(__clang__)
#define FVLM_TARGET_DOTPROD __attribute__((target("dotprod")))
#else  // GCC 12 accepts the feature only with an architecture that has it
#define FVLM_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

template <WType T>
FVLM_TARGET_DOTPROD void RowsDotProd(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0,
                                     int64_t n1, const float* bias, float* y, int64_t ldy) {
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(T);
  const uint8x16_t m4 = vdupq_n_u8(15);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* r = w.Row(n);
    float acc[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = r + b * bb;
      uint16_t dh, mh = 0;
      std::memcpy(&dh, blk, 2);
      const float dw = F16ToF32(dh);
      int8x16_t w0, w1;  // elements 0..15 and 16..31
      if constexpr (T == WType::kQ8_0) {
        w0 = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 2));
        w1 = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 18));
      } else {
        const uint8x16_t q = vld1q_u8(blk + (T == WType::kQ4_1 ? 4 : 2));
        w0 = vreinterpretq_s8_u8(vandq_u8(q, m4));
        w1 = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        if constexpr (T == WType::kQ4_0) {
          w0 = vsubq_s8(w0, eight);
          w1 = vsubq_s8(w1, eight);
        } else {
          std::memcpy(&mh, blk + 2, 2);
        }
      }
      for (int i = 0; i < M; ++i) {
        const BlockQ8X& xb = xq[i * nb + b];
        const int32x4_t d = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(xb.qs)), w1,
                                      vld1q_s8(xb.qs + 16));
        acc[i] += dw * xb.d * static_cast<float>(vaddvq_s32(d));
        if constexpr (T == WType::kQ4_1) acc[i] += F16ToF32(mh) * (xb.d * static_cast<float>(xb.sum));
      }
    }
    for (int i = 0; i < M; ++i) y[i * ldy + n] = acc[i] + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace

QuantRowsFn QuantRowsArm(WType t, const char** name) {
  static const bool dotprod = HasDotProd();
  if (!dotprod) return nullptr;
  *name = "neon-dotprod";
  switch (t) {
    case WType::kQ8_0: return &RowsDotProd<WType::kQ8_0>;
    case WType::kQ4_0: return &RowsDotProd<WType::kQ4_0>;
    case WType::kQ4_1: return &RowsDotProd<WType::kQ4_1>;
    default: return nullptr;
  }
}

#else  // !FVLM_HAVE_QUANT_ARM

QuantRowsFn QuantRowsArm(WType, const char**) { return nullptr; }

#endif

}  // namespace fastvlm::kernels
