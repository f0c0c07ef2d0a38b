// MatMul for bf16 weights with the AVX512-BF16 dot product (vdpbf16ps): x is rounded to bf16
// once per call (as a bf16 reference implementation computes), products are exact in f32 and
// accumulate in f32. Highway 1.0.3 has no op for this instruction (DESIGN.md "Toolchain facts"),
// so the body uses intrinsics behind a CPU-feature check. Only plain C data crosses into the
// target-attributed functions, so no std:: template is instantiated with AVX-512 code.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "base/float16.h"
#include "base/thread_pool.h"
#include "kernels/matmul_quant_internal.h"
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
// Loads / releases the tile configuration of gemm_packed_bf16_x86.cc (all tiles 16 × 64 bytes).
void AmxConfigure();
void AmxRelease();

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

// Outer-product micro-kernel: kNR weight rows × kMB x rows (kMV vectors of 16), over all of K.
// x is packed as bf16 pairs [K/2][kMB] (one 32-bit pair per row), so each k-pair step is kMV
// vector loads, kNR broadcasts of a weight pair, and kNR·kMV vdpbf16ps, with no horizontal
// reductions. The kNR×kMB block of y is transposed out through a small buffer at the end.
constexpr int kMV = 4;         // vectors of 16 x rows per packed block
constexpr int kMB = 16 * kMV;  // x rows per packed block
constexpr int kNR = 6;         // weight rows per tile: kNR·kMV = 24 accumulators

FVLM_TARGET_BF16 void TileOuter(const uint32_t* xp, int64_t K, const uint16_t* w, int64_t n0,
                                int nr, int64_t m0, int mb, const float* bias, float* y,
                                int64_t ldy) {
  __m512 acc[kNR][kMV];
  for (int j = 0; j < kNR; ++j)
    for (int v = 0; v < kMV; ++v) acc[j][v] = _mm512_setzero_ps();
  const uint16_t* rows[kNR];
  for (int j = 0; j < kNR; ++j) rows[j] = w + (n0 + (j < nr ? j : nr - 1)) * K;
  const int64_t kp_full = K / 2;
  for (int64_t kp = 0; kp < kp_full; ++kp) {
    __m512bh xv[kMV];
    for (int v = 0; v < kMV; ++v) xv[v] = (__m512bh)_mm512_loadu_si512(xp + kp * kMB + 16 * v);
    for (int j = 0; j < kNR; ++j) {
      uint32_t pair;
      __builtin_memcpy(&pair, rows[j] + 2 * kp, 4);
      const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
      for (int v = 0; v < kMV; ++v) acc[j][v] = _mm512_dpbf16_ps(acc[j][v], xv[v], b);
    }
  }
  if (K & 1) {  // last odd element: the packed x pair has a zero in its upper half
    __m512bh xv[kMV];
    for (int v = 0; v < kMV; ++v) xv[v] = (__m512bh)_mm512_loadu_si512(xp + kp_full * kMB + 16 * v);
    for (int j = 0; j < kNR; ++j) {
      const __m512bh b = (__m512bh)_mm512_set1_epi32(rows[j][K - 1]);
      for (int v = 0; v < kMV; ++v) acc[j][v] = _mm512_dpbf16_ps(acc[j][v], xv[v], b);
    }
  }
  alignas(64) float out[kNR][kMB];
  for (int j = 0; j < kNR; ++j)
    for (int v = 0; v < kMV; ++v) _mm512_store_ps(out[j] + 16 * v, acc[j][v]);
  for (int m = 0; m < mb; ++m) {
    float* yr = y + (m0 + m) * ldy + n0;
    for (int j = 0; j < nr; ++j) yr[j] = out[j][m] + (bias ? bias[n0 + j] : 0.0f);
  }
}

// Packs x rows [m0, m0+mb) as bf16 pairs [ceil(K/2)][kMB]; rows past mb and the odd tail are 0.
// Rows are first converted to bf16 into rows_bf16 [kMB][2·ceil(K/2)], then transposed as 32-bit
// pairs with gathers (16 rows per gather).
FVLM_TARGET_BF16 void PackX(const float* x, int64_t ldx, int64_t m0, int mb, int64_t K,
                            uint16_t* rows_bf16, uint32_t* xp) {
  const int64_t kp_n = (K + 1) / 2;
  const int64_t stride = 2 * kp_n;  // bf16 elements per converted row
  for (int m = 0; m < kMB; ++m) {
    uint16_t* r = rows_bf16 + m * stride;
    if (m < mb) {
      RowToBF16(x + (m0 + m) * ldx, K, r);
      if (K & 1) r[K] = 0;
    } else if (m < (mb + 15) / 16 * 16) {  // padding rows inside a gathered vector
      for (int64_t k = 0; k < stride; ++k) r[k] = 0;
    }
  }
  const __m512i idx = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int>(kp_n)));  // row stride in 32-bit pairs
  for (int v = 0; v < kMV; ++v) {
    if (16 * v >= mb) {  // all-zero rows: no gather needed
      for (int64_t kp = 0; kp < kp_n; ++kp) _mm512_storeu_si512(xp + kp * kMB + 16 * v, _mm512_setzero_si512());
      continue;
    }
    const int* base = reinterpret_cast<const int*>(rows_bf16 + 16 * v * stride);
    for (int64_t kp = 0; kp < kp_n; ++kp)
      _mm512_storeu_si512(xp + kp * kMB + 16 * v, _mm512_i32gather_epi32(idx, base + kp, 4));
  }
}

// AMX body (where UseAmx()): the weight rows as stored are A tiles (16 rows × 32 values of K,
// row stride K·2 bytes) and the packed x block is already a B tile (16 k-pairs × 16 x rows ×
// a bf16 pair), so tile C = W·xᵀ, out[weight row][x row], as TileOuter writes it. Tiles 0-3
// accumulate 32 weight rows × 32 x rows; products of bf16 pairs are exact in f32 on both
// bodies, only the summation order differs. Needs K a multiple of 32 and 32 whole weight rows.
#define FVLM_TARGET_AMX \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

// out[j][m] (ldo floats per j) for weight rows w[0..32) and x rows [0, 32) of the block at
// xpb[0]; with kTerms > 1, x is the sum of kTerms bf16 parts packed alike at xpb[t] (the split
// of f32 activations, MatMulBF16SplitX), each multiplied with the same weight tiles into the
// same accumulators.
template <int kTerms>
FVLM_TARGET_AMX void AmxTile32(const uint16_t* w, int64_t K, const uint32_t* const* xpb,
                               float* out, int64_t ldo) {
  const int64_t kp_n = K / 2, ldw = K * 2, ldx = kMB * 4, ldo_bytes = ldo * 4;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t kp = 0; kp < kp_n; kp += 16) {
    _tile_loadd(4, w + 2 * kp, ldw);
    _tile_loadd(5, w + 16 * K + 2 * kp, ldw);
    for (int t = 0; t < kTerms; ++t) {
      _tile_loadd(6, xpb[t] + kp * kMB, ldx);
      _tile_loadd(7, xpb[t] + kp * kMB + 16, ldx);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, out, ldo_bytes);
  _tile_stored(1, out + 16, ldo_bytes);
  _tile_stored(2, out + 16 * ldo, ldo_bytes);
  _tile_stored(3, out + 16 * ldo + 16, ldo_bytes);
}

// y rows [m0, m0+mb), columns [n0, n0+32) from out[j][m] (+ bias): column m of out is two
// gathers of 16 (stride ldo), so a row of y is two vector stores (the scalar transpose was ~9%
// of a bf16 prefill's time).
FVLM_TARGET_BF16 void StoreTransposed32(const float* out, int64_t ldo, int64_t n0, int64_t m0,
                                        int mb, const float* bias, float* y, int64_t ldy) {
  const __m512i idx = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int>(ldo)));
  const __m512 b0 = bias ? _mm512_loadu_ps(bias + n0) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_loadu_ps(bias + n0 + 16) : _mm512_setzero_ps();
  const float* out1 = out + 16 * ldo;
  for (int m = 0; m < mb; ++m) {
    float* yr = y + (m0 + m) * ldy + n0;
    _mm512_storeu_ps(yr, _mm512_add_ps(_mm512_i32gather_ps(idx, out + m, 4), b0));
    _mm512_storeu_ps(yr + 16, _mm512_add_ps(_mm512_i32gather_ps(idx, out1 + m, 4), b1));
  }
}

constexpr int64_t kNB = kPrefillTaskRows;

// x − bf16(x), exactly (the difference of x and its rounding to 8 significant bits fits in f32).
FVLM_TARGET_BF16 void Residual(const float* x, int64_t K, float* r) {
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 v = _mm512_loadu_ps(x + k);
    const __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
    const __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    _mm512_storeu_ps(r + k, _mm512_sub_ps(v, back));
  }
  for (; k < K; ++k) r[k] = x[k] - BF16ToF32(F32ToBF16(x[k]));
}

// x (M rows) packed for the GEMMs as `terms` bf16 parts, part j at the result + j·per_term
// (*per_term set): one part is x rounded to bf16; three are the split of MatMulBF16SplitX, each
// part the bf16 rounding of what the parts before it left (residuals exact in f32). Buffers grow
// to the largest prefill once, then are reused: no steady-state allocation.
const uint32_t* PackXParts(const float* x, int64_t ldx, int64_t M, int64_t K, int terms,
                           ThreadPool& pool, int64_t* per_term) {
  const int64_t kp_n = (K + 1) / 2, mblocks = (M + kMB - 1) / kMB;
  static thread_local std::vector<uint32_t> packed;
  static thread_local std::vector<uint16_t> row_bufs;
  static thread_local std::vector<float> resid;
  *per_term = mblocks * kp_n * kMB;
  if (static_cast<int64_t>(packed.size()) < terms * *per_term) packed.resize(terms * *per_term);
  const int64_t row_stride = kMB * 2 * kp_n;  // one [kMB][K] bf16 staging block per thread
  if (static_cast<int64_t>(row_bufs.size()) < pool.size() * row_stride) row_bufs.resize(pool.size() * row_stride);
  if (static_cast<int64_t>(resid.size()) < (terms - 1) * M * K) resid.resize((terms - 1) * M * K);
  uint32_t* xp = packed.data();
  uint16_t* rb = row_bufs.data();
  float* r = resid.data();
  const int64_t pt = *per_term;
  pool.Run(mblocks, [&](int64_t b, int thread) {
    const int64_t m0 = b * kMB;
    const int mb = static_cast<int>(std::min<int64_t>(kMB, M - m0));
    uint16_t* buf = rb + thread * row_stride;
    PackX(x, ldx, m0, mb, K, buf, xp + b * kp_n * kMB);
    for (int j = 1; j < terms; ++j) {  // part j: the residual that parts 0..j−1 leave
      const float* prev = j == 1 ? x : r + (j - 2) * M * K;
      const int64_t ldp = j == 1 ? ldx : K;
      float* cur = r + (j - 1) * M * K;
      for (int m = 0; m < mb; ++m) Residual(prev + (m0 + m) * ldp, K, cur + (m0 + m) * K);
      PackX(cur, K, m0, mb, K, buf, xp + j * pt + b * kp_n * kMB);
    }
  });
  return xp;
}

// Weight rows [n_begin, n_begin + 32·blocks) of t against every packed x block (M rows) on AMX;
// x is kTerms bf16 parts, part j packed at xp + j·per_term.
template <int kTerms>
void AmxWeightRows(const MatMulTarget& t, int64_t K, int64_t n_begin, int64_t blocks,
                   const uint32_t* xp, int64_t per_term, int64_t M) {
  const auto* wp = static_cast<const uint16_t*>(t.w->data);
  const int64_t kp_n = K / 2, mblocks = (M + kMB - 1) / kMB;
  AmxConfigure();
  alignas(64) float out[32 * kMB];
  for (int64_t n0 = n_begin; n0 < n_begin + 32 * blocks; n0 += 32) {
    for (int64_t b = 0; b < mblocks; ++b) {
      const int mb = static_cast<int>(std::min<int64_t>(kMB, M - b * kMB));
      const uint32_t* parts[kTerms];
      for (int j = 0; j < kTerms; ++j) parts[j] = xp + j * per_term + b * kp_n * kMB;
      AmxTile32<kTerms>(wp + n0 * K, K, parts, out, kMB);
      if (mb > 32) {
        for (int j = 0; j < kTerms; ++j) parts[j] += 32;
        AmxTile32<kTerms>(wp + n0 * K, K, parts, out + 32, kMB);
      }
      StoreTransposed32(out, kMB, n0, b * kMB, mb, t.bias, t.y, t.ldy);
    }
  }
  AmxRelease();
}

}  // namespace

bool UseAmx();  // gemm_packed_bf16_x86.cc

bool CpuHasAvx512Bf16() {
  static const bool has = DetectAvx512Bf16();
  return has;
}

namespace {
// The bf16 prefill GEMM of targets sharing x, with x as `terms` bf16 parts (PackXParts): tasks
// of kNB weight rows over all targets; inside, whole 32-row blocks on AMX tiles where `amx`,
// the rest (only with one part) through TileOuter, each kNR-row weight tile (~11 kB at K=896,
// L1-resident) meeting every packed x block in turn.
void BF16Prefill(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                 int terms, bool amx, ThreadPool& pool) {
  const int64_t K = targets[0].w->cols, kp_n = (K + 1) / 2, mblocks = (M + kMB - 1) / kMB;
  int64_t per_term = 0;
  const uint32_t* xp = PackXParts(x, ldx, M, K, terms, pool, &per_term);
  const std::vector<int64_t> task_start = TaskStarts(targets, count);
  pool.Run(task_start[count], [&](int64_t task, int) {
    int i = 0;
    while (task >= task_start[i + 1]) ++i;
    const MatMulTarget& t = targets[i];
    const auto* wp = static_cast<const uint16_t*>(t.w->data);
    int64_t n_begin = (task - task_start[i]) * kNB;
    const int64_t n_end = std::min(t.w->rows, n_begin + kNB);
    if (amx && n_end - n_begin >= 32) {
      const int64_t blocks = (n_end - n_begin) / 32;
      if (terms == 3) AmxWeightRows<3>(t, K, n_begin, blocks, xp, per_term, M);
      else AmxWeightRows<1>(t, K, n_begin, blocks, xp, per_term, M);
      n_begin += 32 * blocks;
    }
    CHECK(terms == 1 || n_begin == n_end);  // the split runs only on whole AMX blocks
    for (int64_t n0 = n_begin; n0 < n_end; n0 += kNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kNR, n_end - n0));
      for (int64_t b = 0; b < mblocks; ++b) {
        const int mb = static_cast<int>(std::min<int64_t>(kMB, M - b * kMB));
        TileOuter(xp + b * kp_n * kMB, K, wp, n0, nr, b * kMB, mb, t.bias, t.y, t.ldy);
      }
    }
  });
}
}  // namespace

bool MatMulBF16DotProduct(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                          int count, ThreadPool& pool) {
  if (!HasBF16DotProduct()) return false;
  const int64_t K = targets[0].w->cols;
  for (int i = 0; i < count; ++i)
    if (targets[i].w->type != WType::kBF16 || targets[i].w->cols != K) return false;
  BF16Prefill(x, ldx, M, targets, count, 1, K % 32 == 0 && UseAmx(), pool);
  return true;
}

bool MatMulBF16SplitX(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                      int count, ThreadPool& pool) {
  const int64_t K = targets[0].w->cols;
  if (!HasBF16DotProduct() || !UseAmx() || K % 32 != 0 || M < 16) return false;
  for (int i = 0; i < count; ++i)
    if (targets[i].w->type != WType::kBF16 || targets[i].w->cols != K || targets[i].w->rows % 32 != 0)
      return false;
  // x = b0 + b1 + b2 + r with b_t bf16: b0 = bf16(x), b1 = bf16(x − b0), b2 = bf16(x − b0 − b1),
  // each residual exact in f32, and |r| ≤ 2^-24·|x|·(1 + 2^-8): below x's own f32 rounding. The
  // products with bf16 weights are exact, so y is the f32 product up to f32 accumulation.
  BF16Prefill(x, ldx, M, targets, count, 3, true, pool);
  return true;
}

#else  // !FVLM_HAVE_BF16_KERNEL

bool CpuHasAvx512Bf16() { return false; }
bool MatMulBF16DotProduct(const float*, int64_t, int64_t, const MatMulTarget*, int, ThreadPool&) {
  return false;
}
bool MatMulBF16SplitX(const float*, int64_t, int64_t, const MatMulTarget*, int, ThreadPool&) {
  return false;
}

#endif

}  // namespace fastvlm::kernels
