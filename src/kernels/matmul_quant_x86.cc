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
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/float16.h"
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
  bool avx2 = false, vnni = false, vbmi = false;
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
  f.vbmi = f.vnni && ((c >> 1) & 1);
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


// --- M = 1 (decode) on AVX-512 VNNI: 16 blocks per step, R weight rows sharing x ------------
//
// x is rearranged once per call (XGroup) so that one 512-bit vpdpbusd covers four blocks with
// four int32 lanes each:
//   Q4_0 / Q4_1: the 16 nibble bytes of blocks b..b+3 fill one zmm (four 128-bit loads); one AND
//                gives the low nibbles (elements 0..15), one shift + AND the high ones (16..31),
//                and x is stored as [x_b[0:16] x_b+1[0:16] ...] and [x_b[16:32] ...] to match.
//   Q8_0:        two blocks per zmm (w + 128 as u8); two dot vectors are folded by 128-bit lane
//                shuffles into the same four-lanes-per-block form.
// Four such vectors (16 blocks) are transposed and added into one vector of 16 exact block sums
// (lane 4j + k holds block 4k + j), the unsigned offset is removed in int32 (−128·Σx for Q8_0,
// −8·Σx for Q4_0: the same integer sums as the reference), and the f32 scaling d_w·d_x is done
// for 16 blocks at once (d_w by one gather of the 16 block headers).
struct alignas(64) XGroup {
  int8_t q[4][2][64];  // per 4-block subgroup: the two x vectors
  float dx[16];        // d_x, lane order
  int32_t off[16];     // −c·Σq_x (c = 128 for Q8_0, 8 for Q4_0, 0 for Q4_1)
  float dxs[16];       // d_x·Σq_x (the Q4_1 minimum term)
};

inline int LaneOfBlock(int r) { return 4 * (r % 4) + r / 4; }  // r: block within the group

template <WType T>
void PrepareX(const BlockQ8X* xq, int64_t nb, XGroup* g) {
  const int64_t ng = (nb + 15) / 16;
  std::memset(static_cast<void*>(g), 0, ng * sizeof(XGroup));
  const int c = T == WType::kQ8_0 ? 128 : T == WType::kQ4_0 ? 8 : 0;
  for (int64_t b = 0; b < nb; ++b) {
    XGroup& G = g[b / 16];
    const int r = static_cast<int>(b % 16), s = r / 4, j = r % 4, L = LaneOfBlock(r);
    if constexpr (T == WType::kQ8_0) {
      std::memcpy(G.q[s][j / 2] + (j % 2) * 32, xq[b].qs, 32);
    } else {
      std::memcpy(G.q[s][0] + j * 16, xq[b].qs, 16);
      std::memcpy(G.q[s][1] + j * 16, xq[b].qs + 16, 16);
    }
    G.dx[L] = xq[b].d;
    G.off[L] = -c * xq[b].sum;
    G.dxs[L] = xq[b].d * static_cast<float>(xq[b].sum);
  }
}

alignas(64) const uint8_t kZeroBlock[64] = {};

// One group of (up to, with kTail) 16 blocks of R rows; gp[r] points at the group's first block.
template <WType T, int R, bool kTail>
FVLM_TARGET_VNNI inline void GemvGroup(const XGroup& G, const uint8_t* const* gp, int rem,
                                       __mmask16 tail_mask, __m512i idx, __m512* acc,
                                       __m512* accm) {
  constexpr int64_t bb = T == WType::kQ8_0 ? 34 : T == WType::kQ4_0 ? 18 : 20;
  __m512i A[R][4];
  for (int s = 0; s < 4; ++s) {
    if (kTail && 4 * s >= rem) {
      for (int r = 0; r < R; ++r) A[r][s] = _mm512_setzero_si512();
      continue;
    }
    const __m512i x0 = _mm512_load_si512(G.q[s][0]), x1 = _mm512_load_si512(G.q[s][1]);
    for (int r = 0; r < R; ++r) {
      const uint8_t* p[4];
      for (int j = 0; j < 4; ++j) p[j] = gp[r] + (4 * s + j) * bb;
      if (kTail && 4 * s + 4 > rem) {  // the one partly filled subgroup: zeros past the row
        for (int j = rem - 4 * s; j < 4; ++j) p[j] = kZeroBlock;
      }
      if constexpr (T == WType::kQ8_0) {
        const __m512i sign = _mm512_set1_epi8(-128);
        const __m512i w01 = _mm512_xor_si512(
            _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[0] + 2))),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[1] + 2)), 1),
            sign);
        const __m512i w23 = _mm512_xor_si512(
            _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[2] + 2))),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[3] + 2)), 1),
            sign);
        const __m512i d01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w01, x0);
        const __m512i d23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w23, x1);
        A[r][s] = _mm512_add_epi32(_mm512_shuffle_i64x2(d01, d23, 0x88),
                                   _mm512_shuffle_i64x2(d01, d23, 0xDD));
      } else {
        constexpr int qo = T == WType::kQ4_1 ? 4 : 2;
        __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p[0] + qo)));
        q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[1] + qo)), 1);
        q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[2] + qo)), 2);
        q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p[3] + qo)), 3);
        const __m512i m4 = _mm512_set1_epi8(15);
        const __m512i lo = _mm512_and_si512(q, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        A[r][s] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x0), hi, x1);
      }
    }
  }
  const __m512 dx = _mm512_load_ps(G.dx);
  const __m512i off = _mm512_load_si512(G.off);
  for (int r = 0; r < R; ++r) {
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(A[r][0], A[r][1]),
                                       _mm512_unpackhi_epi32(A[r][0], A[r][1]));
    const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi32(A[r][2], A[r][3]),
                                       _mm512_unpackhi_epi32(A[r][2], A[r][3]));
    const __m512i isum = _mm512_add_epi32(
        off, _mm512_add_epi32(_mm512_unpacklo_epi64(t, u), _mm512_unpackhi_epi64(t, u)));
    const __m512i hdr = kTail ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), tail_mask, idx,
                                                            gp[r], 1)
                              : _mm512_i32gather_epi32(idx, gp[r], 1);
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hdr));
    acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(isum), acc[r]);
    if constexpr (T == WType::kQ4_1) {
      const __m512 dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hdr, 16)));
      accm[r] = _mm512_fmadd_ps(dm, _mm512_load_ps(G.dxs), accm[r]);
    }
  }
}

// Software prefetch distance (bytes ahead in the row stream, which runs on into the next rows).
// quant_bench at 2 threads: Q4_0 lm_head 2.54-2.84 ms without, 2.45-2.54 ms with 2 KiB; Q8_0
// got slower with any distance from 512 B to 4 KiB (4.6 → 5.9-7.2 ms), so it has none.
template <WType T>
inline constexpr int64_t kPrefetch = T == WType::kQ8_0 ? 0 : 2048;

template <WType T, int R>
FVLM_TARGET_VNNI void GemvRows(const XGroup* xg, const Matrix& w, int64_t n, const float* bias,
                               float* y, __m512i idx, __mmask16 tail_mask) {
  constexpr int64_t bb = T == WType::kQ8_0 ? 34 : T == WType::kQ4_0 ? 18 : 20;
  const int64_t nb = w.cols / kQBlock, ng = nb / 16;
  const int rem = static_cast<int>(nb % 16);
  const uint8_t* gp[R];
  __m512 acc[R], accm[R];
  for (int r = 0; r < R; ++r) {
    gp[r] = w.Row(n + r);
    acc[r] = accm[r] = _mm512_setzero_ps();
  }
  for (int64_t g = 0; g < ng; ++g) {
    if constexpr (kPrefetch<T> > 0) {
      for (int64_t o = 0; o < 16 * bb; o += 64)
        _mm_prefetch(reinterpret_cast<const char*>(gp[0] + kPrefetch<T> + o), _MM_HINT_T0);
    }
    GemvGroup<T, R, false>(xg[g], gp, 16, tail_mask, idx, acc, accm);
    for (int r = 0; r < R; ++r) gp[r] += 16 * bb;
  }
  if (rem) GemvGroup<T, R, true>(xg[ng], gp, rem, tail_mask, idx, acc, accm);
  for (int r = 0; r < R; ++r) {
    float s = _mm512_reduce_add_ps(acc[r]);
    if constexpr (T == WType::kQ4_1) s += _mm512_reduce_add_ps(accm[r]);
    y[n + r] = s + (bias ? bias[n + r] : 0.0f);
  }
}

// Rows are processed one at a time: one sequential weight stream per thread is what the hardware
// prefetcher follows best. Interleaving 2 or 4 rows (sharing the x loads) measured 1.3-3x slower
// on Zen 4 (quant_bench, lm_head 151936x896: Q8_0 8.2 / 19.3 / 22.7 ms for 1 / 2 / 4 rows on one
// thread), so GemvRows keeps R as a parameter but R = 1 is used.
constexpr int kGemvRows = 1;

template <WType T>
FVLM_TARGET_VNNI void GemvVnni(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1,
                               const float* bias, float* y) {
  constexpr int bb = T == WType::kQ8_0 ? 34 : T == WType::kQ4_0 ? 18 : 20;
  const int64_t nb = w.cols / kQBlock;
  static thread_local std::vector<XGroup> xbuf;
  const size_t ng = static_cast<size_t>((nb + 15) / 16);
  if (xbuf.size() < ng) xbuf.resize(ng);
  PrepareX<T>(xq, nb, xbuf.data());
  alignas(64) int32_t idx_a[16];
  __mmask16 tail_mask = 0;
  const int rem = static_cast<int>(nb % 16);
  for (int r = 0; r < 16; ++r) {
    const int L = LaneOfBlock(r);
    idx_a[L] = r * bb;
    if (r < rem) tail_mask = static_cast<__mmask16>(tail_mask | (1u << L));
  }
  const __m512i idx = _mm512_load_si512(idx_a);
  int64_t n = n0;
  for (; n < n1; n += kGemvRows) GemvRows<T, kGemvRows>(xbuf.data(), w, n, bias, y, idx, tail_mask);
}

// --- M = 1 with AVX-512 VBMI (Zen 4, Ice Lake and later): no gather, no 128-bit inserts --------
//
// The same 16-block groups, four-lanes-per-block dot products and transposition as GemvGroup, but
// the weights of a group are read with a few full-width loads (64-byte windows at 64-byte steps
// through the group's 288 / 544 bytes) and rearranged in registers: one vpermt2b per four Q4_0
// blocks (or per two Q8_0 blocks) picks their quant bytes out of two adjacent windows, and three
// or four vpermt2w + blends pick the 16 f16 scales into the lane order of the block sums. In L2,
// this runs Q4_0 ~1.5x faster than the gather + insert body (quant_bench ... hot).
#define FVLM_TARGET_VBMI                                                                  \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,avx512vbmi")))

template <WType T>
struct VbmiTables {
  static constexpr int kBB = T == WType::kQ8_0 ? 34 : 18;
  static constexpr int kPerm = T == WType::kQ8_0 ? 8 : 4;   // quant permutes per group
  static constexpr int kScaleSrc = T == WType::kQ8_0 ? 4 : 3;
  alignas(64) uint8_t quant[kPerm][64];
  alignas(64) uint16_t scale[kScaleSrc][32];
  __mmask32 scale_mask[kScaleSrc];  // lanes taken from source s (s >= 1)
  VbmiTables() {
    std::memset(static_cast<void*>(this), 0, sizeof(*this));
    if constexpr (T == WType::kQ4_0) {
      // Quad s (blocks 4s..4s+3, bytes 72s..72s+71) from windows s and s+1 (bytes 64s..64s+127).
      for (int q = 0; q < 4; ++q)
        for (int j = 0; j < 4; ++j)
          for (int k = 0; k < 16; ++k) quant[q][16 * j + k] = static_cast<uint8_t>(8 * q + 18 * j + 2 + k);
      // Scale of block r: word 9r of the group. Blocks 0..7 from windows 0-1, 8..14 from 2-3,
      // 15 from window 4.
      for (int r = 0; r < 16; ++r) {
        const int src = r < 8 ? 0 : r < 15 ? 1 : 2, L = LaneOfBlock(r);
        scale[src][L] = static_cast<uint16_t>(9 * r - 64 * (src == 0 ? 0 : src == 1 ? 1 : 2));
        if (src) scale_mask[src] |= 1u << L;
      }
    } else {
      // Pair p (blocks 2p, 2p+1, bytes 68p..68p+67) from windows p and p+1.
      for (int pr = 0; pr < 8; ++pr)
        for (int k = 0; k < 64; ++k)
          quant[pr][k] = static_cast<uint8_t>(4 * pr + (k < 32 ? 2 + k : 36 + (k - 32)));
      // Scale of block r: word 17r; blocks 4s..4s+3 from windows 2s, 2s+1.
      for (int r = 0; r < 16; ++r) {
        const int src = r / 4, L = LaneOfBlock(r);
        scale[src][L] = static_cast<uint16_t>(17 * r - 64 * src);
        if (src) scale_mask[src] |= 1u << L;
      }
    }
  }
};

// Loads window i of a group (64 bytes at 64i; the last one 32 bytes), zero past `bytes`.
template <bool kTail>
FVLM_TARGET_VBMI inline __m512i LoadWindow(const uint8_t* g, int i, int last, int64_t bytes) {
  if (!kTail) {
    return i < last ? _mm512_loadu_si512(g + 64 * i)
                    : _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 64 * i)));
  }
  const int64_t n = std::clamp<int64_t>(bytes - 64 * i, 0, 64);
  const __mmask64 m = n >= 64 ? ~__mmask64{0} : ((__mmask64{1} << n) - 1);
  return _mm512_maskz_loadu_epi8(m, g + 64 * i);
}

template <WType T, bool kTail>
FVLM_TARGET_VBMI inline void GemvGroupVbmi(const XGroup& G, const uint8_t* g, int rem,
                                           const VbmiTables<T>& tb, __m512& acc) {
  constexpr int bb = VbmiTables<T>::kBB;
  constexpr int nwin = T == WType::kQ8_0 ? 9 : 5;  // 544 = 8·64 + 32, 288 = 4·64 + 32
  const int64_t bytes = static_cast<int64_t>(kTail ? rem : 16) * bb;
  __m512i L[nwin];
  for (int i = 0; i < nwin; ++i) L[i] = LoadWindow<kTail>(g, i, nwin - 1, bytes);
  __m512i A[4];
  for (int s = 0; s < 4; ++s) {
    if (kTail && 4 * s >= rem) {
      A[s] = _mm512_setzero_si512();
      continue;
    }
    const __m512i x0 = _mm512_load_si512(G.q[s][0]), x1 = _mm512_load_si512(G.q[s][1]);
    if constexpr (T == WType::kQ8_0) {
      const __m512i sign = _mm512_set1_epi8(-128);
      const __m512i w01 = _mm512_xor_si512(
          _mm512_permutex2var_epi8(L[2 * s], _mm512_load_si512(tb.quant[2 * s]), L[2 * s + 1]), sign);
      const __m512i w23 = _mm512_xor_si512(
          _mm512_permutex2var_epi8(L[2 * s + 1], _mm512_load_si512(tb.quant[2 * s + 1]), L[2 * s + 2]),
          sign);
      const __m512i d01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w01, x0);
      const __m512i d23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w23, x1);
      A[s] = _mm512_add_epi32(_mm512_shuffle_i64x2(d01, d23, 0x88),
                              _mm512_shuffle_i64x2(d01, d23, 0xDD));
    } else {
      const __m512i q = _mm512_permutex2var_epi8(L[s], _mm512_load_si512(tb.quant[s]), L[s + 1]);
      const __m512i m4 = _mm512_set1_epi8(15);
      const __m512i lo = _mm512_and_si512(q, m4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
      A[s] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x0), hi, x1);
    }
  }
  // The 16 scales, in the lanes of the block sums below.
  __m512i sc;
  if constexpr (T == WType::kQ8_0) {
    sc = _mm512_permutex2var_epi16(L[0], _mm512_load_si512(tb.scale[0]), L[1]);
    for (int k = 1; k < 4; ++k)
      sc = _mm512_mask_blend_epi16(
          tb.scale_mask[k], sc,
          _mm512_permutex2var_epi16(L[2 * k], _mm512_load_si512(tb.scale[k]), L[2 * k + 1]));
  } else {
    sc = _mm512_permutex2var_epi16(L[0], _mm512_load_si512(tb.scale[0]), L[1]);
    sc = _mm512_mask_blend_epi16(
        tb.scale_mask[1], sc, _mm512_permutex2var_epi16(L[2], _mm512_load_si512(tb.scale[1]), L[3]));
    sc = _mm512_mask_blend_epi16(tb.scale_mask[2], sc,
                                 _mm512_permutexvar_epi16(_mm512_load_si512(tb.scale[2]), L[4]));
  }
  const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(sc));
  const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(A[0], A[1]), _mm512_unpackhi_epi32(A[0], A[1]));
  const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi32(A[2], A[3]), _mm512_unpackhi_epi32(A[2], A[3]));
  const __m512i isum = _mm512_add_epi32(
      _mm512_load_si512(G.off), _mm512_add_epi32(_mm512_unpacklo_epi64(t, u), _mm512_unpackhi_epi64(t, u)));
  acc = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_load_ps(G.dx)), _mm512_cvtepi32_ps(isum), acc);
}

template <WType T>
FVLM_TARGET_VBMI void GemvVbmi(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1,
                               const float* bias, float* y) {
  static const VbmiTables<T> tb;
  constexpr int bb = VbmiTables<T>::kBB;
  const int64_t nb = w.cols / kQBlock, ng = nb / 16;
  const int rem = static_cast<int>(nb % 16);
  static thread_local std::vector<XGroup> xbuf;
  const size_t ngx = static_cast<size_t>((nb + 15) / 16);
  if (xbuf.size() < ngx) xbuf.resize(ngx);
  if (nb < 16 && 16 % nb == 0) {
    // Short rows (fewer than 16 blocks, e.g. the demo model's d = 64: 2 blocks): the rows are
    // contiguous, so R = 16 / nb consecutive rows are exactly one 16-block group. x is repeated R
    // times in the group, and each row sums its nb lanes. One group per R rows instead of one
    // mostly empty tail group per row.
    const int R = static_cast<int>(16 / nb);
    BlockQ8X rep[16];
    for (int b = 0; b < 16; ++b) rep[b] = xq[b % nb];
    PrepareX<T>(rep, 16, xbuf.data());
    alignas(64) float v[16];
    for (int64_t n = n0; n < n1; n += R) {
      const int rows = static_cast<int>(std::min<int64_t>(R, n1 - n));
      __m512 acc = _mm512_setzero_ps();
      if (rows == R) {
        GemvGroupVbmi<T, false>(xbuf[0], w.Row(n), 16, tb, acc);
      } else {
        GemvGroupVbmi<T, true>(xbuf[0], w.Row(n), rows * static_cast<int>(nb), tb, acc);
      }
      _mm512_store_ps(v, acc);
      for (int i = 0; i < rows; ++i) {
        float s = 0.0f;
        for (int j = 0; j < nb; ++j) s += v[LaneOfBlock(i * static_cast<int>(nb) + j)];
        y[n + i] = s + (bias ? bias[n + i] : 0.0f);
      }
    }
    return;
  }
  PrepareX<T>(xq, nb, xbuf.data());
  const XGroup* xg = xbuf.data();
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* g = w.Row(n);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < ng; ++k, g += 16 * bb) {
      if constexpr (kPrefetch<T> > 0) {
        for (int64_t o = 0; o < 16 * bb; o += 64)
          _mm_prefetch(reinterpret_cast<const char*>(g + kPrefetch<T> + o), _MM_HINT_T0);
      }
      GemvGroupVbmi<T, false>(xg[k], g, 16, tb, acc);
    }
    if (rem) GemvGroupVbmi<T, true>(xg[ng], g, rem, tb, acc);
    y[n] = _mm512_reduce_add_ps(acc) + (bias ? bias[n] : 0.0f);
  }
}

template <WType T>
void RowsVbmiDispatch(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                      const float* bias, float* y, int64_t ldy) {
  if (M == 1) return GemvVbmi<T>(xq, w, n0, n1, bias, y);
  RowsMVnni<T>(xq, M, w, n0, n1, bias, y, ldy);
}

template <WType T>
void RowsVnniDispatch(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                      const float* bias, float* y, int64_t ldy) {
  if (M == 1) return GemvVnni<T>(xq, w, n0, n1, bias, y);
  RowsMVnni<T>(xq, M, w, n0, n1, bias, y, ldy);
}

// --- Prefill: block rows → the bf16 GEMM panel layout, with AVX-512 -------------------------
//
// A panel holds 16 rows as [K/2 pairs][16 rows][2 bf16]. Per block of 32 columns each row is
// dequantized in registers (exactly: q·d is exact in f32; Q4_1's (q·d) + m rounds twice, as ggml)
// and rounded to bf16 pairs (vcvtne2ps2bf16: round to nearest even, as F32ToBF16), which gives
// 16 words of 32 bits per row; the 16×16 block of words is then transposed through a small buffer.
#define FVLM_TARGET_BF16X __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16")))

template <WType T>
FVLM_TARGET_BF16X inline __m512i DequantBlockBF16(const uint8_t* blk) {
  uint16_t dh;
  std::memcpy(&dh, blk, 2);
  const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
  __m512 lo, hi;
  if constexpr (T == WType::kQ8_0) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
    hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
  } else {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + (T == WType::kQ4_1 ? 4 : 2)));
    const __m128i m4 = _mm_set1_epi8(15);
    __m512i l = _mm512_cvtepu8_epi32(_mm_and_si128(q, m4));
    __m512i h = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m4));
    if constexpr (T == WType::kQ4_0) {
      l = _mm512_sub_epi32(l, _mm512_set1_epi32(8));
      h = _mm512_sub_epi32(h, _mm512_set1_epi32(8));
    }
    lo = _mm512_cvtepi32_ps(l);
    hi = _mm512_cvtepi32_ps(h);
  }
  lo = _mm512_mul_ps(lo, d);
  hi = _mm512_mul_ps(hi, d);
  if constexpr (T == WType::kQ4_1) {
    uint16_t mh;
    std::memcpy(&mh, blk + 2, 2);
    const __m512 m = _mm512_set1_ps(_cvtsh_ss(mh));
    lo = _mm512_add_ps(lo, m);
    hi = _mm512_add_ps(hi, m);
  }
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // [bf(k=0..15), bf(k=16..31)]
}

template <WType T>
FVLM_TARGET_BF16X void PackBlockRowsBF16Impl(const Matrix& w, int64_t n0, int64_t n, uint32_t* dst) {
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(T), kp_n = w.cols / 2;
  const int64_t panels = (n + kPackPanel - 1) / kPackPanel;
  alignas(64) uint32_t tile[16][16];
  for (int64_t p = 0; p < panels; ++p) {
    uint32_t* out = dst + p * kp_n * kPackPanel;
    const int rows = static_cast<int>(std::min<int64_t>(kPackPanel, n - p * kPackPanel));
    for (int64_t b = 0; b < nb; ++b) {
      for (int j = 0; j < 16; ++j) {
        const __m512i v = j < rows ? DequantBlockBF16<T>(w.Row(n0 + p * kPackPanel + j) + b * bb)
                                   : _mm512_setzero_si512();
        _mm512_store_si512(tile[j], v);
      }
      // Word i of row j (the pair of columns 32b + 2i, 32b + 2i + 1) → out[(16b + i)·16 + j].
      uint32_t* o = out + b * 16 * kPackPanel;
      for (int i = 0; i < 16; ++i) {
        const __m512i idx = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176,
                                              192, 208, 224, 240);
        _mm512_storeu_si512(o + i * kPackPanel, _mm512_i32gather_epi32(idx, &tile[0][i], 4));
      }
    }
  }
}

// --- Prefill with int8 activations: the AVX-512 VNNI GEMM -------------------------------------
//
// Panels: PackInt8Panels' layout with unsigned levels (Q8_0 q + 128, Q4_0 / Q4_1 the nibble).
// x: BlockQ8X rows. Per row i and block b, the 16 int32 lanes start at −off·Σq_x (off 128 / 8 /
// 0), take 8 vpdpbusd with x's 4-byte groups broadcast, and are then exact Σ q_w·q_x; y +=
// (d_w·d_x)·isum (+ m·(d_x·Σq_x) for Q4_1): the terms of the decode bodies, summed in a
// different order.
constexpr int64_t kI8BlockBytes = kInt8PanelBlockBytes;

// MR rows of x (xq: row i at xq + i·nb) against one panel; y rows at y + i·ldy, `cols` valid
// outputs.
template <WType T, int MR>
FVLM_TARGET_VNNI void Int8Tile(const BlockQ8X* xq, int64_t nb, const uint8_t* panel,
                               const float* bias, float* y, int64_t ldy, int cols) {
  constexpr int32_t off = T == WType::kQ8_0 ? 128 : T == WType::kQ4_0 ? 8 : 0;
  __m512 acc[MR];
  for (int i = 0; i < MR; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = panel + b * kI8BlockBytes;
    __m512i w[8];
    for (int g = 0; g < 8; ++g) w[g] = _mm512_load_si512(pb + 64 * g);
    const __m512 dw = _mm512_load_ps(pb + 512);
    for (int i = 0; i < MR; ++i) {
      const BlockQ8X& xb = xq[i * nb + b];
      const int32_t* xd = reinterpret_cast<const int32_t*>(xb.qs);
      __m512i s = _mm512_set1_epi32(-off * xb.sum);
      for (int g = 0; g < 8; ++g) s = _mm512_dpbusd_epi32(s, w[g], _mm512_set1_epi32(xd[g]));
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(xb.d)),
                               acc[i]);
      if constexpr (T == WType::kQ4_1) {
        acc[i] = _mm512_fmadd_ps(_mm512_load_ps(pb + 576),
                                 _mm512_set1_ps(xb.d * static_cast<float>(xb.sum)), acc[i]);
      }
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy, mask, _mm512_add_ps(acc[i], bv));
}

template <WType T>
void Int8Panels(const BlockQ8X* xq, int64_t M, int64_t K, const uint8_t* panels, int64_t n,
                const float* bias, float* y, int64_t ldy) {
  const int64_t nb = K / kQBlock;
  constexpr int kMR = 8;
  for (int64_t p = 0; p * 16 < n; ++p) {
    const uint8_t* panel = panels + p * nb * kI8BlockBytes;
    const int cols = static_cast<int>(std::min<int64_t>(16, n - p * 16));
    const float* bp = bias ? bias + p * 16 : nullptr;
    float* yp = y + p * 16;
    int64_t m = 0;
    for (; m + kMR <= M; m += kMR)
      Int8Tile<T, kMR>(xq + m * nb, nb, panel, bp, yp + m * ldy, ldy, cols);
    const BlockQ8X* xr = xq + m * nb;
    float* yr = yp + m * ldy;
    switch (M - m) {
      case 0: break;
      case 1: Int8Tile<T, 1>(xr, nb, panel, bp, yr, ldy, cols); break;
      case 2: Int8Tile<T, 2>(xr, nb, panel, bp, yr, ldy, cols); break;
      case 3: Int8Tile<T, 3>(xr, nb, panel, bp, yr, ldy, cols); break;
      case 4: Int8Tile<T, 4>(xr, nb, panel, bp, yr, ldy, cols); break;
      case 5: Int8Tile<T, 5>(xr, nb, panel, bp, yr, ldy, cols); break;
      case 6: Int8Tile<T, 6>(xr, nb, panel, bp, yr, ldy, cols); break;
      default: Int8Tile<T, 7>(xr, nb, panel, bp, yr, ldy, cols); break;
    }
  }
}

// --- Prefill with int8 activations on AMX-INT8 tiles (Sapphire Rapids and later) -------------
//
// The panels with signed levels (Q8_0 q, Q4_0 q − 8, Q4_1 q): a block's 8 k-groups × 16 rows ×
// 4 levels are exactly a B tile of 8 rows × 64 bytes, and 16 rows of x's block b (32 levels at
// stride nb·40 bytes) an A tile, so one tdpbssd gives the 16 × 16 exact sums Σ q_w·q_x of one
// block (the offsets of the VNNI body are not needed: both operands are signed). Each block's
// sums are scaled before the next block's are added, as Int8Tile does, so the tile is stored to
// a buffer and scaled there: the tiles of block b + 1 are issued before block b's buffer is
// read, so the tile unit and the vector unit overlap. The f32 arithmetic is Int8Tile's
// operation for operation, hence y is the VNNI body's bit for bit. x must have whole tiles of
// 16 rows (rows past M zero); y gets rows [0, M).
#define FVLM_TARGET_AMX_INT8 \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,amx-tile,amx-int8")))

}  // namespace
void AmxConfigureInt8Block32();  // gemm_packed_bf16_x86.cc
void AmxRelease();
namespace {

// The tiles run one instruction at a time, each at about one tile row per cycle (measured on
// the Xeon: a 16-row load, store or tdpbssd ~16 cycles), so they are blocked 2 × 2: per block,
// x tiles 4-5 (32 rows) and weight tiles 6-7 (32 columns) feed 4 products into tiles 0-3, 48
// row-loads and 64 row-stores per 4 products instead of 96 and 64 one at a time. The sums of
// block b + kAmxAhead are issued before block b's are scaled (ring of kAmxSlots), so the vector
// unit scales while the tile unit runs.
constexpr int kAmxSlots = 4, kAmxAhead = 2;
using AmxSums = int32_t[4][16][16];  // one block: [2·x tile + weight tile][row][column]

template <int MT, int NT>
FVLM_TARGET_AMX_INT8 inline void AmxIssueBlock(const BlockQ8X* xr, int64_t xstride,
                                               const uint8_t* w0, int64_t panel_bytes, int64_t b,
                                               AmxSums& c) {
  const uint8_t* wb = w0 + b * kI8BlockBytes;
  const int64_t x1 = 16 * xstride;  // bytes from x tile 0 to x tile 1
  _tile_loadd(4, xr[b].qs, xstride);
  if constexpr (MT == 2) _tile_loadd(5, xr[b].qs + x1, xstride);
  _tile_loadd(6, wb, 64);
  if constexpr (NT == 2) _tile_loadd(7, wb + panel_bytes, 64);
  _tile_zero(0);
  _tile_dpbssd(0, 4, 6);
  _tile_stored(0, c[0], 64);
  if constexpr (NT == 2) {
    _tile_zero(1);
    _tile_dpbssd(1, 4, 7);
    _tile_stored(1, c[1], 64);
  }
  if constexpr (MT == 2) {
    _tile_zero(2);
    _tile_dpbssd(2, 5, 6);
    _tile_stored(2, c[2], 64);
  }
  if constexpr (MT == 2 && NT == 2) {
    _tile_zero(3);
    _tile_dpbssd(3, 5, 7);
    _tile_stored(3, c[3], 64);
  }
}

// acc[16 rows][16 columns] += block b's sums c scaled, as Int8Tile does it.
template <WType T>
FVLM_TARGET_AMX_INT8 inline void AmxScaleBlock(const int32_t (*c)[16], const BlockQ8X* xr,
                                               int64_t nb, int64_t b, const uint8_t* pb,
                                               float* acc, int64_t lda) {
  const __m512 dw = _mm512_load_ps(pb + 512);
  for (int r = 0; r < 16; ++r) {
    const BlockQ8X& xb = xr[r * nb + b];
    float* a = acc + r * lda;
    __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[r])),
                               _mm512_mul_ps(dw, _mm512_set1_ps(xb.d)), _mm512_load_ps(a));
    if constexpr (T == WType::kQ4_1) {
      v = _mm512_fmadd_ps(_mm512_load_ps(pb + 576), _mm512_set1_ps(xb.d * static_cast<float>(xb.sum)),
                          v);
    }
    _mm512_store_ps(a, v);
  }
}

// Rows [m0, m0 + 16·MT) of x against panels [p, p + NT).
template <WType T, int MT, int NT>
FVLM_TARGET_AMX_INT8 void AmxBlock2x2(const BlockQ8X* xq, int64_t M, int64_t nb, int64_t m0,
                                      const uint8_t* panels, int64_t p, int64_t n,
                                      const float* bias, float* y, int64_t ldy, AmxSums* ring) {
  const int64_t xstride = nb * static_cast<int64_t>(sizeof(BlockQ8X));
  const int64_t panel_bytes = nb * kI8BlockBytes;
  const BlockQ8X* xr = xq + m0 * nb;
  const uint8_t* w0 = panels + p * panel_bytes;
  alignas(64) float acc[32][32];
  for (int r = 0; r < 16 * MT; ++r)
    for (int j = 0; j < 16 * NT; j += 16) _mm512_store_ps(&acc[r][j], _mm512_setzero_ps());
  for (int64_t b = 0; b < std::min<int64_t>(kAmxAhead, nb); ++b)
    AmxIssueBlock<MT, NT>(xr, xstride, w0, panel_bytes, b, ring[b % kAmxSlots]);
  for (int64_t b = 0; b < nb; ++b) {
    if (b + kAmxAhead < nb)
      AmxIssueBlock<MT, NT>(xr, xstride, w0, panel_bytes, b + kAmxAhead,
                            ring[(b + kAmxAhead) % kAmxSlots]);
    const AmxSums& c = ring[b % kAmxSlots];
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NT; ++j)
        AmxScaleBlock<T>(c[2 * i + j], xr + 16 * i * nb, nb, b,
                         w0 + j * panel_bytes + b * kI8BlockBytes, &acc[16 * i][16 * j], 32);
  }
  for (int j = 0; j < NT; ++j) {
    const int64_t col = (p + j) * 16;
    const int cols = static_cast<int>(std::min<int64_t>(16, n - col));
    const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
    const int rows = static_cast<int>(std::min<int64_t>(16 * MT, M - m0));
    for (int r = 0; r < rows; ++r)
      _mm512_mask_storeu_ps(y + (m0 + r) * ldy + col, mask,
                            _mm512_add_ps(_mm512_load_ps(&acc[r][16 * j]), bv));
  }
}

template <WType T>
FVLM_TARGET_AMX_INT8 void Int8PanelsAmx(const BlockQ8X* xq, int64_t M, int64_t K,
                                        const uint8_t* panels, int64_t n, const float* bias,
                                        float* y, int64_t ldy) {
  const int64_t nb = K / kQBlock, np = (n + 15) / 16;
  alignas(64) AmxSums ring[kAmxSlots];
  AmxConfigureInt8Block32();
  for (int64_t m0 = 0; m0 < M; m0 += 32) {
    const bool two_x = M - m0 > 16;
    for (int64_t p = 0; p < np; p += 2) {
      const bool two_w = np - p >= 2;
      if (two_x && two_w) AmxBlock2x2<T, 2, 2>(xq, M, nb, m0, panels, p, n, bias, y, ldy, ring);
      else if (two_x) AmxBlock2x2<T, 2, 1>(xq, M, nb, m0, panels, p, n, bias, y, ldy, ring);
      else if (two_w) AmxBlock2x2<T, 1, 2>(xq, M, nb, m0, panels, p, n, bias, y, ldy, ring);
      else AmxBlock2x2<T, 1, 1>(xq, M, nb, m0, panels, p, n, bias, y, ldy, ring);
    }
  }
  AmxRelease();
}

// QuantizeRowQ8X with AVX-512, bit for bit: the same amax, d = amax / 127, id = 1 / d, q =
// round-half-away(x·id) (truncate, then step away from zero when the exact remainder is ≥ 0.5),
// clamped to ±127.
FVLM_TARGET_VNNI void QuantizeRowQ8XAvx512(const float* x, int64_t K, BlockQ8X* out) {
  const __m512i sign = _mm512_set1_epi32(static_cast<int32_t>(0x80000000u));
  const __m512i one = _mm512_castps_si512(_mm512_set1_ps(1.0f));
  for (int64_t b = 0; b < K / kQBlock; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    if (!(amax >= 127.0f * 1.17549435e-38f)) amax = 0.0f;  // as the scalar: 1/d would overflow
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 idv = _mm512_set1_ps(id);
    __m512i q[2];
    const __m512 vs[2] = {v0, v1};
    for (int h = 0; h < 2; ++h) {
      const __m512 t = _mm512_mul_ps(vs[h], idv);
      const __m512 tr = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m512 rem = _mm512_abs_ps(_mm512_sub_ps(t, tr));  // exact
      const __mmask16 up = _mm512_cmp_ps_mask(rem, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
      const __m512 step = _mm512_castsi512_ps(
          _mm512_or_si512(one, _mm512_and_si512(_mm512_castps_si512(t), sign)));  // ±1
      const __m512 r = _mm512_mask_add_ps(tr, up, tr, step);
      const __m512 rn = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r, r, _CMP_ORD_Q), r);  // NaN → 0
      const __m512 c = _mm512_min_ps(_mm512_max_ps(rn, _mm512_set1_ps(-127.0f)),
                                     _mm512_set1_ps(127.0f));
      q[h] = _mm512_cvttps_epi32(c);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs), _mm512_cvtepi32_epi8(q[0]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16), _mm512_cvtepi32_epi8(q[1]));
    out[b].d = d;
    out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
  }
}

}  // namespace

bool HasInt8PrefillX86() { return Cpu().vnni; }

void GemmInt8X86(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy, bool amx) {
  const auto* p = static_cast<const uint8_t*>(panels);
  if (amx) {
    switch (t) {
      case WType::kQ8_0: return Int8PanelsAmx<WType::kQ8_0>(xq, M, K, p, n, bias, y, ldy);
      case WType::kQ4_0: return Int8PanelsAmx<WType::kQ4_0>(xq, M, K, p, n, bias, y, ldy);
      case WType::kQ4_1: return Int8PanelsAmx<WType::kQ4_1>(xq, M, K, p, n, bias, y, ldy);
      default: CHECK(false);
    }
  }
  switch (t) {
    case WType::kQ8_0: return Int8Panels<WType::kQ8_0>(xq, M, K, p, n, bias, y, ldy);
    case WType::kQ4_0: return Int8Panels<WType::kQ4_0>(xq, M, K, p, n, bias, y, ldy);
    case WType::kQ4_1: return Int8Panels<WType::kQ4_1>(xq, M, K, p, n, bias, y, ldy);
    default: CHECK(false);
  }
}

// --- M = 1 on decode panels (ops.h PackDecodePanels) ---------------------------------------
//
// Per 64-row group and block: the 8 dwords of x broadcast once, then for each 16-row sub-panel
// 8 vpdpbusd (Q4_0: on the low / high nibbles of 4 loads; Q8_0: on 8 loads of q + 128) into two
// chains, started at −8·Σx / −128·Σx, and y += (d_w·d_x)·isum per lane: QuantRowsRef's sum in
// QuantRowsRef's order (a product, a product, an add; no FMA), so y is bit-identical.
#define FVLM_TARGET_PANELS                                                                \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"),           \
                 optimize("fp-contract=off")))

// Each thread streams one contiguous run of panels; the blocks 8 KB ahead are asked into L2.
// On the 2-core Xeon (Emerald Rapids) VM the hardware prefetchers alone left Q4_0 decode at
// 84 tokens/s against 114 with this (docs/quantization.md, session 10): the kernel's port
// pressure leaves too few misses in flight. A prefetch past the range's end is harmless.
constexpr int64_t kPanelPrefetchBytes = 8192;

template <WType T>
FVLM_TARGET_PANELS void GemvPanelsT(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1,
                                    const float* bias, float* y) {
  constexpr bool kQ8 = T == WType::kQ8_0;
  constexpr int64_t pb = kQ8 ? 544 : 288;
  const int64_t nb = w.cols / kQBlock;
  const uint8_t* panels = static_cast<const uint8_t*>(w.panels);
  const __m512i m4 = _mm512_set1_epi8(15);
  for (int64_t g = n0 / 64; g < n1 / 64; ++g) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    const uint8_t* blk = panels + g * nb * 4 * pb;
    for (int64_t b = 0; b < nb; ++b, blk += 4 * pb) {
      for (int64_t l = 0; l < 4 * pb; l += 64)
        _mm_prefetch(reinterpret_cast<const char*>(blk + kPanelPrefetchBytes + l), _MM_HINT_T1);
      const BlockQ8X& x = xq[b];
      __m512i xv[8];
      for (int k = 0; k < 8; ++k) {
        int32_t v;
        std::memcpy(&v, x.qs + 4 * k, 4);
        xv[k] = _mm512_set1_epi32(v);
      }
      const __m512i off = _mm512_set1_epi32((kQ8 ? -128 : -8) * x.sum);
      const __m512 dx = _mm512_set1_ps(x.d);
      for (int i = 0; i < 4; ++i) {
        const uint8_t* qv = blk + i * (pb - 32);
        __m512i a0 = off, a1 = _mm512_setzero_si512();
        if constexpr (kQ8) {
          for (int k = 0; k < 8; k += 2) {
            a0 = _mm512_dpbusd_epi32(a0, _mm512_load_si512(qv + 64 * k), xv[k]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_load_si512(qv + 64 * k + 64), xv[k + 1]);
          }
        } else {
          // High nibbles stay in place (16·h, still a valid u8), so a1 = 16·Σ h·x exactly and
          // one arithmetic shift per sub-panel replaces a shift per load (Intel runs 512-bit
          // shifts and vpdpbusd on the same port).
          for (int j = 0; j < 4; ++j) {
            const __m512i q = _mm512_load_si512(qv + 64 * j);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(q, m4), xv[2 * j]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_andnot_si512(m4, q), xv[2 * j + 1]);
          }
          a1 = _mm512_srai_epi32(a1, 4);
        }
        const __m512 dw =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + 4 * (pb - 32) + 32 * i)));
        const __m512 isum = _mm512_cvtepi32_ps(_mm512_add_epi32(a0, a1));
        acc[i] = _mm512_add_ps(acc[i], _mm512_mul_ps(_mm512_mul_ps(dw, dx), isum));
      }
    }
    for (int i = 0; i < 4; ++i) {
      float* out = y + g * 64 + 16 * i;
      __m512 v = acc[i];
      if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + g * 64 + 16 * i));
      _mm512_storeu_ps(out, v);
    }
  }
}

void GemvPanelsX86(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1, const float* bias,
                   float* y) {
  CHECK(w.panels != nullptr && n0 % 64 == 0 && n1 % 64 == 0);
  if (w.type == WType::kQ8_0) return GemvPanelsT<WType::kQ8_0>(xq, w, n0, n1, bias, y);
  CHECK(w.type == WType::kQ4_0);
  GemvPanelsT<WType::kQ4_0>(xq, w, n0, n1, bias, y);
}

bool QuantizeRowQ8XX86(const float* x, int64_t K, BlockQ8X* out) {
  if (!Cpu().vnni) return false;
  QuantizeRowQ8XAvx512(x, K, out);
  return true;
}

QuantRowsFn QuantRowsX86(WType t, bool allow_avx512, bool allow_avx2, bool allow_vbmi,
                         const char** name) {
  const CpuFeatures& f = Cpu();
  if (allow_avx512 && allow_vbmi && f.vbmi && (t == WType::kQ8_0 || t == WType::kQ4_0)) {
    *name = "avx512vbmi";
    return t == WType::kQ8_0 ? &RowsVbmiDispatch<WType::kQ8_0> : &RowsVbmiDispatch<WType::kQ4_0>;
  }
  if (allow_avx512 && f.vnni) {
    *name = "avx512vnni";
    switch (t) {
      case WType::kQ8_0: return &RowsVnniDispatch<WType::kQ8_0>;
      case WType::kQ4_0: return &RowsVnniDispatch<WType::kQ4_0>;
      case WType::kQ4_1: return &RowsVnniDispatch<WType::kQ4_1>;
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

bool PackBlockRowsBF16X86(const Matrix& w, int64_t n0, int64_t n, void* dst) {
  auto* out = static_cast<uint32_t*>(dst);
  switch (w.type) {
    case WType::kQ8_0: PackBlockRowsBF16Impl<WType::kQ8_0>(w, n0, n, out); return true;
    case WType::kQ4_0: PackBlockRowsBF16Impl<WType::kQ4_0>(w, n0, n, out); return true;
    case WType::kQ4_1: PackBlockRowsBF16Impl<WType::kQ4_1>(w, n0, n, out); return true;
    default: return false;
  }
}

#else  // !FVLM_HAVE_QUANT_X86

QuantRowsFn QuantRowsX86(WType, bool, bool, bool, const char**) { return nullptr; }
bool PackBlockRowsBF16X86(const Matrix&, int64_t, int64_t, void*) { return false; }
bool HasInt8PrefillX86() { return false; }
void GemmInt8X86(WType, const BlockQ8X*, int64_t, int64_t, const void*, int64_t, const float*,
                 float*, int64_t, bool) {
  CHECK(false);
}
bool QuantizeRowQ8XX86(const float*, int64_t, BlockQ8X*) { return false; }
void GemvPanelsX86(const BlockQ8X*, const Matrix&, int64_t, int64_t, const float*, float*) {
  CHECK(false);
}

#endif

}  // namespace fastvlm::kernels
