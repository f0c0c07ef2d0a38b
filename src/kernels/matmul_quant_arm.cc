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

#include "base/check.h"
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

// --- Prefill with int8 activations: SDOT by lane --------------------------------------------
//
// Panels: PackInt8Panels' layout with signed levels (Q8_0 q, Q4_0 q − 8, Q4_1 q). One 16-byte
// vector of a k-group holds 4 rows × 4 levels, and vdotq_laneq_s32 multiplies it with one 4-byte
// group of x: 32 SDOT per block and row give the exact int32 sums of 16 outputs (signed × signed:
// no offset).
constexpr int64_t kI8BlockBytes = kInt8PanelBlockBytes;

// MR rows of x against one panel (16 outputs, `cols` valid).
template <WType T, int MR>
FVLM_TARGET_DOTPROD void Int8TileArm(const BlockQ8X* xq, int64_t nb, const uint8_t* panel,
                                     const float* bias, float* y, int64_t ldy, int cols) {
  float32x4_t acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < 4; ++q) acc[i][q] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = panel + b * kI8BlockBytes;
    int32x4_t s[MR][4];
    int8x16_t xv[MR][2];
    for (int i = 0; i < MR; ++i) {
      for (int q = 0; q < 4; ++q) s[i][q] = vdupq_n_s32(0);
      xv[i][0] = vld1q_s8(xq[i * nb + b].qs);
      xv[i][1] = vld1q_s8(xq[i * nb + b].qs + 16);
    }
#define FVLM_SDOT_GROUP(G)                                                              \
  {                                                                                     \
    const int8_t* wg = reinterpret_cast<const int8_t*>(pb + (G) * 64);                  \
    const int8x16_t w0 = vld1q_s8(wg), w1 = vld1q_s8(wg + 16), w2 = vld1q_s8(wg + 32), \
                    w3 = vld1q_s8(wg + 48);                                             \
    for (int i = 0; i < MR; ++i) {                                                      \
      s[i][0] = vdotq_laneq_s32(s[i][0], w0, xv[i][(G) / 4], (G) % 4);                  \
      s[i][1] = vdotq_laneq_s32(s[i][1], w1, xv[i][(G) / 4], (G) % 4);                  \
      s[i][2] = vdotq_laneq_s32(s[i][2], w2, xv[i][(G) / 4], (G) % 4);                  \
      s[i][3] = vdotq_laneq_s32(s[i][3], w3, xv[i][(G) / 4], (G) % 4);                  \
    }                                                                                   \
  }
    FVLM_SDOT_GROUP(0)
    FVLM_SDOT_GROUP(1)
    FVLM_SDOT_GROUP(2)
    FVLM_SDOT_GROUP(3)
    FVLM_SDOT_GROUP(4)
    FVLM_SDOT_GROUP(5)
    FVLM_SDOT_GROUP(6)
    FVLM_SDOT_GROUP(7)
#undef FVLM_SDOT_GROUP
    const float* dw = reinterpret_cast<const float*>(pb + 512);
    for (int i = 0; i < MR; ++i) {
      const BlockQ8X& xb = xq[i * nb + b];
      for (int q = 0; q < 4; ++q) {
        const float32x4_t scale = vmulq_n_f32(vld1q_f32(dw + 4 * q), xb.d);
        acc[i][q] = vfmaq_f32(acc[i][q], vcvtq_f32_s32(s[i][q]), scale);
        if constexpr (T == WType::kQ4_1) {
          acc[i][q] = vfmaq_n_f32(acc[i][q], vld1q_f32(dw + 16 + 4 * q),
                                  xb.d * static_cast<float>(xb.sum));
        }
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    float out[16];
    for (int q = 0; q < 4; ++q) vst1q_f32(out + 4 * q, acc[i][q]);
    for (int j = 0; j < cols; ++j) y[i * ldy + j] = out[j] + (bias ? bias[j] : 0.0f);
  }
}

template <WType T>
void Int8PanelsArm(const BlockQ8X* xq, int64_t M, int64_t K, const uint8_t* panels, int64_t n,
                   const float* bias, float* y, int64_t ldy) {
  const int64_t nb = K / kQBlock;
  for (int64_t p = 0; p * 16 < n; ++p) {
    const uint8_t* panel = panels + p * nb * kI8BlockBytes;
    const int cols = static_cast<int>(n - p * 16 < 16 ? n - p * 16 : 16);
    const float* bp = bias ? bias + p * 16 : nullptr;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) Int8TileArm<T, 2>(xq + m * nb, nb, panel, bp, y + m * ldy + p * 16, ldy, cols);
    if (m < M) Int8TileArm<T, 1>(xq + m * nb, nb, panel, bp, y + m * ldy + p * 16, ldy, cols);
  }
}

// --- M = 1 on decode panels (ops.h PackDecodePanels), as the x86 body does ----------------
//
// A 64-byte vector of a sub-panel is four NEON vectors of 4 rows × 4 levels, so SDOT against the
// x dword broadcast to all lanes gives 4 rows' sums per instruction. Q8_0 levels are stored as
// q + 128: flipping the top bit gives q (signed × signed, no offset); Q4_0 nibbles (0..15) are
// valid int8 and the sum starts at −8·Σx. Then y += (d_w·d_x)·isum per lane, a product, a product
// and an add (this file is compiled with -ffp-contract=off): QuantRowsRef's y bit for bit.
template <WType T>
FVLM_TARGET_DOTPROD void GemvPanelsArmT(const BlockQ8X* xq, const Matrix& w, int64_t n0,
                                        int64_t n1, const float* bias, float* y) {
  constexpr bool kQ8 = T == WType::kQ8_0;
  constexpr int64_t pb = kQ8 ? 544 : 288, qb = pb - 32;
  const int64_t nb = w.cols / kQBlock;
  const uint8_t* panels = static_cast<const uint8_t*>(w.panels);
  const uint8x16_t m4 = vdupq_n_u8(15), flip = vdupq_n_u8(0x80);
  for (int64_t g = n0 / 64; g < n1 / 64; ++g) {
    float32x4_t acc[16];
    for (auto& a : acc) a = vdupq_n_f32(0.0f);
    const uint8_t* blk = panels + g * nb * 4 * pb;
    for (int64_t b = 0; b < nb; ++b, blk += 4 * pb) {
      const BlockQ8X& x = xq[b];
      int8x16_t xv[8];
      for (int k = 0; k < 8; ++k) {
        int32_t v;
        std::memcpy(&v, x.qs + 4 * k, 4);
        xv[k] = vreinterpretq_s8_s32(vdupq_n_s32(v));
      }
      const int32x4_t off = vdupq_n_s32(kQ8 ? 0 : -8 * x.sum);
      const float32x4_t dx = vdupq_n_f32(x.d);
      for (int i = 0; i < 4; ++i) {
        const uint8_t* qv = blk + i * qb;
        const uint16_t* sc = reinterpret_cast<const uint16_t*>(blk + 4 * qb + 32 * i);
        for (int q = 0; q < 4; ++q) {
          int32x4_t a0 = off, a1 = vdupq_n_s32(0);
          if constexpr (kQ8) {
            for (int k = 0; k < 8; k += 2) {
              a0 = vdotq_s32(a0, vreinterpretq_s8_u8(veorq_u8(vld1q_u8(qv + 64 * k + 16 * q), flip)), xv[k]);
              a1 = vdotq_s32(a1, vreinterpretq_s8_u8(veorq_u8(vld1q_u8(qv + 64 * k + 64 + 16 * q), flip)),
                             xv[k + 1]);
            }
          } else {
            for (int j = 0; j < 4; ++j) {
              const uint8x16_t v = vld1q_u8(qv + 64 * j + 16 * q);
              a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vandq_u8(v, m4)), xv[2 * j]);
              a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), xv[2 * j + 1]);
            }
          }
          const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(sc + 4 * q)));
          const float32x4_t isum = vcvtq_f32_s32(vaddq_s32(a0, a1));
          acc[4 * i + q] = vaddq_f32(acc[4 * i + q], vmulq_f32(vmulq_f32(dw, dx), isum));
        }
      }
    }
    for (int r = 0; r < 16; ++r) {
      float32x4_t v = acc[r];
      if (bias) v = vaddq_f32(v, vld1q_f32(bias + g * 64 + 4 * r));
      vst1q_f32(y + g * 64 + 4 * r, v);
    }
  }
}

}  // namespace

void GemvPanelsArm(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1, const float* bias,
                   float* y) {
  CHECK(w.panels != nullptr && n0 % 64 == 0 && n1 % 64 == 0);
  if (w.type == WType::kQ8_0) return GemvPanelsArmT<WType::kQ8_0>(xq, w, n0, n1, bias, y);
  CHECK(w.type == WType::kQ4_0);
  GemvPanelsArmT<WType::kQ4_0>(xq, w, n0, n1, bias, y);
}

bool HasInt8PrefillArm() {
  static const bool dotprod = HasDotProd();
  return dotprod;
}

void GemmInt8Arm(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy) {
  const auto* p = static_cast<const uint8_t*>(panels);
  switch (t) {
    case WType::kQ8_0: return Int8PanelsArm<WType::kQ8_0>(xq, M, K, p, n, bias, y, ldy);
    case WType::kQ4_0: return Int8PanelsArm<WType::kQ4_0>(xq, M, K, p, n, bias, y, ldy);
    default: return Int8PanelsArm<WType::kQ4_1>(xq, M, K, p, n, bias, y, ldy);
  }
}

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
void GemvPanelsArm(const BlockQ8X*, const Matrix&, int64_t, int64_t, const float*, float*) {
  CHECK(false);  // only called where DecodePanelsActive(), which needs the dot product
}
bool HasInt8PrefillArm() { return false; }
void GemmInt8Arm(WType, const BlockQ8X*, int64_t, int64_t, const void*, int64_t, const float*,
                 float*, int64_t) {
  CHECK(false);  // only called where HasInt8PrefillArm()
}

#endif

}  // namespace fastvlm::kernels
