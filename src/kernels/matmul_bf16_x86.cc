// MatMul for bf16 weights with the AVX512-BF16 dot product (vdpbf16ps): x is rounded to bf16
// once per call (as a bf16 reference implementation computes), products are exact in f32 and
// accumulate in f32. Highway 1.0.3 has no op for this instruction (DESIGN.md "Toolchain facts"),
// so the body uses intrinsics behind a CPU-feature check. Only plain C data crosses into the
// target-attributed functions, so no std:: template is instantiated with AVX-512 code.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FVLM_HAVE_BF16_KERNEL 1
// GCC 12's avx512fintrin.h trips these on its own _mm512_undefined_* helpers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <cpuid.h>
#include <immintrin.h>
#else
#define FVLM_HAVE_BF16_KERNEL 0
#endif

namespace fastvlm::kernels {

bool HasBF16DotProduct();

#if FVLM_HAVE_BF16_KERNEL
namespace {

bool DetectAvx512Bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  if (!avx512f || !avx512bw || !avx512vl) return false;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  const bool bf16 = (a >> 5) & 1;
  // The OS must save the ZMM state (XCR0 bits 5..7 and 1..2).
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  return bf16 && (xcr0_lo & 0xe6) == 0xe6;
}

#define FVLM_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// f32 -> bf16 (round to nearest even) for one row of K values.
FVLM_TARGET_BF16 void RowToBF16(const float* x, int64_t K, uint16_t* out) {
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512 lo = _mm512_loadu_ps(x + k), hi = _mm512_loadu_ps(x + k + 16);
    _mm512_storeu_si512(out + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  for (; k < K; ++k) out[k] = F32ToBF16(x[k]);
}

FVLM_TARGET_BF16 inline __m512bh LoadBH(const uint16_t* p, __mmask32 mask) {
  return (__m512bh)_mm512_maskz_loadu_epi16(mask, p);
}

// Tile of MR x rows by NR weight rows; K split in steps of 32 bf16 (16 pairs).
template <int MR, int NR>
FVLM_TARGET_BF16 void TileBF16(const uint16_t* xb, int64_t K, const uint16_t* const* wrows,
                               float* y, int64_t ldy, const float* bias, int64_t n0) {
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    const __mmask32 mask = K - k >= 32 ? ~0u : ((1u << (K - k)) - 1u);
    __m512bh xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = LoadBH(xb + i * K + k, mask);
    for (int j = 0; j < NR; ++j) {
      const __m512bh wv = LoadBH(wrows[j] + k, mask);
      for (int i = 0; i < MR; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv[i], wv);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      y[i * ldy + n0 + j] = _mm512_reduce_add_ps(acc[i][j]) + (bias ? bias[n0 + j] : 0.0f);
}

FVLM_TARGET_BF16 void BlockBF16(const uint16_t* xb, int64_t M, int64_t K, const uint16_t* w,
                                int64_t n_begin, int64_t n_end, const float* bias, float* y,
                                int64_t ldy) {
  const uint16_t* rows[4];
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    int64_t n = n_begin;
    for (; n + 4 <= n_end; n += 4) {
      for (int j = 0; j < 4; ++j) rows[j] = w + (n + j) * K;
      TileBF16<4, 4>(xb + m * K, K, rows, y + m * ldy, ldy, bias, n);
    }
    for (; n < n_end; ++n) {
      rows[0] = w + n * K;
      TileBF16<4, 1>(xb + m * K, K, rows, y + m * ldy, ldy, bias, n);
    }
  }
  for (; m < M; ++m) {
    int64_t n = n_begin;
    for (; n + 4 <= n_end; n += 4) {
      for (int j = 0; j < 4; ++j) rows[j] = w + (n + j) * K;
      TileBF16<1, 4>(xb + m * K, K, rows, y + m * ldy, ldy, bias, n);
    }
    for (; n < n_end; ++n) {
      rows[0] = w + n * K;
      TileBF16<1, 1>(xb + m * K, K, rows, y + m * ldy, ldy, bias, n);
    }
  }
}

}  // namespace

bool CpuHasAvx512Bf16() {
  static const bool has = DetectAvx512Bf16();
  return has;
}

bool MatMulBF16DotProduct(const float* x, int64_t ldx, int64_t M, const Matrix& w,
                          const float* bias, float* y, int64_t ldy, ThreadPool& pool) {
  if (!HasBF16DotProduct() || w.type != WType::kBF16) return false;
  const int64_t K = w.cols, N = w.rows;
  // Grows to the largest prefill once, then reused: no steady-state allocation.
  static thread_local std::vector<uint16_t> xb;
  if (static_cast<int64_t>(xb.size()) < M * K) xb.resize(M * K);
  uint16_t* xbp = xb.data();
  pool.Run(M, [&](int64_t m, int) { RowToBF16(x + m * ldx, K, xbp + m * K); });
  const auto* wp = static_cast<const uint16_t*>(w.data);
  constexpr int64_t kNB = 64;
  pool.Run((N + kNB - 1) / kNB, [&](int64_t b, int) {
    const int64_t n0 = b * kNB, n1 = std::min(N, n0 + kNB);
    BlockBF16(xbp, M, K, wp, n0, n1, bias, y, ldy);
  });
  return true;
}

#else  // !FVLM_HAVE_BF16_KERNEL

bool CpuHasAvx512Bf16() { return false; }
bool MatMulBF16DotProduct(const float*, int64_t, int64_t, const Matrix&, const float*, float*,
                          int64_t, ThreadPool&) {
  return false;
}

#endif

}  // namespace fastvlm::kernels
