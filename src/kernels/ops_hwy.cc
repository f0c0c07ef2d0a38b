// Highway bodies of the ops in ops.h, compiled once per SIMD target and dispatched at run time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "base/float16.h"
#include "base/thread_pool.h"
#include "base/check.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

HWY_BEFORE_NAMESPACE();
namespace fastvlm::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Loads Lanes(df) consecutive weights starting at element k of a row, widened to f32.
template <WType T>
HWY_INLINE VF LoadW(DF df, const uint8_t* row, int64_t k) {
  if constexpr (T == WType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  } else if constexpr (T == WType::kBF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> dbf;
    return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(row) + k));
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  }
}

template <WType T>
HWY_INLINE float ScalarW(const uint8_t* row, int64_t k) {
  if constexpr (T == WType::kF32) {
    return reinterpret_cast<const float*>(row)[k];
  } else if constexpr (T == WType::kBF16) {
    return BF16ToF32(reinterpret_cast<const uint16_t*>(row)[k]);
  } else {
    return F16ToF32(reinterpret_cast<const uint16_t*>(row)[k]);
  }
}

// A tile of MR x-rows times NR weight rows, dot products over K. Each weight vector is loaded
// (and widened) once and used MR times; each x vector is used NR times.
template <WType T, int MR, int NR>
HWY_INLINE void DotTile(const float* x, int64_t ldx, const Matrix& w, int64_t n0, const float* bias,
                        float* y, int64_t ldy) {
  const DF df;
  const int64_t K = w.cols;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  VF acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = hn::Zero(df);
  const uint8_t* rows[NR];
  for (int j = 0; j < NR; ++j) rows[j] = w.Row(n0 + j);
  int64_t k = 0;
  for (; k + L <= K; k += L) {
    VF xv[MR];
    for (int i = 0; i < MR; ++i) xv[i] = hn::LoadU(df, x + i * ldx + k);
    for (int j = 0; j < NR; ++j) {
      const VF wv = LoadW<T>(df, rows[j], k);
      for (int i = 0; i < MR; ++i) acc[i][j] = hn::MulAdd(xv[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
      for (int64_t kk = k; kk < K; ++kk) s += x[i * ldx + kk] * ScalarW<T>(rows[j], kk);
      y[i * ldy + n0 + j] = s + (bias ? bias[n0 + j] : 0.0f);
    }
  }
}

// Rows [n_begin, n_end) of W against rows [m_begin, m_end) of x.
template <WType T>
HWY_INLINE void MatMulBlock(const float* x, int64_t ldx, int64_t m_begin, int64_t m_end,
                            const Matrix& w, int64_t n_begin, int64_t n_end, const float* bias,
                            float* y, int64_t ldy) {
  int64_t m = m_begin;
  for (; m + 4 <= m_end; m += 4) {
    int64_t n = n_begin;
    for (; n + 4 <= n_end; n += 4) DotTile<T, 4, 4>(x + m * ldx, ldx, w, n, bias, y + m * ldy, ldy);
    for (; n < n_end; ++n) DotTile<T, 4, 1>(x + m * ldx, ldx, w, n, bias, y + m * ldy, ldy);
  }
  for (; m < m_end; ++m) {
    int64_t n = n_begin;
    for (; n + 4 <= n_end; n += 4) DotTile<T, 1, 4>(x + m * ldx, ldx, w, n, bias, y + m * ldy, ldy);
    for (; n < n_end; ++n) DotTile<T, 1, 1>(x + m * ldx, ldx, w, n, bias, y + m * ldy, ldy);
  }
}

// bf16 GEMV, the decode hot loop. Widening bf16 → f32 with PromoteTo costs a cross-lane
// shuffle per half vector; instead one full-width load of 2L bf16 is split into its even and odd
// elements with a shift and a mask (a bf16 is the top half of an f32), and x is pre-arranged in
// the same even/odd order, so the loop is load, shift, and, 2 FMAs per 2L weights.
// xd: MR rows of x, each K floats, deinterleaved per block of 2L: [x0 x2 .. x(2L-2) | x1 x3 ..].
template <int MR, int NR>
HWY_INLINE void GemvBF16Rows(const float* xd, const float* x, int64_t ldx, const Matrix& w,
                             int64_t n_begin, int64_t n_end, const float* bias, float* y,
                             int64_t ldy) {
  const DF df;
  const hn::RebindToUnsigned<DF> du;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t K = w.cols;
  const int64_t kvec = K / (2 * L) * (2 * L);
  const auto hi_mask = hn::Set(du, 0xFFFF0000u);
  for (int64_t n0 = n_begin; n0 < n_end; n0 += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, n_end - n0));
    const uint16_t* rows[NR];
    for (int j = 0; j < NR; ++j)
      rows[j] = reinterpret_cast<const uint16_t*>(w.Row(n0 + std::min(j, nr - 1)));
    VF acc[MR][NR];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] = hn::Zero(df);
    int64_t k = 0;
    if constexpr (NR == 1) {
      // Two blocks per iteration into separate accumulators: four independent FMA chains, so
      // an L2-resident row is not bound by FMA latency. No software prefetch: on one sequential
      // stream the hardware prefetcher does better alone (decode medians of 6 runs, 0.5B bf16,
      // 2 threads: 31.2 tokens/s without, 27.0 / 29.3 / 28.8 prefetching 1 / 2 / 4 rows ahead).
      VF acc2[MR];
      for (int i = 0; i < MR; ++i) acc2[i] = hn::Zero(df);
      for (; k + 4 * L <= kvec; k += 4 * L) {
        const auto u0 = hn::LoadU(du, reinterpret_cast<const uint32_t*>(rows[0] + k));
        const auto u1 = hn::LoadU(du, reinterpret_cast<const uint32_t*>(rows[0] + k + 2 * L));
        const VF we0 = hn::BitCast(df, hn::ShiftLeft<16>(u0));
        const VF wo0 = hn::BitCast(df, hn::And(u0, hi_mask));
        const VF we1 = hn::BitCast(df, hn::ShiftLeft<16>(u1));
        const VF wo1 = hn::BitCast(df, hn::And(u1, hi_mask));
        for (int i = 0; i < MR; ++i) {
          const float* xi = xd + i * K + k;
          acc[i][0] = hn::MulAdd(hn::LoadU(df, xi), we0, acc[i][0]);
          acc2[i] = hn::MulAdd(hn::LoadU(df, xi + L), wo0, acc2[i]);
          acc[i][0] = hn::MulAdd(hn::LoadU(df, xi + 2 * L), we1, acc[i][0]);
          acc2[i] = hn::MulAdd(hn::LoadU(df, xi + 3 * L), wo1, acc2[i]);
        }
      }
      for (int i = 0; i < MR; ++i) acc[i][0] = hn::Add(acc[i][0], acc2[i]);
    }
    for (; k < kvec; k += 2 * L) {
      VF xe[MR], xo[MR];
      for (int i = 0; i < MR; ++i) {
        xe[i] = hn::LoadU(df, xd + i * K + k);
        xo[i] = hn::LoadU(df, xd + i * K + k + L);
      }
      for (int j = 0; j < NR; ++j) {
        const auto u = hn::LoadU(du, reinterpret_cast<const uint32_t*>(rows[j] + k));
        const VF we = hn::BitCast(df, hn::ShiftLeft<16>(u));
        const VF wo = hn::BitCast(df, hn::And(u, hi_mask));
        for (int i = 0; i < MR; ++i) {
          acc[i][j] = hn::MulAdd(xe[i], we, acc[i][j]);
          acc[i][j] = hn::MulAdd(xo[i], wo, acc[i][j]);
        }
      }
    }
    for (int i = 0; i < MR; ++i) {
      for (int j = 0; j < nr; ++j) {
        float s = hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
        for (int64_t k = kvec; k < K; ++k) s += x[i * ldx + k] * BF16ToF32(rows[j][k]);
        y[i * ldy + n0 + j] = s + (bias ? bias[n0 + j] : 0.0f);
      }
    }
  }
}

// Rows [n0, n1) of one target for M <= 4 (decode): xd is x deinterleaved for the bf16 GEMV
// (M <= 2), else null.
template <WType T>
HWY_INLINE void SmallMRows(const float* x, int64_t ldx, int64_t M, const float* xd,
                           const MatMulTarget& t, int64_t n0, int64_t n1) {
  if constexpr (T == WType::kBF16) {
    if (M <= 2) {
      // One weight row at a time: a single sequential stream per thread is what the hardware
      // prefetcher follows best (measured on Zen 4: 29 GB/s vs 20 GB/s with four interleaved
      // rows, against 28 GB/s for a plain 2-thread read of the same size).
      if (M == 1) {
        GemvBF16Rows<1, 1>(xd, x, ldx, *t.w, n0, n1, t.bias, t.y, t.ldy);
      } else {
        GemvBF16Rows<2, 1>(xd, x, ldx, *t.w, n0, n1, t.bias, t.y, t.ldy);
      }
      return;
    }
  }
  for (int64_t n = n0; n < n1; ++n) {
    switch (M) {
      case 1: DotTile<T, 1, 1>(x, ldx, *t.w, n, t.bias, t.y, t.ldy); break;
      case 2: DotTile<T, 2, 1>(x, ldx, *t.w, n, t.bias, t.y, t.ldy); break;
      case 3: DotTile<T, 3, 1>(x, ldx, *t.w, n, t.bias, t.y, t.ldy); break;
      default: DotTile<T, 4, 1>(x, ldx, *t.w, n, t.bias, t.y, t.ldy); break;
    }
  }
}

// Decode / small batch (M <= 4): weight-streaming over the rows of all targets at once (one
// parallel region for q, k and v together), in dynamically scheduled chunks.
template <WType T>
void SmallMT(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
             ThreadPool& pool) {
  const int64_t K = targets[0].w->cols;
  const float* xdp = nullptr;
  if (T == WType::kBF16 && M <= 2) {
    const DF df;
    const int64_t L = static_cast<int64_t>(hn::Lanes(df));
    // Grows to the widest K once, then reused: no steady-state allocation.
    static thread_local std::vector<float> xd;
    if (static_cast<int64_t>(xd.size()) < M * K) xd.resize(M * K);
    for (int64_t i = 0; i < M; ++i) {
      const float* xi = x + i * ldx;
      float* di = xd.data() + i * K;
      for (int64_t k = 0; k + 2 * L <= K; k += 2 * L) {
        for (int64_t j = 0; j < L; ++j) {
          di[k + j] = xi[k + 2 * j];
          di[k + L + j] = xi[k + 2 * j + 1];
        }
      }
    }
    xdp = xd.data();
  }
  int64_t total = 0;
  for (int i = 0; i < count; ++i) total += targets[i].w->rows;
  pool.ParallelChunks(total, 16, 64, [&](int64_t b, int64_t e, int) {
    int64_t start = 0;
    for (int i = 0; i < count && start < e; ++i) {
      const int64_t rows = targets[i].w->rows;
      const int64_t lo = std::max(b, start), hi = std::min(e, start + rows);
      if (lo < hi) SmallMRows<T>(x, ldx, M, xdp, targets[i], lo - start, hi - start);
      start += rows;
    }
  });
}

template <WType T>
void MatMulT(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
             int64_t ldy, ThreadPool& pool) {
  const int64_t N = w.rows;
  if (M <= 4) {
    const MatMulTarget t{&w, bias, y, ldy};
    SmallMT<T>(x, ldx, M, &t, 1, pool);
    return;
  }
  // Prefill: blocks of 64 weight rows (~57 kB of bf16 at K=896, kept in L2) against all of x.
  constexpr int64_t kNB = 64;
  const int64_t nblocks = (N + kNB - 1) / kNB;
  pool.Run(nblocks, [&](int64_t b, int) {
    const int64_t n0 = b * kNB, n1 = std::min(N, n0 + kNB);
    MatMulBlock<T>(x, ldx, 0, M, w, n0, n1, bias, y, ldy);
  });
}

void SmallMImpl(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                ThreadPool* pool) {
  switch (targets[0].w->type) {
    case WType::kF32: return SmallMT<WType::kF32>(x, ldx, M, targets, count, *pool);
    case WType::kBF16: return SmallMT<WType::kBF16>(x, ldx, M, targets, count, *pool);
    case WType::kF16: return SmallMT<WType::kF16>(x, ldx, M, targets, count, *pool);
    default: return;  // block types: MatMulQuantShared
  }
}

void MatMulImpl(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias,
                float* y, int64_t ldy, ThreadPool* pool) {
  switch (w.type) {
    case WType::kF32: return MatMulT<WType::kF32>(x, ldx, M, w, bias, y, ldy, *pool);
    case WType::kBF16: return MatMulT<WType::kBF16>(x, ldx, M, w, bias, y, ldy, *pool);
    case WType::kF16: return MatMulT<WType::kF16>(x, ldx, M, w, bias, y, ldy, *pool);
    default: return;  // block types: MatMulQuantShared
  }
}

float DotImpl(const float* a, const float* b, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + L), hn::LoadU(df, b + i + L), s1);
  }
  for (; i + L <= n; i += L) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void RMSNormImpl(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const float ss = DotImpl(x, x, n);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  const VF vinv = hn::Set(df, inv);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::Mul(hn::LoadU(df, weight + i), hn::Mul(hn::LoadU(df, x + i), vinv)), df,
               out + i);
  }
  for (; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

// Two passes: the maximum by vector Max (no data-dependent branches), then the first index
// holding it. Where that finds nothing (NaNs: vector Max and std::max_element disagree on them),
// std::max_element decides, so the answer is always the reference's.
int64_t ArgMaxImpl(const float* x, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  // std::max_element keeps a NaN at x[0] (nothing compares greater than it).
  if (n < 4 * L || std::isnan(x[0])) return std::max_element(x, x + n) - x;
  VF m0 = hn::LoadU(df, x), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    m0 = hn::Max(m0, hn::LoadU(df, x + i));
    m1 = hn::Max(m1, hn::LoadU(df, x + i + L));
    m2 = hn::Max(m2, hn::LoadU(df, x + i + 2 * L));
    m3 = hn::Max(m3, hn::LoadU(df, x + i + 3 * L));
  }
  float mx = hn::GetLane(hn::MaxOfLanes(df, hn::Max(hn::Max(m0, m1), hn::Max(m2, m3))));
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const VF vmx = hn::Set(df, mx);
  for (i = 0; i + L <= n; i += L) {
    const auto eq = hn::Eq(hn::LoadU(df, x + i), vmx);
    if (!hn::AllFalse(df, eq)) return i + static_cast<int64_t>(hn::FindKnownFirstTrue(df, eq));
  }
  for (; i < n; ++i)
    if (x[i] == mx) return i;
  return std::max_element(x, x + n) - x;
}

void SoftmaxImpl(float* x, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  float mx = -INFINITY;
  int64_t i = 0;
  if (n >= L) {
    VF vm = hn::LoadU(df, x);
    for (i = L; i + L <= n; i += L) vm = hn::Max(vm, hn::LoadU(df, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(df, vm));
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const VF vmx = hn::Set(df, mx);
  VF vs = hn::Zero(df);
  i = 0;
  for (; i + L <= n; i += L) {
    const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmx));
    hn::StoreU(e, df, x + i);
    vs = hn::Add(vs, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vs));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const VF vinv = hn::Set(df, inv);
  i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vinv), df, x + i);
  for (; i < n; ++i) x[i] *= inv;
}

HWY_INLINE VF SiLUVec(DF df, VF g) {
  // g / (1 + exp(-g)); exp overflows to inf for g < -88, giving g/inf = -0 as the reference does.
  const VF one = hn::Set(df, 1.0f);
  return hn::Div(g, hn::Add(one, hn::Exp(df, hn::Neg(g))));
}

void SiLUMulImpl(const float* gate, const float* up, int64_t n, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    hn::StoreU(hn::Mul(SiLUVec(df, hn::LoadU(df, gate + i)), hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void SiLUImpl(float* x, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(SiLUVec(df, hn::LoadU(df, x + i)), df, x + i);
  for (; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void AddImpl(const float* a, const float* b, int64_t n, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Add(hn::LoadU(df, a + i), hn::LoadU(df, b + i)), df, out + i);
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void AxpyImpl(float alpha, const float* x, int64_t n, float* y) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const VF va = hn::Set(df, alpha);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

void ScaleImpl(float alpha, float* x, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const VF va = hn::Set(df, alpha);
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(va, hn::LoadU(df, x + i)), df, x + i);
  for (; i < n; ++i) x[i] *= alpha;
}

void RoPEImpl(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t h = head_dim / 2;
  for (int64_t hd = 0; hd < heads; ++hd) {
    float* v = x + hd * head_dim;
    int64_t i = 0;
    for (; i + L <= h; i += L) {
      const VF a = hn::LoadU(df, v + i), b = hn::LoadU(df, v + i + h);
      const VF c = hn::LoadU(df, cos + i), s = hn::LoadU(df, sin + i);
      hn::StoreU(hn::NegMulAdd(b, s, hn::Mul(a, c)), df, v + i);
      hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), df, v + i + h);
    }
    for (; i < h; ++i) {
      const float a = v[i], b = v[i + h];
      v[i] = a * cos[i] - b * sin[i];
      v[i + h] = b * cos[i] + a * sin[i];
    }
  }
}

// At most 16 lanes, so whole vectors tile a 32-element block on every target.
bool QuantizeRowQ8_0NormsImpl(const float* x, int64_t n, BlockQ8_0* out, double* sums) {
  const hn::CappedTag<float, 16> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const auto lo = hn::Set(df, -127.0f), hi = hn::Set(df, 127.0f);
  sums[0] = sums[1] = 0.0;
  bool finite = true;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    auto m = hn::Zero(df);
    for (int64_t k = 0; k < 32; k += L) m = hn::Max(m, hn::Abs(hn::LoadU(df, v + k)));
    const float amax = hn::GetLane(hn::MaxOfLanes(df, m));
    out[b].d = F32ToF16(amax / 127.0f);
    const float d = F16ToF32(out[b].d);
    finite = finite && std::isfinite(amax) && std::isfinite(d);
    const auto vid = hn::Set(df, d > 0.0f ? 1.0f / d : 0.0f), vd = hn::Set(df, d);
    auto s0 = hn::Zero(df), s1 = hn::Zero(df);
    for (int64_t k = 0; k < 32; k += L) {
      const auto xv = hn::LoadU(df, v + k);
      const auto q = hn::Min(hi, hn::Max(lo, hn::Round(hn::Mul(xv, vid))));
      hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, q)), d8, out[b].qs + k);
      const auto t = hn::Mul(q, vd);  // exact: an 11-bit scale times an 8-bit integer
      const auto e = hn::Sub(xv, t);
      s0 = hn::MulAdd(e, e, s0);
      s1 = hn::MulAdd(t, t, s1);
    }
    sums[0] += hn::GetLane(hn::SumOfLanes(df, s0));
    sums[1] += hn::GetLane(hn::SumOfLanes(df, s1));
  }
  return finite && std::isfinite(sums[0]) && std::isfinite(sums[1]);
}

void RowToF32Impl(const Matrix& w, int64_t row, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* r = w.Row(row);
  int64_t k = 0;
  switch (w.type) {
    case WType::kF32:
      std::memcpy(out, r, w.cols * sizeof(float));
      return;
    case WType::kBF16:
      for (; k + L <= w.cols; k += L) hn::StoreU(LoadW<WType::kBF16>(df, r, k), df, out + k);
      for (; k < w.cols; ++k) out[k] = ScalarW<WType::kBF16>(r, k);
      return;
    case WType::kF16:
      for (; k + L <= w.cols; k += L) hn::StoreU(LoadW<WType::kF16>(df, r, k), df, out + k);
      for (; k < w.cols; ++k) out[k] = ScalarW<WType::kF16>(r, k);
      return;
    default: return;  // block types: DequantizeRow
  }
}

// Calls f(std::integral_constant<int, N>{}, h0, N) for consecutive runs of at most 8 of n items,
// so the run length is a compile-time constant (register-resident accumulator arrays).
template <class F>
void ForRunsOf8(int64_t n, const F& f) {
  for (int64_t h0 = 0; h0 < n; h0 += 8) {
    switch (std::min<int64_t>(8, n - h0)) {
      case 1: f(std::integral_constant<int, 1>{}, h0); break;
      case 2: f(std::integral_constant<int, 2>{}, h0); break;
      case 3: f(std::integral_constant<int, 3>{}, h0); break;
      case 4: f(std::integral_constant<int, 4>{}, h0); break;
      case 5: f(std::integral_constant<int, 5>{}, h0); break;
      case 6: f(std::integral_constant<int, 6>{}, h0); break;
      case 7: f(std::integral_constant<int, 7>{}, h0); break;
      default: f(std::integral_constant<int, 8>{}, h0); break;
    }
  }
}

// Scores of keys [j0, j1) one at a time (the partial last tile, or targets whose vectors do not
// divide a tile).
void DotColumnsScalar(const float* q, const float* kt, int64_t dim, int64_t j0, int64_t j1,
                      float scale, float* out) {
  for (int64_t j = j0; j < j1; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * kt[KeyTileIndex(j, d, dim)];
    out[j] = acc * scale;
  }
}

// NQ queries against the whole tiles of keys [0, full): per query two FMA chains (even / odd d)
// and (a0 + a1)·scale; each key vector is loaded once for all NQ queries, and each query's scores
// do not depend on NQ.
template <int NQ>
void DotColumnsTiles(const float* q, int64_t ldq, const float* kt, int64_t dim, int64_t full,
                     float scale, float* out, int64_t ldo) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const VF vs = hn::Set(df, scale);
  for (int64_t j0 = 0; j0 < full; j0 += kKeyTile) {
    const float* tile = kt + j0 * dim;  // (j0 / 16) * dim * 16
    for (int64_t c = 0; c < kKeyTile; c += L) {
      VF a0[NQ], a1[NQ];
      for (int h = 0; h < NQ; ++h) a0[h] = a1[h] = hn::Zero(df);
      int64_t d = 0;
      for (; d + 2 <= dim; d += 2) {
        const VF k0 = hn::LoadU(df, tile + d * kKeyTile + c);
        const VF k1 = hn::LoadU(df, tile + (d + 1) * kKeyTile + c);
        for (int h = 0; h < NQ; ++h) {
          a0[h] = hn::MulAdd(hn::Set(df, q[h * ldq + d]), k0, a0[h]);
          a1[h] = hn::MulAdd(hn::Set(df, q[h * ldq + d + 1]), k1, a1[h]);
        }
      }
      if (d < dim) {
        const VF k0 = hn::LoadU(df, tile + d * kKeyTile + c);
        for (int h = 0; h < NQ; ++h) a0[h] = hn::MulAdd(hn::Set(df, q[h * ldq + d]), k0, a0[h]);
      }
      for (int h = 0; h < NQ; ++h) hn::StoreU(hn::Mul(hn::Add(a0[h], a1[h]), vs), df, out + h * ldo + j0 + c);
    }
  }
}

void DotColumnsGroupImpl(const float* q, int64_t ldq, int64_t nq, const float* kt, int64_t dim,
                         int64_t len, float scale, float* out, int64_t ldo) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t full = L <= kKeyTile && kKeyTile % L == 0 ? len / kKeyTile * kKeyTile : 0;
  ForRunsOf8(nq, [&](auto n, int64_t h0) {
    DotColumnsTiles<decltype(n)::value>(q + h0 * ldq, ldq, kt, dim, full, scale, out + h0 * ldo, ldo);
  });
  for (int64_t h = 0; h < nq; ++h) DotColumnsScalar(q + h * ldq, kt, dim, full, len, scale, out + h * ldo);
}

void DotColumnsImpl(const float* q, const float* kt, int64_t dim, int64_t len, float scale,
                    float* out) {
  DotColumnsGroupImpl(q, dim, 1, kt, dim, len, scale, out, len);
}

// NP weight rows over the same value rows, columns [0, d_end) two vectors at a time: per output
// element one FMA chain over j, from zero.
template <int NP>
void WeightedRowSumPairs(const float* p, int64_t ldp, const float* v, int64_t len, int64_t d_end,
                         int64_t ldv, float* out, int64_t ldout) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t d = 0; d < d_end; d += 2 * L) {
    VF a0[NP], a1[NP];
    for (int h = 0; h < NP; ++h) a0[h] = a1[h] = hn::Zero(df);
    for (int64_t j = 0; j < len; ++j) {
      const float* vj = v + j * ldv + d;
      const VF v0 = hn::LoadU(df, vj), v1 = hn::LoadU(df, vj + L);
      for (int h = 0; h < NP; ++h) {
        const VF pj = hn::Set(df, p[h * ldp + j]);
        a0[h] = hn::MulAdd(pj, v0, a0[h]);
        a1[h] = hn::MulAdd(pj, v1, a1[h]);
      }
    }
    for (int h = 0; h < NP; ++h) {
      hn::StoreU(a0[h], df, out + h * ldout + d);
      hn::StoreU(a1[h], df, out + h * ldout + d + L);
    }
  }
}

// One weight row, columns [d0, dim): a vector at a time, then one at a time.
void WeightedRowSumRest(const float* p, const float* v, int64_t len, int64_t d0, int64_t dim,
                        int64_t ldv, float* out) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  int64_t d = d0;
  for (; d + L <= dim; d += L) {
    VF a0 = hn::Zero(df);
    for (int64_t j = 0; j < len; ++j) a0 = hn::MulAdd(hn::Set(df, p[j]), hn::LoadU(df, v + j * ldv + d), a0);
    hn::StoreU(a0, df, out + d);
  }
  for (; d < dim; ++d) {
    float acc = 0.0f;
    for (int64_t j = 0; j < len; ++j) acc += p[j] * v[j * ldv + d];
    out[d] = acc;
  }
}

void WeightedRowSumGroupImpl(const float* p, int64_t ldp, int64_t np, const float* v, int64_t len,
                             int64_t dim, int64_t ldv, float* out, int64_t ldout) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const int64_t d_end = dim / (2 * L) * (2 * L);
  ForRunsOf8(np, [&](auto n, int64_t h0) {
    WeightedRowSumPairs<decltype(n)::value>(p + h0 * ldp, ldp, v, len, d_end, ldv, out + h0 * ldout, ldout);
  });
  for (int64_t h = 0; h < np; ++h) WeightedRowSumRest(p + h * ldp, v, len, d_end, dim, ldv, out + h * ldout);
}

void WeightedRowSumImpl(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                        float* out) {
  WeightedRowSumGroupImpl(p, len, 1, v, len, dim, ldv, out, dim);
}

}  // namespace fastvlm::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace fastvlm::kernels {

HWY_EXPORT(MatMulImpl);
HWY_EXPORT(SmallMImpl);
HWY_EXPORT(DotImpl);
HWY_EXPORT(RMSNormImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(ArgMaxImpl);
HWY_EXPORT(SiLUMulImpl);
HWY_EXPORT(SiLUImpl);
HWY_EXPORT(AddImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(RoPEImpl);
HWY_EXPORT(RowToF32Impl);
HWY_EXPORT(QuantizeRowQ8_0NormsImpl);
HWY_EXPORT(DotColumnsImpl);
HWY_EXPORT(WeightedRowSumImpl);
HWY_EXPORT(DotColumnsGroupImpl);
HWY_EXPORT(WeightedRowSumGroupImpl);

// Set by ForceTarget("ref"): every op runs its scalar reference.
bool UseReference();
// AVX512-BF16 GEMM (matmul_bf16_x86.cc) of several bf16 targets sharing x (packed once);
// returns false when it does not apply.
bool MatMulBF16DotProduct(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                          int count, ThreadPool& pool);
// bf16 weights with f32 activations (f32_x) on AMX tiles (matmul_bf16_x86.cc): x split into
// three bf16 parts whose products are exact, so y is the f32 product to f32 accumulation;
// returns false when it does not apply (no AMX, K % 32, rows % 32, M < 16).
bool MatMulBF16SplitX(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                      int count, ThreadPool& pool);
// Block-quantized weights (matmul_quant.cc), all targets of one block type and K.
void MatMulQuantShared(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                       int count, ThreadPool& pool);

void MatMul(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
            int64_t ldy, ThreadPool& pool) {
  const MatMulTarget t{&w, bias, y, ldy};
  MatMulShared(x, ldx, M, &t, 1, pool);
}

void MatMulShared(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                  ThreadPool& pool) {
  if (count <= 0) return;
  bool same = true;
  for (int i = 1; i < count; ++i)
    same = same && targets[i].w->type == targets[0].w->type && targets[i].w->cols == targets[0].w->cols;
  bool mixed_x = false;  // f32_x only matters where x would be rounded (large M)
  for (int i = 1; i < count; ++i) mixed_x = mixed_x || targets[i].f32_x != targets[0].f32_x;
  if (same && mixed_x && M > 4 && !UseReference()) {
    CHECK_LE(count, 16);
    MatMulTarget groups[2][16];
    int n[2] = {0, 0};
    for (int i = 0; i < count; ++i) groups[targets[i].f32_x][n[targets[i].f32_x]++] = targets[i];
    for (int g = 0; g < 2; ++g) MatMulShared(x, ldx, M, groups[g], n[g], pool);
    return;
  }
  if (UseReference() || !same) {
    for (int i = 0; i < count; ++i) {
      const MatMulTarget& t = targets[i];
      if (UseReference()) {
        ref::MatMul(x, ldx, M, *t.w, t.bias, t.y, t.ldy);
      } else {
        MatMulShared(x, ldx, M, &t, 1, pool);
      }
    }
    return;
  }
  if (IsBlockType(targets[0].w->type)) return MatMulQuantShared(x, ldx, M, targets, count, pool);
  if (M <= 4) return HWY_DYNAMIC_DISPATCH(SmallMImpl)(x, ldx, M, targets, count, &pool);
  if (targets[0].w->type == WType::kBF16 && !targets[0].f32_x &&
      MatMulBF16DotProduct(x, ldx, M, targets, count, pool))
    return;
  if (targets[0].w->type == WType::kBF16 && targets[0].f32_x &&
      MatMulBF16SplitX(x, ldx, M, targets, count, pool))
    return;
  for (int i = 0; i < count; ++i) {
    const MatMulTarget& t = targets[i];
    HWY_DYNAMIC_DISPATCH(MatMulImpl)(x, ldx, M, *t.w, t.bias, t.y, t.ldy, &pool);
  }
}

#define FVLM_DISPATCH(name, ...)                               \
  if (UseReference()) return ref::name(__VA_ARGS__);           \
  return HWY_DYNAMIC_DISPATCH(name##Impl)(__VA_ARGS__)

float Dot(const float* a, const float* b, int64_t n) { FVLM_DISPATCH(Dot, a, b, n); }
void RMSNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  FVLM_DISPATCH(RMSNorm, x, weight, n, eps, out);
}
void Softmax(float* x, int64_t n) { FVLM_DISPATCH(Softmax, x, n); }
int64_t ArgMax(const float* x, int64_t n) { FVLM_DISPATCH(ArgMax, x, n); }
void SiLUMul(const float* gate, const float* up, int64_t n, float* out) {
  FVLM_DISPATCH(SiLUMul, gate, up, n, out);
}
void SiLU(float* x, int64_t n) { FVLM_DISPATCH(SiLU, x, n); }
void Add(const float* a, const float* b, int64_t n, float* out) { FVLM_DISPATCH(Add, a, b, n, out); }
void Axpy(float alpha, const float* x, int64_t n, float* y) { FVLM_DISPATCH(Axpy, alpha, x, n, y); }
void Scale(float alpha, float* x, int64_t n) { FVLM_DISPATCH(Scale, alpha, x, n); }
void RoPE(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  FVLM_DISPATCH(RoPE, x, heads, head_dim, cos, sin);
}
void RowToF32(const Matrix& w, int64_t row, float* out) {
  if (IsBlockType(w.type)) return DequantizeRow(w, row, out);
  FVLM_DISPATCH(RowToF32, w, row, out);
}
bool QuantizeRowQ8_0Norms(const float* x, int64_t n, BlockQ8_0* out, double sums[2]) {
  CHECK_EQ(n % 32, 0);
  if (UseReference()) return ref::QuantizeRowQ8_0Norms(x, n, out, sums);
  return HWY_DYNAMIC_DISPATCH(QuantizeRowQ8_0NormsImpl)(x, n, out, sums);
}
void DotColumns(const float* q, const float* kt, int64_t dim, int64_t len, float scale, float* out) {
  FVLM_DISPATCH(DotColumns, q, kt, dim, len, scale, out);
}
void WeightedRowSum(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                    float* out) {
  FVLM_DISPATCH(WeightedRowSum, p, v, len, dim, ldv, out);
}
void DotColumnsGroup(const float* q, int64_t ldq, int64_t nq, const float* kt, int64_t dim,
                     int64_t len, float scale, float* out, int64_t ldo) {
  FVLM_DISPATCH(DotColumnsGroup, q, ldq, nq, kt, dim, len, scale, out, ldo);
}
void WeightedRowSumGroup(const float* p, int64_t ldp, int64_t np, const float* v, int64_t len,
                         int64_t dim, int64_t ldv, float* out, int64_t ldout) {
  FVLM_DISPATCH(WeightedRowSumGroup, p, ldp, np, v, len, dim, ldv, out, ldout);
}

}  // namespace fastvlm::kernels
#endif  // HWY_ONCE
