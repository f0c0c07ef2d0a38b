// Every op against its scalar reference, on every SIMD target this build compiled and the CPU
// supports (forced one by one), over sizes that hit every remainder path.
//
// Tolerances come from the error model of f32 summation: a dot product of length K computed in
// any order differs from the exact value by at most γ_K·Σ|x_k·w_k| with γ_K ≈ K·ε (ε = 2^-24), so
// two implementations differ by at most 2·K·ε·Σ|x_k·w_k|. Element-wise ops with exp() are bounded
// by a few ulps of the result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "util/kernel_targets.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

namespace fastvlm::kernels {
namespace {

constexpr float kEps = 1.0f / (1 << 24);

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct TypedMatrix {
  std::vector<float> f32;       // values as f32 (exactly representable in the stored type)
  std::vector<uint16_t> half;   // storage for bf16 / f16
  Matrix m;
};

TypedMatrix MakeMatrix(WType t, int64_t rows, int64_t cols, uint32_t seed) {
  TypedMatrix tm;
  tm.f32 = Random(rows * cols, seed);
  ::fastvlm::testing::RoundToStored(t, &tm.f32, &tm.half);
  tm.m = Matrix{t, t == WType::kF32 ? static_cast<const void*>(tm.f32.data()) : tm.half.data(),
                rows, cols};
  return tm;
}

class OpsOnTarget : public ::fastvlm::testing::OnEveryTarget {};

TEST_P(OpsOnTarget, MatMulMatchesReference) {
  ThreadPool pool(2);
  for (WType t : {WType::kF32, WType::kBF16, WType::kF16}) {
    // Sizes around the 4×4 tile, the 4-row decode split and the 32-element bf16 step.
    for (int64_t M : {1, 3, 4, 5, 9}) {
      for (int64_t N : {1, 4, 5, 17, 67}) {
        for (int64_t K : {1, 7, 16, 33, 100}) {
          TypedMatrix w = MakeMatrix(t, N, K, 1000 + N * 7 + K);
          std::vector<float> x = Random(M * (K + 3), 7 + M);  // ldx = K + 3: strided rows
          // The bf16 dot-product path rounds x to bf16; give it bf16-exact inputs so both paths
          // multiply the same numbers and only summation order differs.
          for (auto& v : x) v = BF16ToF32(F32ToBF16(v));
          std::vector<float> bias = Random(N, 99);
          const int64_t ldx = K + 3, ldy = N + 1;
          std::vector<float> y(M * ldy, -1.0f), yr(M * ldy, -1.0f);
          MatMul(x.data(), ldx, M, w.m, bias.data(), y.data(), ldy, pool);
          ref::MatMul(x.data(), ldx, M, w.m, bias.data(), yr.data(), ldy);
          for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) {
              double abs_sum = std::fabs(bias[n]);
              for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(x[m * ldx + k] * w.f32[n * K + k]);
              const double tol = 2.0 * (K + 1) * kEps * abs_sum + 1e-30;
              ASSERT_NEAR(y[m * ldy + n], yr[m * ldy + n], tol)
                  << WTypeName(t) << " M=" << M << " N=" << N << " K=" << K << " at m=" << m
                  << " n=" << n;
            }
            EXPECT_EQ(y[m * ldy + N], -1.0f) << "wrote past the row";
          }
        }
      }
    }
  }
}

TEST_P(OpsOnTarget, LargeMatMulBothPaths) {
  // Prefill-sized: exercises the blocked path and (where available) the AVX512-BF16 kernel.
  ThreadPool pool(2);
  const int64_t M = 70, N = 70, K = 897;
  for (WType t : {WType::kF32, WType::kBF16}) {
    TypedMatrix w = MakeMatrix(t, N, K, 5);
    std::vector<float> x = Random(M * K, 6);
    for (auto& v : x) v = BF16ToF32(F32ToBF16(v));
    std::vector<float> y(M * N), yr(M * N);
    MatMul(x.data(), K, M, w.m, nullptr, y.data(), N, pool);
    ref::MatMul(x.data(), K, M, w.m, nullptr, yr.data(), N);
    for (int64_t i = 0; i < M * N; ++i) {
      const int64_t m = i / N, n = i % N;
      double abs_sum = 0;
      for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(x[m * K + k] * w.f32[n * K + k]);
      ASSERT_NEAR(y[i], yr[i], 2.0 * K * kEps * abs_sum) << WTypeName(t) << " at " << i;
    }
  }
}

// K a multiple of 32: where UseAmx(), 32-row groups of each 64-row task run on AMX tiles and the
// rest (here the last 22 rows, and every row with SetAmx(false)) on the AVX512-BF16 kernel; x
// blocks of 64 rows, a partial one over and under 32 rows.
TEST_P(OpsOnTarget, LargeBF16MatMulAmxAndNot) {
  ThreadPool pool(2);
  const int64_t N = 150, K = 896;
  TypedMatrix w = MakeMatrix(WType::kBF16, N, K, 15);
  std::vector<float> bias = Random(N, 16);
  for (int64_t M : {40, 100}) {
    std::vector<float> x = Random(M * K, 17);
    for (auto& v : x) v = BF16ToF32(F32ToBF16(v));
    std::vector<float> yr(M * N);
    ref::MatMul(x.data(), K, M, w.m, bias.data(), yr.data(), N);
    for (bool amx : {true, false}) {
      SetAmx(amx);
      std::vector<float> y(M * N);
      MatMul(x.data(), K, M, w.m, bias.data(), y.data(), N, pool);
      for (int64_t i = 0; i < M * N; ++i) {
        const int64_t m = i / N, n = i % N;
        double abs_sum = std::fabs(bias[n]);
        for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(x[m * K + k] * w.f32[n * K + k]);
        ASSERT_NEAR(y[i], yr[i], 2.0 * (K + 1) * kEps * abs_sum)
            << "M=" << M << " amx=" << amx << " (active " << UseAmx() << ") at " << i;
      }
    }
    SetAmx(true);
  }
}

TEST_P(OpsOnTarget, F32ActivationsOnAmxAreF32Accurate) {
  // bf16 weights with f32 activations (f32_x: Qwen2's q/k projections): on AMX, x is split into
  // three bf16 parts whose products are exact, so the result must be as close to the exact
  // product as the f32 path's own (widened weights, f32 FMAs). RMS errors against double:
  // the split must stay within 2x of the f32 path's. Keeping only two parts leaves ~2^-17 of x
  // (~100x the f32 path's error here) and fails this; one part is the bf16 path.
  ThreadPool pool(2);
  const int64_t K = 896;
  for (int64_t N : {64, 96}) {
    TypedMatrix w = MakeMatrix(WType::kBF16, N, K, 25 + N);
    const std::vector<float> bias = Random(N, 26);
    for (int64_t M : {16, 40, 100}) {
      const int64_t ldx = K + 3, ldy = N + 2;
      const std::vector<float> x = Random(M * ldx, 27 + M);
      double err[2] = {0, 0};
      for (int amx = 0; amx < 2; ++amx) {
        SetAmx(amx == 1);
        std::vector<float> y(M * ldy, -5.0f);
        const MatMulTarget t{&w.m, bias.data(), y.data(), ldy, /*f32_x=*/true};
        MatMulShared(x.data(), ldx, M, &t, 1, pool);
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t n = 0; n < N; ++n) {
            double ref = bias[n];
            for (int64_t k = 0; k < K; ++k) ref += double{x[m * ldx + k]} * w.f32[n * K + k];
            const double d = y[m * ldy + n] - ref;
            err[amx] += d * d;
          }
          ASSERT_EQ(y[m * ldy + N], -5.0f) << "wrote past the row";
        }
      }
      SetAmx(true);
      const double rms_f32 = std::sqrt(err[0] / (M * N)), rms_amx = std::sqrt(err[1] / (M * N));
      EXPECT_LE(rms_amx, 2.0 * rms_f32 + 1e-12)
          << "N=" << N << " M=" << M << " (AMX active: " << UseAmx() << ")";
    }
  }
}

TEST_P(OpsOnTarget, MatMulSharedEqualsSeparateCalls) {
  ThreadPool pool(2);
  for (WType t : {WType::kF32, WType::kBF16}) {
    for (int64_t M : {1, 2, 3, 9, 70}) {
      const int64_t K = 97;
      TypedMatrix a = MakeMatrix(t, 70, K, 1), b = MakeMatrix(t, 17, K, 2), c = MakeMatrix(t, 5, K, 3);
      std::vector<float> x = Random(M * K, 4), bias = Random(70, 5);
      std::vector<float> ya(M * 70), yb(M * 17), yc(M * 5), ra(M * 70), rb(M * 17), rc(M * 5);
      const MatMulTarget ts[3] = {{&a.m, bias.data(), ya.data(), 70},
                                  {&b.m, nullptr, yb.data(), 17},
                                  {&c.m, bias.data(), yc.data(), 5}};
      MatMulShared(x.data(), K, M, ts, 3, pool);
      MatMul(x.data(), K, M, a.m, bias.data(), ra.data(), 70, pool);
      MatMul(x.data(), K, M, b.m, nullptr, rb.data(), 17, pool);
      MatMul(x.data(), K, M, c.m, bias.data(), rc.data(), 5, pool);
      // Same kernels, same summation order: bit-identical.
      EXPECT_EQ(ya, ra) << WTypeName(t) << " M=" << M;
      EXPECT_EQ(yb, rb) << WTypeName(t) << " M=" << M;
      EXPECT_EQ(yc, rc) << WTypeName(t) << " M=" << M;
    }
  }
}

TEST_P(OpsOnTarget, MatMulSharedF32XKeepsActivationsExact) {
  // A target with f32_x multiplies f32 x (as with the bf16 dot product forbidden); the others in
  // the same call may round x to bf16. x is not bf16-representable here, so the two differ where
  // the bf16 dot product exists.
  ThreadPool pool(2);
  for (WType t : {WType::kBF16, WType::kF32}) {
    for (int64_t M : {1, 9, 70}) {
      const int64_t K = 97;
      TypedMatrix a = MakeMatrix(t, 70, K, 1), b = MakeMatrix(t, 17, K, 2), c = MakeMatrix(t, 5, K, 3);
      std::vector<float> x = Random(M * K, 4), bias = Random(70, 5);
      std::vector<float> ya(M * 70), yb(M * 17), yc(M * 5), ra(M * 70), rb(M * 17), rc(M * 5);
      const MatMulTarget ts[3] = {{&a.m, bias.data(), ya.data(), 70, true},
                                  {&b.m, nullptr, yb.data(), 17, false},
                                  {&c.m, bias.data(), yc.data(), 5, true}};
      MatMulShared(x.data(), K, M, ts, 3, pool);
      MatMul(x.data(), K, M, b.m, nullptr, rb.data(), 17, pool);  // default: may round x
      SetBF16DotProduct(false);
      MatMul(x.data(), K, M, a.m, bias.data(), ra.data(), 70, pool);
      MatMul(x.data(), K, M, c.m, bias.data(), rc.data(), 5, pool);
      SetBF16DotProduct(true);
      EXPECT_EQ(ya, ra) << WTypeName(t) << " M=" << M;
      EXPECT_EQ(yb, rb) << WTypeName(t) << " M=" << M;
      EXPECT_EQ(yc, rc) << WTypeName(t) << " M=" << M;
    }
  }
}

TEST_P(OpsOnTarget, VectorOps) {
  for (int64_t n : {1, 3, 8, 15, 16, 17, 31, 64, 100, 896, 4864}) {
    std::vector<float> a = Random(n, 1 + n, 3.0f), b = Random(n, 2 + n), w = Random(n, 3 + n);
    // Dot
    double abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(a[i] * b[i]);
    EXPECT_NEAR(Dot(a.data(), b.data(), n), ref::Dot(a.data(), b.data(), n),
                2.0 * n * kEps * abs_sum) << "n=" << n;
    // RMSNorm: the sum of squares is the only reduction; relative error ~ n·ε.
    std::vector<float> o(n), orf(n);
    RMSNorm(a.data(), w.data(), n, 1e-6f, o.data());
    ref::RMSNorm(a.data(), w.data(), n, 1e-6f, orf.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(o[i], orf[i], (n + 8) * kEps * std::fabs(orf[i]) + 1e-30) << "rmsnorm n=" << n;
    // Softmax: exp is accurate to a few ulps; the normalizing sum adds n·ε relative.
    std::vector<float> s = a, sr = a;
    Softmax(s.data(), n);
    ref::Softmax(sr.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(s[i], sr[i], (n + 16) * kEps * sr[i] + 1e-30) << "softmax n=" << n << " i=" << i;
    // SiLU(gate) * up and SiLU
    std::vector<float> g(n), gr(n);
    SiLUMul(a.data(), b.data(), n, g.data());
    ref::SiLUMul(a.data(), b.data(), n, gr.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(g[i], gr[i], 16 * kEps * std::fabs(gr[i]) + 1e-30) << "silumul i=" << i;
    std::vector<float> si = a, sir = a;
    SiLU(si.data(), n);
    ref::SiLU(sir.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(si[i], sir[i], 16 * kEps * std::fabs(sir[i]) + 1e-30) << "silu i=" << i;
    // Exact ops: one rounding each, same in any implementation (FMA in Axpy may differ by 1 ulp).
    std::vector<float> ad(n), adr(n);
    Add(a.data(), b.data(), n, ad.data());
    ref::Add(a.data(), b.data(), n, adr.data());
    EXPECT_EQ(ad, adr);
    std::vector<float> ax = b, axr = b;
    Axpy(0.37f, a.data(), n, ax.data());
    ref::Axpy(0.37f, a.data(), n, axr.data());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(ax[i], axr[i], 2 * kEps * (std::fabs(axr[i]) + std::fabs(0.37f * a[i])));
    std::vector<float> sc = a, scr = a;
    Scale(-1.7f, sc.data(), n);
    ref::Scale(-1.7f, scr.data(), n);
    EXPECT_EQ(sc, scr);
  }
}

TEST_P(OpsOnTarget, ArgMaxIsMaxElement) {
  // Every length around the vector widths, the maximum at every kind of position, ties (the first
  // wins), infinities and NaNs: always std::max_element's index.
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 3.0f);
  for (int64_t n : {1, 2, 7, 15, 16, 17, 63, 64, 65, 100, 1000, 151936}) {
    std::vector<float> x(n);
    for (auto& v : x) v = d(rng);
    auto check = [&](const char* what) {
      ASSERT_EQ(ArgMax(x.data(), n), std::max_element(x.begin(), x.end()) - x.begin())
          << what << " n=" << n << " on " << GetParam();
    };
    check("random");
    x[n - 1] = 100.0f;
    check("max last");
    x[n / 2] = 100.0f;
    check("tie: the first of two");
    x[0] = 100.0f;
    check("tie at 0");
    x[n / 3] = INFINITY;
    check("+inf");
    x[n / 4] = std::nanf("");
    check("a NaN");
    x[0] = std::nanf("");
    check("NaN first");
    std::fill(x.begin(), x.end(), -INFINITY);
    check("all -inf");
  }
}

TEST_P(OpsOnTarget, SoftmaxExtremes) {
  std::vector<float> x = {-1e30f, 0.0f, 80.0f, -80.0f, 88.0f, -INFINITY, 1.0f, 2.0f,
                          3.0f,   4.0f, 5.0f,  6.0f,   7.0f,  8.0f,      9.0f, 10.0f, 11.0f};
  std::vector<float> xr = x;
  Softmax(x.data(), x.size());
  ref::Softmax(xr.data(), xr.size());
  float sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(std::isfinite(x[i])) << i;
    ASSERT_NEAR(x[i], xr[i], 32 * kEps * xr[i] + 1e-37) << i;
    sum += x[i];
  }
  EXPECT_NEAR(sum, 1.0f, 1e-5f);
}

TEST_P(OpsOnTarget, RoPEAndRowToF32) {
  for (int64_t head_dim : {2, 8, 64, 128}) {
    const int64_t heads = 3;
    std::vector<float> x = Random(heads * head_dim, 11), xr = x;
    std::vector<float> c(head_dim / 2), s(head_dim / 2);
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      c[i] = std::cos(0.3f * i + 1.0f);
      s[i] = std::sin(0.3f * i + 1.0f);
    }
    RoPE(x.data(), heads, head_dim, c.data(), s.data());
    ref::RoPE(xr.data(), heads, head_dim, c.data(), s.data());
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(x[i], xr[i], 4 * kEps * (std::fabs(xr[i]) + 4.0f)) << "head_dim " << head_dim;
  }
  for (WType t : {WType::kF32, WType::kBF16, WType::kF16}) {
    TypedMatrix w = MakeMatrix(t, 5, 37, 3);
    std::vector<float> row(37);
    RowToF32(w.m, 3, row.data());
    for (int k = 0; k < 37; ++k) ASSERT_EQ(row[k], w.f32[3 * 37 + k]) << WTypeName(t);
  }
}

// The lm_head sketch's quantizer: the same bytes as the reference on every target (the rounding
// is specified exactly), sums of squares within the error of f32 sums of 32 non-negative terms
// per block, and false for non-finite input.
TEST_P(OpsOnTarget, QuantizeRowQ8_0NormsMatchesReference) {
  for (int64_t n : {32, 96, 896}) {
    std::vector<float> x = Random(n, 21, 0.05f);
    x[3] = 0.0f;
    for (int k = 32; k < std::min<int64_t>(n, 64); ++k) x[k] = 0.0f;  // an all-zero block (d = 0)
    if (n > 64) x[70] = 40.0f;                                        // an outlier
    const int64_t nb = n / 32;
    std::vector<BlockQ8_0> got(nb), want(nb);
    double gs[2], ws[2];
    ASSERT_TRUE(QuantizeRowQ8_0Norms(x.data(), n, got.data(), gs));
    ASSERT_TRUE(ref::QuantizeRowQ8_0Norms(x.data(), n, want.data(), ws));
    double direct[2] = {0, 0};
    for (int64_t b = 0; b < nb; ++b) {
      ASSERT_EQ(got[b].d, want[b].d) << "block " << b;
      for (int k = 0; k < 32; ++k) {
        ASSERT_EQ(got[b].qs[k], want[b].qs[k]) << "block " << b << " element " << k;
        const double v = x[b * 32 + k], t = static_cast<double>(F16ToF32(want[b].d)) * want[b].qs[k];
        ASSERT_LE(std::fabs(v - t), 0.5 * F16ToF32(want[b].d) * 1.01 + 1e-30) << b << " " << k;
        direct[0] += (v - t) * (v - t);
        direct[1] += t * t;
      }
    }
    for (int j = 0; j < 2; ++j) {
      EXPECT_NEAR(gs[j], direct[j], 40 * kEps * direct[j]) << "sum " << j << ", n " << n;
      EXPECT_NEAR(ws[j], direct[j], 40 * kEps * direct[j]) << "sum " << j << ", n " << n;
    }
  }
  for (float bad : {INFINITY, -INFINITY, NAN}) {
    std::vector<float> x = Random(64, 22);
    x[40] = bad;
    std::vector<BlockQ8_0> out(2);
    double sums[2];
    EXPECT_FALSE(QuantizeRowQ8_0Norms(x.data(), 64, out.data(), sums)) << bad;
  }
}

TEST_P(OpsOnTarget, AttentionOps) {
  for (int64_t dim : {1, 16, 64, 67}) {
    for (int64_t len : {1, 15, 16, 17, 33, 100}) {
      const int64_t tiles = (len + kKeyTile - 1) / kKeyTile;
      std::vector<float> q = Random(dim, 1), kt = Random(tiles * kKeyTile * dim, 2), p = Random(len, 3);
      std::vector<float> o(len), orf(len);
      DotColumns(q.data(), kt.data(), dim, len, 0.125f, o.data());
      ref::DotColumns(q.data(), kt.data(), dim, len, 0.125f, orf.data());
      for (int64_t j = 0; j < len; ++j) {
        double abs_sum = 0;
        for (int64_t d = 0; d < dim; ++d) abs_sum += std::fabs(q[d] * kt[KeyTileIndex(j, d, dim)]);
        ASSERT_NEAR(o[j], orf[j], 2.0 * (dim + 1) * kEps * abs_sum * 0.125) << dim << " " << len;
      }
      const int64_t ldv = dim + 3;
      std::vector<float> v = Random(len * ldv, 4), w(dim), wr(dim);
      WeightedRowSum(p.data(), v.data(), len, dim, ldv, w.data());
      ref::WeightedRowSum(p.data(), v.data(), len, dim, ldv, wr.data());
      for (int64_t d = 0; d < dim; ++d) {
        double abs_sum = 0;
        for (int64_t j = 0; j < len; ++j) abs_sum += std::fabs(p[j] * v[j * ldv + d]);
        ASSERT_NEAR(w[d], wr[d], 2.0 * (len + 1) * kEps * abs_sum) << dim << " " << len;
      }
    }
  }
}

// The grouped kernels (a kv head's q heads at once) give each head's per-head result bit for
// bit, for every group size up to and past the 8 heads one pass holds, on every target.
TEST_P(OpsOnTarget, GroupedAttentionOpsEqualPerHead) {
  for (int64_t dim : {1, 16, 64, 67}) {
    for (int64_t len : {1, 16, 17, 100}) {
      for (int64_t nq : {1, 2, 7, 8, 9, 14}) {
        const int64_t tiles = (len + kKeyTile - 1) / kKeyTile, ldq = dim + 5, ldo = len + 3;
        std::vector<float> q = Random(nq * ldq, 5), kt = Random(tiles * kKeyTile * dim, 6);
        std::vector<float> o(nq * ldo, -1.0f), each(len);
        DotColumnsGroup(q.data(), ldq, nq, kt.data(), dim, len, 0.125f, o.data(), ldo);
        for (int64_t h = 0; h < nq; ++h) {
          DotColumns(q.data() + h * ldq, kt.data(), dim, len, 0.125f, each.data());
          ASSERT_EQ(0, std::memcmp(each.data(), o.data() + h * ldo, sizeof(float) * len))
              << "DotColumnsGroup dim " << dim << " len " << len << " nq " << nq << " head " << h;
        }
        const int64_t ldv = dim + 3, ldp = len + 1, ldw = dim + 2;
        std::vector<float> p = Random(nq * ldp, 7), v = Random(len * ldv, 8), w(nq * ldw, -1.0f),
                           wone(dim);
        WeightedRowSumGroup(p.data(), ldp, nq, v.data(), len, dim, ldv, w.data(), ldw);
        for (int64_t h = 0; h < nq; ++h) {
          WeightedRowSum(p.data() + h * ldp, v.data(), len, dim, ldv, wone.data());
          ASSERT_EQ(0, std::memcmp(wone.data(), w.data() + h * ldw, sizeof(float) * dim))
              << "WeightedRowSumGroup dim " << dim << " len " << len << " nq " << nq << " head " << h;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, OpsOnTarget, ::testing::ValuesIn(AvailableTargets()),
                         [](const auto& info) { return info.param; });

TEST(Targets, ForceUnknownTargetFails) {
  EXPECT_FALSE(ForceTarget("no-such-target"));
  EXPECT_TRUE(ForceTarget("best"));
  EXPECT_NE(ActiveTargetName(), "ref");
}

TEST(Float16, RoundTripsAndRounding) {
  // Every bf16 / f16 bit pattern that is a finite number survives f32 and back.
  for (uint32_t h = 0; h < 65536; ++h) {
    const float fb = BF16ToF32(static_cast<uint16_t>(h));
    if (std::isfinite(fb)) {
      ASSERT_EQ(F32ToBF16(fb), h) << h;
    }
    const float fh = F16ToF32(static_cast<uint16_t>(h));
    if (std::isfinite(fh)) {
      ASSERT_EQ(F32ToF16(fh), h) << h;
    }
  }
  EXPECT_EQ(F32ToBF16(1.0f + 1.0f / 256), 0x3f80);  // tie -> even
  EXPECT_EQ(F32ToBF16(1.0f + 3.0f / 256), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);            // overflow to inf
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
}

}  // namespace
}  // namespace fastvlm::kernels
