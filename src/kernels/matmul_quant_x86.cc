// Decode bodies for block-quantized weights with x86 intrinsics: AVX2 (vpmaddubsw + vpmaddwd)
// and AVX-512 VNNI (vpdpbusd on 256-bit vectors, one 32-element block per vector). Highway 1.0.3
// has no op for either int8 dot product (DESIGN.md "Toolchain facts"), so these use intrinsics
// inside target-attributed functions behind a CPU-feature check, as matmul_bf16_x86.cc does.
//
// The products are u8 × s8, so signed weights need a transformation that keeps the integer sum
// exact:
//   Q8_0, VNNI:  (w + 128) as u8, and the accumulator starts at −128·Σx (x's precomputed sum).
//   Q8_0, AVX2:  |w| × sign(x, w) (vpmaddubsw saturates at 16 bits: 2·255·127 would overflow,
//                2·128·127 does not; x is never −128, see BlockQ8X).
//   Q4_0:        the unsigned nibble q, accumulator starting at −8·Σx.
//   Q4_1:        the unsigned nibble q; the minimum adds m·d_x·Σx outside the dot product.
// Lanes hold partial int32 sums (exact, < 2^24), converted to f32 and scaled by d_w·d_x.
#include <cstdint>
#include <cstring>

#include "kernels/matmul_quant_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FVLM_HAVE_QUANT_X86 1
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <cpuid.h>
#include <immintrin.h>
#else
#define FVLM_HAVE_QUANT_X86 0
#endif

namespace fastvlm::kernels {

#if FVLM_HAVE_QUANT_X86
namespace {

struct CpuFeatures {
  bool avx2 = false, vnni = false;
};

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (!osxsave) return f;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  if ((xlo & 6) != 6) return f;  // the OS saves XMM and YMM
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ((b >> 5) & 1) && fma && f16c;
  const bool avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  const bool vnni = (c >> 11) & 1;
  f.vnni = f.avx2 && avx512f && avx512bw && avx512vl && vnni && (xlo & 0xe6) == 0xe6;
  return f;
}

const CpuFeatures& Cpu() {
  static const CpuFeatures f = Detect();
  return f;
}

#define FVLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define FVLM_TARGET_VNNI \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

// The two bodies differ only in the int8 dot product and the Q8_0 transformation; the rest of
// the loop is this macro, instantiated once per target attribute (a template cannot carry one).
// DOT_Q8(acc, w, x) / DOT_U(acc, q, x): 8 int32 lanes of acc + partial Σ products.
#define FVLM_DEFINE_QUANT_ROWS(TARGET, SUFFIX, Q8_PREP, Q8_DOT, U_DOT)                  \
  TARGET inline float HSum##SUFFIX(__m256 v) {                                                  \
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));       \
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));                                        \
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));                                    \
  }                                                                                             \
  TARGET inline __m256i Nibbles##SUFFIX(const uint8_t* qs) {                                    \
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));                   \
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);                            \
    return _mm256_and_si256(both, _mm256_set1_epi8(15));                                        \
  }                                                                                             \
  template <WType T, int MR>                                                                    \
  TARGET void Rows##SUFFIX(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1,         \
                           const float* bias, float* y, int64_t ldy) {                          \
    const int64_t nb = w.cols / kQBlock, bb = BlockBytes(T);                                    \
    for (int64_t n = n0; n < n1; ++n) {                                                          \
      const uint8_t* r = w.Row(n);                                                              \
      /* Two accumulator sets (even / odd blocks): independent FMA chains. */                   \
      __m256 acc[2][MR];                                                                        \
      float extra[MR];                                                                          \
      for (int i = 0; i < MR; ++i) {                                                            \
        acc[0][i] = acc[1][i] = _mm256_setzero_ps();                                            \
        extra[i] = 0.0f;                                                                        \
      }                                                                                         \
      for (int64_t b = 0; b < nb; ++b) {                                                        \
        const uint8_t* blk = r + b * bb;                                                        \
        uint16_t dh;                                                                            \
        std::memcpy(&dh, blk, 2);                                                               \
        const float dw = _cvtsh_ss(dh);                                                         \
        __m256i wv, wa;                                                                         \
        if constexpr (T == WType::kQ8_0) {                                                      \
          wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));                  \
          Q8_PREP;                                                                              \
        } else {                                                                                \
          wa = wv = Nibbles##SUFFIX(blk + (T == WType::kQ4_1 ? 4 : 2));                        \
        }                                                                                       \
        for (int i = 0; i < MR; ++i) {                                                          \
          const BlockQ8X& xb = xq[i * nb + b];                                                  \
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));      \
          __m256i dot;                                                                          \
          if constexpr (T == WType::kQ8_0) {                                                    \
            Q8_DOT;                                                                             \
          } else if constexpr (T == WType::kQ4_0) {                                             \
            const __m256i init = _mm256_setr_epi32(-8 * xb.sum, 0, 0, 0, 0, 0, 0, 0);           \
            U_DOT;                                                                              \
          } else {                                                                              \
            const __m256i init = _mm256_setzero_si256();                                        \
            U_DOT;                                                                              \
            uint16_t mh;                                                                        \
            std::memcpy(&mh, blk + 2, 2);                                                       \
            extra[i] += _cvtsh_ss(mh) * (xb.d * static_cast<float>(xb.sum));                    \
          }                                                                                     \
          acc[b & 1][i] =                                                                       \
              _mm256_fmadd_ps(_mm256_set1_ps(dw * xb.d), _mm256_cvtepi32_ps(dot), acc[b & 1][i]); \
        }                                                                                       \
      }                                                                                         \
      for (int i = 0; i < MR; ++i) {                                                            \
        const float s = HSum##SUFFIX(_mm256_add_ps(acc[0][i], acc[1][i])) + extra[i];           \
        y[i * ldy + n] = s + (bias ? bias[n] : 0.0f);                                          \
      }                                                                                         \
    }                                                                                           \
  }                                                                                             \
  template <WType T>                                                                            \
  void RowsM##SUFFIX(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,        \
                     const float* bias, float* y, int64_t ldy) {                                \
    switch (M) {                                                                                \
      case 1: return Rows##SUFFIX<T, 1>(xq, w, n0, n1, bias, y, ldy);                           \
      case 2: return Rows##SUFFIX<T, 2>(xq, w, n0, n1, bias, y, ldy);                           \
      case 3: return Rows##SUFFIX<T, 3>(xq, w, n0, n1, bias, y, ldy);                           \
      default: return Rows##SUFFIX<T, 4>(xq, w, n0, n1, bias, y, ldy);                          \
    }                                                                                           \
  }

// AVX2: |w|·sign(x, w) through vpmaddubsw (pairs → i16) and vpmaddwd with ones (→ i32).
FVLM_DEFINE_QUANT_ROWS(
    FVLM_TARGET_AVX2, Avx2, wa = _mm256_sign_epi8(wv, wv),
    dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(xv, wv)),
                            _mm256_set1_epi16(1)),
    dot = _mm256_add_epi32(init, _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv),
                                                     _mm256_set1_epi16(1))))

// VNNI: (w + 128)·x in one vpdpbusd, the accumulator pre-loaded with −128·Σx.
FVLM_DEFINE_QUANT_ROWS(
    FVLM_TARGET_VNNI, Vnni, wa = _mm256_xor_si256(wv, _mm256_set1_epi8(-128)),
    dot = _mm256_dpbusd_epi32(_mm256_setr_epi32(-128 * xb.sum, 0, 0, 0, 0, 0, 0, 0), wa, xv),
    dot = _mm256_dpbusd_epi32(init, wv, xv))

}  // namespace

QuantRowsFn QuantRowsX86(WType t, bool allow_avx512, bool allow_avx2, const char** name) {
  const CpuFeatures& f = Cpu();
  if (allow_avx512 && f.vnni) {
    *name = "avx512vnni";
    switch (t) {
      case WType::kQ8_0: return &RowsMVnni<WType::kQ8_0>;
      case WType::kQ4_0: return &RowsMVnni<WType::kQ4_0>;
      case WType::kQ4_1: return &RowsMVnni<WType::kQ4_1>;
      default: return nullptr;
    }
  }
  if (allow_avx2 && f.avx2) {
    *name = "avx2";
    switch (t) {
      case WType::kQ8_0: return &RowsMAvx2<WType::kQ8_0>;
      case WType::kQ4_0: return &RowsMAvx2<WType::kQ4_0>;
      case WType::kQ4_1: return &RowsMAvx2<WType::kQ4_1>;
      default: return nullptr;
    }
  }
  return nullptr;
}

#else  // !FVLM_HAVE_QUANT_X86

QuantRowsFn QuantRowsX86(WType, bool, bool, const char**) { return nullptr; }

#endif

}  // namespace fastvlm::kernels
