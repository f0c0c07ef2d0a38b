// GemmPacked for bf16 weights with the AVX512-BF16 dot product (vdpbf16ps). x is rounded to bf16
// once per call into the caller's scratch, row-major, so a k-pair of one row is one 32-bit
// broadcast; the packed weights hold the matching pairs for 16 outputs per 64-byte vector.
// Highway 1.0.3 has no op for this instruction (DESIGN.md "Toolchain facts"): intrinsics behind
// the same CPU check as matmul_bf16_x86.cc. Only plain C data crosses into the target-attributed
// functions.
#include <algorithm>
#include <cstdint>

#include "base/float16.h"
#include "kernels/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FVLM_HAVE_GEMM_BF16 1
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#else
#define FVLM_HAVE_GEMM_BF16 0
#endif

namespace fastvlm::kernels {

void GemmEpilogueTile(const float* t, int64_t ldt, int64_t rows, int64_t ncols, int64_t m0,
                      int64_t n0, const GemmEpilogue& ep, float* y, int64_t ldy);

#if FVLM_HAVE_GEMM_BF16
namespace {

#define FVLM_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Rows [0, M) of x to bf16 pairs: out row m holds kp_n 32-bit pairs (odd K: upper half 0).
FVLM_TARGET_BF16 void RowsToBF16(const float* x, int64_t ldx, int64_t M, int64_t K,
                                 uint16_t* out) {
  const int64_t stride = (K + 1) / 2 * 2;
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * ldx;
    uint16_t* o = out + m * stride;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512 lo = _mm512_loadu_ps(xr + k), hi = _mm512_loadu_ps(xr + k + 16);
      _mm512_storeu_si512(o + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (; k < K; ++k) o[k] = F32ToBF16(xr[k]);
    if (K & 1) o[K] = 0;
  }
}

constexpr int kMR = 6;  // rows of x per tile
constexpr int kNP = 4;  // panels of 16 outputs per tile: 24 accumulators

template <int NP>
FVLM_TARGET_BF16 void Tile(const uint32_t* xb, int64_t kp_n, int64_t m0, int mr,
                           const uint8_t* panels, int64_t panel_bytes, float* t) {
  __m512 acc[kMR][NP];
  for (int i = 0; i < kMR; ++i)
    for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
  const uint32_t* xr[kMR];
  for (int i = 0; i < kMR; ++i) xr[i] = xb + (m0 + std::min(i, mr - 1)) * kp_n;
  const uint32_t* wp[NP];
  for (int p = 0; p < NP; ++p) wp[p] = reinterpret_cast<const uint32_t*>(panels + p * panel_bytes);
  for (int64_t kp = 0; kp < kp_n; ++kp) {
    __m512bh wv[NP];
    for (int p = 0; p < NP; ++p) wv[p] = (__m512bh)_mm512_loadu_si512(wp[p] + kp * 16);
    for (int i = 0; i < kMR; ++i) {
      const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(xr[i][kp]));
      for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_dpbf16_ps(acc[i][p], wv[p], b);
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int p = 0; p < NP; ++p) _mm512_storeu_ps(t + i * (kNP * 16) + p * 16, acc[i][p]);
}

}  // namespace

bool HasBF16DotProduct();

bool GemmPackedBF16DotProduct(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                              const GemmEpilogue& ep, float* y, int64_t ldy, void* scratch) {
  if (!HasBF16DotProduct() || w.type != WType::kBF16) return false;
  const int64_t N = w.rows, K = w.cols, kp_n = (K + 1) / 2;
  const int64_t panels = (N + kPackPanel - 1) / kPackPanel, pb = w.PanelBytes();
  auto* xb = static_cast<uint16_t*>(scratch);
  RowsToBF16(x, ldx, M, K, xb);
  const auto* xp = reinterpret_cast<const uint32_t*>(xb);
  const auto* wbase = static_cast<const uint8_t*>(w.data);
  alignas(64) float t[kMR * kNP * 16];
  // Column blocks of 4 panels (K·128 bytes, L2-resident) outermost, row tiles inside.
  for (int64_t p0 = 0; p0 < panels; p0 += kNP) {
    const int np = static_cast<int>(std::min<int64_t>(kNP, panels - p0));
    const uint8_t* panel = wbase + p0 * pb;
    const int64_t n0 = p0 * kPackPanel, ncols = std::min<int64_t>(np * kPackPanel, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += kMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kMR, M - m0));
      switch (np) {
        case 1: Tile<1>(xp, kp_n, m0, mr, panel, pb, t); break;
        case 2: Tile<2>(xp, kp_n, m0, mr, panel, pb, t); break;
        case 3: Tile<3>(xp, kp_n, m0, mr, panel, pb, t); break;
        default: Tile<4>(xp, kp_n, m0, mr, panel, pb, t); break;
      }
      GemmEpilogueTile(t, kNP * 16, mr, ncols, m0, n0, ep, y, ldy);
    }
  }
  return true;
}

#else

bool GemmPackedBF16DotProduct(const float*, int64_t, int64_t, const PackedMatrix&,
                              const GemmEpilogue&, float*, int64_t, void*) {
  return false;
}

#endif

}  // namespace fastvlm::kernels
