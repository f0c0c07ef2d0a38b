// The vision ops (GELU, depthwise / dense NHWC convolutions, channel LayerNorm, packed GEMM)
// against their scalar references on every compiled SIMD target, over sizes that hit every
// remainder path: odd widths, channel counts that are not a multiple of the vector length,
// stride 2 on odd input sizes, the channel multiplier 2, partial panels and row tiles.
//
// Error model: a sum of n products computed in any order is within γ_n·Σ|terms| (γ_n ≈ n·ε,
// ε = 2^-24) of the exact value, so two orders differ by at most 2·n·ε·Σ|terms|. GELU adds the
// error of the SIMD erf (≤ 3.2e-7 absolute, times 0.5·|x|) plus a few ulps of the product, and
// its slope is below 1.13, so it at most scales an input error by 1.13.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/float16.h"
#include "util/kernel_targets.h"
#include "kernels/ops.h"

namespace fastvlm::kernels {
namespace {

constexpr double kEps = 1.0 / (1 << 24);
constexpr double kErfAbs = 3.2e-7;  // documented bound of the SIMD erf

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double GeluExact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
// Bound on |simd_gelu(v) − ref_gelu(v)| for the same input v (both within their error of the
// exact value; std::erf is within 1 ulp).
double GeluTol(double v) { return 0.5 * std::fabs(v) * (kErfAbs + 2 * kEps) + 8 * kEps * std::fabs(GeluExact(v)) + 1e-37; }

class VisionOpsOnTarget : public ::fastvlm::testing::OnEveryTarget {};

TEST_P(VisionOpsOnTarget, GeluMatchesExactErf) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.00137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -3.83f, 3.83f, -5.4f, 100.0f, -100.0f, 3e38f, -3e38f})
    x.push_back(v);
  for (size_t n : {x.size(), size_t{1}, size_t{7}, size_t{17}}) {  // tails
    std::vector<float> y(x.begin(), x.begin() + n), yr = y;
    Gelu(y.data(), n);
    ref::Gelu(yr.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double exact = GeluExact(x[i]);
      ASSERT_NEAR(y[i], exact, GeluTol(x[i])) << "x=" << x[i];
      ASSERT_NEAR(yr[i], exact, 0.5 * std::fabs(x[i]) * 4 * kEps + 4 * kEps * std::fabs(exact) + 1e-37)
          << "ref x=" << x[i];
    }
  }
}

struct DwCase {
  int64_t H, W, C;
  int k, stride, mult;
};

TEST_P(VisionOpsOnTarget, DepthwiseConvMatchesReference) {
  std::vector<DwCase> cases;
  for (int64_t hw : {1, 2, 5, 8, 9})
    for (int64_t C : {1, 3, 8, 17, 40, 64})
      for (int k : {3, 7})
        for (int s : {1, 2})
          for (int mult : {1, 2}) cases.push_back({hw, hw + (hw % 2 ? 2 : 1), C, k, s, mult});
  uint32_t seed = 1;
  for (const DwCase& c : cases) {
    DwConvShape s;
    s.H = c.H;
    s.W = c.W;
    s.C = c.C;
    s.k = c.k;
    s.stride = c.stride;
    s.pad = c.k / 2;
    s.mult = c.mult;
    const int64_t P = s.OH() * s.OW(), Cout = s.Cout();
    std::vector<float> x = Random(s.H * s.W * s.C, ++seed), w = Random(c.k * c.k * Cout, ++seed, 0.3f),
                       b = Random(Cout, ++seed);
    for (bool gelu : {false, true}) {
      for (bool bias : {false, true}) {
        std::vector<float> y(P * Cout + 1, -7.0f), yr(P * Cout + 1, -7.0f);
        // Two calls over a split pixel range, as model code bands an image.
        DepthwiseConv(x.data(), s, w.data(), bias ? b.data() : nullptr, gelu, y.data(), 0, P / 2);
        DepthwiseConv(x.data(), s, w.data(), bias ? b.data() : nullptr, gelu, y.data() + P / 2 * Cout, P / 2, P);
        ref::DepthwiseConv(x.data(), s, w.data(), bias ? b.data() : nullptr, gelu, yr.data(), 0, P);
        ASSERT_EQ(y[P * Cout], -7.0f) << "wrote past the output";
        for (int64_t p = 0; p < P; ++p) {
          const int64_t oy = p / s.OW(), ox = p % s.OW();
          for (int64_t o = 0; o < Cout; ++o) {
            double abs_sum = bias ? std::fabs(b[o]) : 0.0, pre = bias ? b[o] : 0.0;
            for (int ky = 0; ky < c.k; ++ky)
              for (int kx = 0; kx < c.k; ++kx) {
                const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                const double t = double{x[(iy * s.W + ix) * s.C + o / c.mult]} * w[(ky * c.k + kx) * Cout + o];
                abs_sum += std::fabs(t);
                pre += t;
              }
            double tol = 2.0 * (c.k * c.k + 1) * kEps * abs_sum;
            if (gelu) tol = 1.13 * tol + GeluTol(pre);
            ASSERT_NEAR(y[p * Cout + o], yr[p * Cout + o], tol + 1e-30)
                << "H=" << c.H << " W=" << c.W << " C=" << c.C << " k=" << c.k << " s=" << c.stride
                << " mult=" << c.mult << " gelu=" << gelu << " p=" << p << " o=" << o;
          }
        }
      }
    }
  }
}

TEST_P(VisionOpsOnTarget, DepthwiseConvRowRunsArePerPixelBits) {
  // Interior pixels of stride-1 convolutions go through runs of 8 pixels that share input
  // loads; a call of one pixel never forms a run, so it takes the per-pixel path, which the test
  // above checks against the reference. Both add each output's taps in the same order: equal
  // bits. Images wide enough for several runs per row, band splits inside runs, channel counts
  // that are and are not whole vectors.
  uint32_t seed = 100;
  for (int k : {3, 7}) {
    for (int64_t C : {16, 32, 48, 20}) {
      for (int64_t W : {23, 40}) {
        DwConvShape s;
        s.H = 11;
        s.W = W;
        s.C = C;
        s.k = k;
        s.pad = k / 2;
        const int64_t P = s.OH() * s.OW();
        const std::vector<float> x = Random(s.H * s.W * C, ++seed), w = Random(k * k * C, ++seed, 0.3f),
                                 b = Random(C, ++seed);
        for (bool gelu : {false, true}) {
          std::vector<float> y(P * C), y1(P * C);
          const int64_t cut = P / 2 + 3;
          DepthwiseConv(x.data(), s, w.data(), b.data(), gelu, y.data(), 0, cut);
          DepthwiseConv(x.data(), s, w.data(), b.data(), gelu, y.data() + cut * C, cut, P);
          for (int64_t p = 0; p < P; ++p)
            DepthwiseConv(x.data(), s, w.data(), b.data(), gelu, y1.data() + p * C, p, p + 1);
          ASSERT_EQ(0, std::memcmp(y.data(), y1.data(), y.size() * sizeof(float)))
              << "k=" << k << " C=" << C << " W=" << W << " gelu=" << gelu;
        }
      }
    }
  }
}

TEST_P(VisionOpsOnTarget, Conv2DMatchesReference) {
  uint32_t seed = 100;
  for (int64_t hw : {1, 4, 7, 10})
    for (int64_t Cin : {1, 3})
      for (int64_t Cout : {5, 16, 40, 96})
        for (int stride : {1, 2}) {
          ConvShape s;
          s.H = hw;
          s.W = hw + 1;
          s.Cin = Cin;
          s.Cout = Cout;
          s.k = 3;
          s.stride = stride;
          s.pad = 1;
          const int64_t P = s.OH() * s.OW();
          std::vector<float> x = Random(s.H * s.W * Cin, ++seed), w = Random(9 * Cin * Cout, ++seed),
                             b = Random(Cout, ++seed);
          std::vector<float> y(P * Cout), yr(P * Cout);
          Conv2D(x.data(), s, w.data(), b.data(), true, y.data(), 0, P);
          ref::Conv2D(x.data(), s, w.data(), b.data(), true, yr.data(), 0, P);
          for (int64_t p = 0; p < P; ++p) {
            const int64_t oy = p / s.OW(), ox = p % s.OW();
            for (int64_t o = 0; o < Cout; ++o) {
              double abs_sum = std::fabs(b[o]), pre = b[o];
              for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                  const int64_t iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
                  if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                  for (int64_t c = 0; c < Cin; ++c) {
                    const double t = double{x[(iy * s.W + ix) * Cin + c]} * w[((ky * 3 + kx) * Cin + c) * Cout + o];
                    abs_sum += std::fabs(t);
                    pre += t;
                  }
                }
              const double tol = 1.13 * 2.0 * (9 * Cin + 1) * kEps * abs_sum + GeluTol(pre);
              ASSERT_NEAR(y[p * Cout + o], yr[p * Cout + o], tol) << hw << " " << Cin << " " << Cout;
            }
          }
        }
}

TEST_P(VisionOpsOnTarget, LayerNormRowsMatchesReference) {
  uint32_t seed = 200;
  for (int64_t C : {1, 7, 16, 33, 96, 768}) {
    const int64_t rows = 5, ld = C + 3;
    std::vector<float> x = Random(rows * ld, ++seed, 2.0f), w = Random(C, ++seed), b = Random(C, ++seed);
    for (auto& v : x) v += 3.0f;  // a mean far from 0, as activations have
    std::vector<float> y(rows * ld, -1.0f), yr(rows * ld, -1.0f);
    LayerNormRows(x.data(), ld, rows, C, w.data(), b.data(), 1e-5f, y.data(), ld);
    ref::LayerNormRows(x.data(), ld, rows, C, w.data(), b.data(), 1e-5f, yr.data(), ld);
    for (int64_t r = 0; r < rows; ++r) {
      double mx = 0;
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, std::fabs(double{x[r * ld + c]}));
      for (int64_t c = 0; c < C; ++c) {
        // The mean and variance carry ~2·C·ε relative error each; normalized values are O(1)
        // (|x−mean|/σ ≤ √C), the mean error enters amplified by max|x|/σ.
        const double tol = 4.0 * (C + 4) * kEps * (mx + 1) * (std::fabs(w[c]) * std::sqrt(double(C)) + std::fabs(b[c]) + 1);
        ASSERT_NEAR(y[r * ld + c], yr[r * ld + c], tol) << "C=" << C;
      }
      EXPECT_EQ(y[r * ld + C], -1.0f);
    }
  }
}

struct Packed {
  std::vector<float> f32;  // the values as f32
  std::vector<uint16_t> half;
  Matrix m;
  std::vector<float> storage;
  PackedMatrix pm;
};

Packed MakePacked(WType t, int64_t N, int64_t K, uint32_t seed) {
  Packed p;
  p.f32 = Random(N * K, seed);
  ::fastvlm::testing::RoundToStored(t, &p.f32, &p.half);
  p.m = Matrix{t, t == WType::kF32 ? static_cast<const void*>(p.f32.data()) : p.half.data(), N, K};
  p.storage.resize(PackedMatrixBytes(PackedTypeFor(t), N, K) / 4);
  p.pm = PackMatrix(p.m, p.storage.data());
  return p;
}

TEST_P(VisionOpsOnTarget, GemmPackedMatchesReference) {
  std::vector<uint8_t> scratch;
  for (WType t : {WType::kF32, WType::kBF16, WType::kF16}) {
    for (int64_t M : {1, 5, 6, 7, 13, 64}) {
      for (int64_t N : {1, 15, 16, 17, 70, 96}) {
        for (int64_t K : {1, 2, 7, 32, 97}) {
          Packed w = MakePacked(t, N, K, static_cast<uint32_t>(N * 131 + K));
          const int64_t ldx = K + 3, ldy = N + 5;
          std::vector<float> x = Random(M * ldx, static_cast<uint32_t>(M + 7));
          // bf16-exact x: the BF16 dot-product path rounds x to bf16 and must then multiply the
          // same numbers (the rounding itself is covered by GemmPackedRoundsXToBF16).
          for (auto& v : x) v = BF16ToF32(F32ToBF16(v));
          const std::vector<float> bias = Random(N, 3), scale = Random(N, 4), res = Random(M * ldy, 5);
          for (int variant = 0; variant < 4; ++variant) {
            GemmEpilogue ep;
            std::vector<float> y(M * ldy, -1.0f);
            if (variant == 1) {
              ep.bias = bias.data();
              ep.gelu = true;
            } else if (variant == 2) {
              ep.alpha = 0.37f;
              ep.bias = bias.data();
              ep.scale = scale.data();
              ep.residual = res.data();
              ep.ldr = ldy;
            } else if (variant == 3) {  // in-place residual
              y = res;
              ep.bias = bias.data();
              ep.scale = scale.data();
              ep.residual = y.data();
              ep.ldr = ldy;
            }
            std::vector<float> yr = variant == 3 ? res : std::vector<float>(M * ldy, -1.0f);
            GemmEpilogue epr = ep;
            if (variant == 3) epr.residual = yr.data();
            scratch.resize(GemmScratchBytes(M, K));
            GemmPacked(x.data(), ldx, M, w.pm, ep, y.data(), ldy, scratch.data());
            ref::GemmPacked(x.data(), ldx, M, w.pm, epr, yr.data(), ldy);
            for (int64_t m = 0; m < M; ++m) {
              for (int64_t n = 0; n < N; ++n) {
                double abs_sum = 0, pre = 0;
                for (int64_t k = 0; k < K; ++k) {
                  abs_sum += std::fabs(double{x[m * ldx + k]} * w.f32[n * K + k]);
                  pre += double{x[m * ldx + k]} * w.f32[n * K + k];
                }
                double tol = 2.0 * (K + 2) * kEps * abs_sum * std::fabs(ep.alpha) +
                             (ep.bias ? 4 * kEps * std::fabs(bias[n]) : 0.0);
                if (ep.gelu) tol = 1.13 * tol + GeluTol(pre + bias[n]);
                if (ep.scale) tol = tol * std::fabs(scale[n]) + 4 * kEps * std::fabs(yr[m * ldy + n]);
                if (ep.residual) tol += 4 * kEps * std::fabs(res[m * ldy + n]);
                ASSERT_NEAR(y[m * ldy + n], yr[m * ldy + n], tol + 1e-30)
                    << WTypeName(t) << " M=" << M << " N=" << N << " K=" << K
                    << " variant=" << variant << " at m=" << m << " n=" << n;
              }
              if (variant < 3) {
                ASSERT_EQ(y[m * ldy + N], -1.0f) << "wrote past the row";
              }
            }
          }
        }
      }
    }
  }
}

TEST_P(VisionOpsOnTarget, GemmPackedRoundsXToBF16OnlyOnTheDotProductPath) {
  const int64_t M = 13, N = 40, K = 301;
  Packed w = MakePacked(WType::kBF16, N, K, 9);
  std::vector<float> x = Random(M * K, 10), y(M * N), yr(M * N);
  std::vector<uint8_t> scratch(GemmScratchBytes(M, K));
  GemmPacked(x.data(), K, M, w.pm, {}, y.data(), N, scratch.data());
  ref::GemmPacked(x.data(), K, M, w.pm, {}, yr.data(), N);
  const bool rounds = HasBF16DotProduct();
  for (int64_t i = 0; i < M * N; ++i) {
    const int64_t m = i / N, n = i % N;
    double abs_sum = 0;
    for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(double{x[m * K + k]} * w.f32[n * K + k]);
    // Rounding x to bf16 moves each product by at most 2^-9 relative.
    const double tol = (rounds ? std::ldexp(1.0, -9) : 0.0) * abs_sum + 2.0 * K * kEps * abs_sum;
    ASSERT_NEAR(y[i], yr[i], tol) << i;
  }
}

// Blocks of 16 rows with K a multiple of 32 run on AMX tiles where the CPU has them (UseAmx());
// the rest of the rows on the AVX512-BF16 kernel. Both, and the epilogue's row / column offsets
// (partial row blocks, 9 panels = one column block of 8 and a partial one, a partial last
// panel), against the reference within the bound of the test above.
TEST_P(VisionOpsOnTarget, GemmPackedAmxBlocksMatchReference) {
  struct Shape { int64_t M, N, K; };
  for (const Shape sh : {Shape{16, 32, 64}, Shape{45, 130, 96}, Shape{64, 48, 32},
                         Shape{200, 40, 384}, Shape{33, 16, 1536}}) {
    const int64_t M = sh.M, N = sh.N, K = sh.K;
    Packed w = MakePacked(WType::kBF16, N, K, 21);
    std::vector<float> x = Random(M * K, 22), bias = Random(N, 23), scale = Random(N, 24),
                       res = Random(M * N, 25);
    GemmEpilogue ep;
    ep.bias = bias.data();
    ep.scale = scale.data();
    ep.residual = res.data();
    ep.ldr = N;
    std::vector<float> yr(M * N);
    ref::GemmPacked(x.data(), K, M, w.pm, ep, yr.data(), N);
    std::vector<uint8_t> scratch(GemmScratchBytes(M, K));
    for (bool amx : {true, false}) {
      SetAmx(amx);
      std::vector<float> y(M * N);
      GemmPacked(x.data(), K, M, w.pm, ep, y.data(), N, scratch.data());
      const bool rounds = HasBF16DotProduct();
      for (int64_t i = 0; i < M * N; ++i) {
        const int64_t m = i / N, n = i % N;
        double abs_sum = std::fabs(bias[n]);
        for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(double{x[m * K + k]} * w.f32[n * K + k]);
        const double tol = std::fabs(scale[n]) * ((rounds ? std::ldexp(1.0, -9) : 0.0) * abs_sum +
                                                  2.0 * (K + 2) * kEps * abs_sum) +
                           4 * kEps * std::fabs(yr[i]);
        ASSERT_NEAR(y[i], yr[i], tol) << "M=" << M << " N=" << N << " K=" << K << " amx=" << amx
                                      << " (active: " << UseAmx() << ") at " << i;
      }
    }
    SetAmx(true);
  }
  RecordProperty("amx_active", UseAmx() ? "yes" : "no");
}

INSTANTIATE_TEST_SUITE_P(AllTargets, VisionOpsOnTarget, ::testing::ValuesIn(AvailableTargets()),
                         [](const auto& info) { return info.param; });

// The packed layout itself (read back by ref::GemmPacked) against the plain MatMul reference on
// the unpacked weights, so a packing bug cannot hide by being mirrored in the reference.
TEST(PackMatrix, ReferenceGemmOnPackedEqualsMatMulOnStored) {
  for (WType t : {WType::kF32, WType::kBF16, WType::kF16}) {
    for (int64_t N : {1, 16, 17, 33, 48}) {  // 16, 48: full panels only (the fast path)
      for (int64_t K : {1, 2, 6, 9, 64}) {
        Packed w = MakePacked(t, N, K, 77);
        const int64_t M = 3;
        std::vector<float> x = Random(M * K, 78), y(M * N), yr(M * N);
        ref::GemmPacked(x.data(), K, M, w.pm, {}, y.data(), N);
        ref::MatMul(x.data(), K, M, w.m, nullptr, yr.data(), N);
        for (int64_t i = 0; i < M * N; ++i) ASSERT_EQ(y[i], yr[i]) << WTypeName(t) << " " << N << " " << K;
      }
    }
  }
}

TEST(PackMatrix, F32StridedTransposedAndSlices) {
  const int64_t N = 37, K = 11, ld = 50;
  std::vector<float> a = Random(N * ld, 1), at(K * ld);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) at[k * ld + n] = a[n * ld + k];
  std::vector<float> p1(PackedMatrixBytes(WType::kF32, N, K) / 4), p2(p1.size());
  const PackedMatrix m1 = PackMatrixF32(a.data(), ld, N, K, false, p1.data());
  const PackedMatrix m2 = PackMatrixF32(at.data(), ld, N, K, true, p2.data());
  EXPECT_EQ(p1, p2);
  const std::vector<float> x = Random(2 * K, 3);
  std::vector<float> y(2 * N), ys(2 * N, 0.0f);
  ref::GemmPacked(x.data(), K, 2, m1, {}, y.data(), N);
  const PackedMatrix s = m1.Slice(16, N - 16);
  ref::GemmPacked(x.data(), K, 2, s, {}, ys.data() + 16, N);
  for (int64_t m = 0; m < 2; ++m)
    for (int64_t n = 16; n < N; ++n) EXPECT_EQ(ys[m * N + n], y[m * N + n]);
  (void)m2;
}

}  // namespace
}  // namespace fastvlm::kernels
