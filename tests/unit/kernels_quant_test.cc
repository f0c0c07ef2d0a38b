// MatMul / MatMulShared / RowToF32 on block-quantized weights (Q8_0, Q4_0, Q4_1), on every SIMD
// target this build compiled and the CPU supports, against the scalar reference and against an
// independent double-precision evaluation of the same integer formula.
//
// Decode (M <= 4): every path computes the same exact int32 block sums; the f32 part differs. The
// x86 bodies scale each vector lane's partial sum (not the block sum) and add them, so the bound
// is 2·(nb + 8)·ε·Σ_b |d_w·d_x|·Σ_i(|level_i| + offset)·|q_x,i| (+ the Q4_1 min terms, bias). A
// second test makes every f32 operation exact (power-of-two scales), so any integer difference
// shows as inequality.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "util/kernel_targets.h"
#include "kernels/ops.h"
#include "kernels/matmul_quant_internal.h"
#include "kernels/quant_blocks.h"

namespace fastvlm::kernels {
namespace {

constexpr float kEps = 1.0f / (1 << 24);
constexpr WType kTypes[] = {WType::kQ8_0, WType::kQ4_0, WType::kQ4_1};

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Random bytes (Q8_0 includes −128) with random f16 scales; `exact` uses d = 2^-4, m = 2^-3.
std::vector<uint8_t> RandomBlocks(WType t, int64_t rows, int64_t cols, uint32_t seed, bool exact) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> sd(0.0f, 0.01f);
  std::vector<uint8_t> w(rows * RowBytes(t, cols));
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const int64_t bb = BlockBytes(t);
  for (int64_t b = 0; b < static_cast<int64_t>(w.size()) / bb; ++b) {
    const uint16_t d = F32ToF16(exact ? 0.0625f : sd(rng)), m = F32ToF16(exact ? -0.125f : sd(rng));
    std::memcpy(w.data() + b * bb, &d, 2);
    if (t == WType::kQ4_1) std::memcpy(w.data() + b * bb + 2, &m, 2);
  }
  return w;
}

int WeightLevel(WType t, const uint8_t* blk, int i) {
  if (t == WType::kQ8_0) return static_cast<int8_t>(blk[2 + i]);
  const uint8_t* qs = blk + (t == WType::kQ4_1 ? 4 : 2);
  const int q = i < 16 ? (qs[i] & 15) : (qs[i - 16] >> 4);
  return t == WType::kQ4_0 ? q - 8 : q;
}

// The decode formula in double from the raw bytes; *abs_sum gets Σ|terms| for the error bound.
double Expected(WType t, const Matrix& w, int64_t n, const std::vector<BlockQ8X>& xq,
                double* abs_sum) {
  const int64_t nb = w.cols / 32, bb = BlockBytes(t);
  double s = 0, a = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w.Row(n) + b * bb;
    uint16_t dh, mh;
    std::memcpy(&dh, blk, 2);
    int64_t isum = 0, iabs = 0;
    // The SIMD bodies may offset the levels (Q8_0 by 128 for u8×s8, Q4_0 by 8) and correct with
    // the sum of x: their lane partial sums are bounded by Σ(|level| + offset)·|q_x|.
    const int off = t == WType::kQ8_0 ? 128 : t == WType::kQ4_0 ? 8 : 0;
    for (int i = 0; i < 32; ++i) {
      isum += WeightLevel(t, blk, i) * xq[b].qs[i];
      iabs += (std::abs(WeightLevel(t, blk, i)) + off) * std::abs(xq[b].qs[i]);
    }
    const double scale = double(F16ToF32(dh)) * xq[b].d;
    s += scale * isum;
    a += std::fabs(scale) * iabs;
    if (t == WType::kQ4_1) {
      std::memcpy(&mh, blk + 2, 2);
      const double mt = double(F16ToF32(mh)) * xq[b].d * xq[b].sum;
      s += mt;
      a += std::fabs(mt);
    }
  }
  *abs_sum = a;
  return s;
}

class QuantOnTarget : public ::fastvlm::testing::OnEveryTarget {};

// Runs the test body with the intrinsics bodies (x86 VBMI / VNNI / AVX2, ARM SDOT: whichever
// the target and CPU select) and again with the Highway body forced on the same target.
class QuantBodies : public QuantOnTarget {
 protected:
  template <typename F>
  void ForEachBody(F&& f) {
    for (bool intrinsics : {true, false}) {
      SetQuantIntrinsicsBodies(intrinsics);
      std::printf("  %s: decode kernel %s\n", GetParam().c_str(), QuantGemvKernelName());
      f();
      SetQuantIntrinsicsBodies(true);
      if (HasFatalFailure()) return;
    }
  }
};

TEST_P(QuantBodies, DecodeMatchesReference) { ForEachBody([&] {
  ThreadPool pool(2);
  for (WType t : kTypes) {
    for (int64_t M : {1, 2, 3, 4}) {
      for (int64_t N : {1, 5, 17, 67}) {
        // 32, 96, 160: not multiples of 64 / 128 / 256 (every block-pair / vector remainder);
        // 512: 16 blocks (one full group of the M = 1 AVX-512 body, no tail); 544 / 672: one
        // group + a tail of 1 / 5 blocks (partial 4-block subgroup); 4864: Qwen2's down_proj.
        // 32 / 64 / 256: 1 / 2 / 8 blocks, where the VBMI body packs 16 / 8 / 2 rows into one
        // group.
        for (int64_t K : {32, 64, 96, 160, 256, 512, 544, 672, 896, 4864}) {
          const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 100 + N + K, false);
          const Matrix w{t, wb.data(), N, K};
          const int64_t ldx = K + 5, ldy = N + 1, nb = K / 32;
          std::vector<float> x = Random(M * ldx, 7 + M), bias = Random(N, 9);
          std::vector<float> y(M * ldy, -1.0f), yr(M * ldy, -1.0f);
          MatMul(x.data(), ldx, M, w, bias.data(), y.data(), ldy, pool);
          ref::MatMul(x.data(), ldx, M, w, bias.data(), yr.data(), ldy);
          std::vector<BlockQ8X> xq(nb);
          for (int64_t m = 0; m < M; ++m) {
            QuantizeRowQ8X(x.data() + m * ldx, K, xq.data());
            for (int64_t n = 0; n < N; ++n) {
              double abs_sum;
              const double e = Expected(t, w, n, xq, &abs_sum) + bias[n];
              const double tol = 2.0 * (nb + 8) * kEps * (abs_sum + std::fabs(bias[n]));
              const float got = y[m * ldy + n], want = yr[m * ldy + n];
              ASSERT_NEAR(got, want, tol) << WTypeName(t) << " M=" << M << " N=" << N << " K=" << K
                                          << " m=" << m << " n=" << n << " on " << GetParam();
              ASSERT_NEAR(want, e, tol) << "reference vs double, " << WTypeName(t);
            }
            EXPECT_EQ(y[m * ldy + N], -1.0f) << "wrote past the row";
          }
        }
      }
    }
  }
}); }

TEST_P(QuantBodies, IntegerSumsExact) { ForEachBody([&] {
  // d_w = 2^-4, m = 2^-3, and each x block holds ±127 with integer values, so d_x = 1 and
  // q_x = x: every product and partial sum is exact in f32 and all paths must agree bit for bit.
  ThreadPool pool(2);
  const int64_t N = 37;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> q(-127, 127);
  for (int64_t K : {896, 544, 4864, 64})
  for (WType t : kTypes) {
    const int64_t nb = K / 32;
    const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 77, true);
    const Matrix w{t, wb.data(), N, K};
    for (int64_t M : {1, 2, 3, 4}) {
      std::vector<float> x(M * K);
      for (auto& v : x) v = static_cast<float>(q(rng));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t b = 0; b < nb; ++b) x[m * K + b * 32 + (b % 32)] = (b & 1) ? 127.0f : -127.0f;
      std::vector<float> y(M * N), yr(M * N);
      MatMul(x.data(), K, M, w, nullptr, y.data(), N, pool);
      ref::MatMul(x.data(), K, M, w, nullptr, yr.data(), N);
      std::vector<BlockQ8X> xq(nb);
      for (int64_t m = 0; m < M; ++m) {
        QuantizeRowQ8X(x.data() + m * K, K, xq.data());
        for (int64_t n = 0; n < N; ++n) {
          double unused;
          ASSERT_EQ(y[m * N + n], yr[m * N + n]) << WTypeName(t) << " M=" << M << " n=" << n;
          ASSERT_EQ(yr[m * N + n], Expected(t, w, n, xq, &unused)) << WTypeName(t);
        }
      }
    }
  }
}); }

TEST_P(QuantOnTarget, PrefillMatchesDequantizedProduct) {
  // M > 4 without the int8 path multiplies dequantized weights (bf16 panels with the bf16 dot
  // product, else f32).
  ThreadPool pool(2);
  SetQuantPrefillInt8(false);
  for (WType t : kTypes) {
    for (int64_t M : {5, 9, 70}) {
      const int64_t N = 83, K = 160, ldx = K + 3, ldy = N + 2;
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 11 + M, false);
      const Matrix w{t, wb.data(), N, K};
      std::vector<float> wf(N * K);
      for (int64_t n = 0; n < N; ++n) RowToF32(w, n, wf.data() + n * K);
      const Matrix wm{WType::kF32, wf.data(), N, K};
      std::vector<float> x = Random(M * ldx, 3), bias = Random(N, 4);
      std::vector<float> y(M * ldy, -1.0f), yr(M * ldy, -1.0f);
      MatMul(x.data(), ldx, M, w, bias.data(), y.data(), ldy, pool);
      ref::MatMul(x.data(), ldx, M, wm, bias.data(), yr.data(), ldy);
      // bf16 rounding of x and w: relative 2^-8 per product (two half-ulps of 2^-8... ≤ 2^-8).
      const double rel = HasBF16DotProduct() ? 0x1p-8 : 2.0 * (K + 1) * kEps;
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
          double abs_sum = std::fabs(bias[n]);
          for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(x[m * ldx + k] * wf[n * K + k]);
          ASSERT_NEAR(y[m * ldy + n], yr[m * ldy + n], rel * abs_sum + 2.0 * (K + 1) * kEps * abs_sum)
              << WTypeName(t) << " M=" << M << " m=" << m << " n=" << n;
        }
        EXPECT_EQ(y[m * ldy + N], -1.0f);
      }
    }
  }
  SetQuantPrefillInt8(true);
}

TEST_P(QuantOnTarget, PrefillPackingSameBitsEveryBody) {
  // The AVX-512 packing of block rows into bf16 panels must produce exactly the panels of the
  // scalar DequantizeRow + F32ToBF16 path: the prefill results are then bit-identical. N = 83
  // leaves a partial panel; K = 896 and 4864 are the 0.5B's shapes.
  ThreadPool pool(2);
  SetQuantPrefillInt8(false);
  for (WType t : kTypes) {
    for (int64_t K : {160, 896, 4864}) {
      const int64_t N = 83, M = 9;
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 21 + K, false);
      const Matrix w{t, wb.data(), N, K};
      std::vector<float> x = Random(M * K, 5);
      std::vector<float> y(M * N), y_hwy(M * N);
      MatMul(x.data(), K, M, w, nullptr, y.data(), N, pool);
      SetQuantIntrinsicsBodies(false);
      MatMul(x.data(), K, M, w, nullptr, y_hwy.data(), N, pool);
      SetQuantIntrinsicsBodies(true);
      for (int64_t i = 0; i < M * N; ++i)
        ASSERT_EQ(y[i], y_hwy[i]) << WTypeName(t) << " K=" << K << " i=" << i << " on " << GetParam();
    }
  }
  SetQuantPrefillInt8(true);
}

TEST_P(QuantOnTarget, PrefillInt8EqualsTheQuantizedProduct) {
  // The int8 prefill (AVX-512 VNNI, ARM64 SDOT; elsewhere this checks the float-panel path,
  // which it also bounds) against Σ_k w_k·(d_x·q_x,k) in double, x quantized by the scalar QuantizeRowQ8X: the
  // integer sums are exact, so only the f32 rounding of d_w·d_x, the per-block products and the
  // block sum remains: ≤ 4·(nb + 2)·2^-24 · Σ|terms| (+ bias). M covers the 8-row tiles and every
  // remainder; N = 83 a partial panel; ldx/ldy strides.
  ThreadPool pool(2);
  const bool int8 = std::string(QuantPrefillKernelName()).rfind("int8-", 0) == 0;
  for (WType t : kTypes) {
    for (int64_t K : {160, 896}) {
      for (int64_t M : {5, 8, 9, 15, 23}) {
        const int64_t N = 83, ldx = K + 5, ldy = N + 3, nb = K / 32;
        const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 41 + M + K, false);
        const Matrix w{t, wb.data(), N, K};
        std::vector<float> x = Random(M * ldx, 7 + M), bias = Random(N, 8);
        std::vector<float> y(M * ldy, -1.0f);
        MatMul(x.data(), ldx, M, w, bias.data(), y.data(), ldy, pool);
        std::vector<BlockQ8X> xq(nb);
        std::vector<float> wrow(K);
        for (int64_t m = 0; m < M; ++m) {
          QuantizeRowQ8X(x.data() + m * ldx, K, xq.data());
          for (int64_t n = 0; n < N; ++n) {
            RowToF32(w, n, wrow.data());
            double ref = bias[n], abs_sum = std::fabs(bias[n]), xabs = std::fabs(bias[n]);
            for (int64_t k = 0; k < K; ++k) {
              const double xv = double{xq[k / 32].d} * xq[k / 32].qs[k % 32];
              ref += wrow[k] * xv;
              abs_sum += std::fabs(wrow[k] * xv);
              xabs += std::fabs(wrow[k] * x[m * ldx + k]);
            }
            if (int8) {
              ASSERT_NEAR(y[m * ldy + n], ref, 4.0 * (nb + 2) * kEps * abs_sum)
                  << WTypeName(t) << " K=" << K << " M=" << M << " m=" << m << " n=" << n;
            } else {
              // Float panels: x itself (bf16-rounded at worst), so the distance to the quantized
              // product is at most x's quantization error (half a step, amax/254 per block).
              ASSERT_NEAR(y[m * ldy + n], ref, 0x1p-8 * xabs + 0.01 * xabs);
            }
          }
          EXPECT_EQ(y[m * ldy + N], -1.0f);
        }
      }
    }
  }
}

TEST_P(QuantOnTarget, PrefillInt8AmxIsTheVnniBodyBitForBit) {
  // AMX-INT8 tiles (tdpbssd on signed levels, x padded to 16-row tiles) compute the same exact
  // block sums as the VNNI body and scale them with the same f32 operations in the same order,
  // so y must be identical. M covers one and two x tiles, partial tiles and a third tile; N the
  // per-task panel counts 4, 3 (64 + 48) and 2 with a partial panel (64 + 19); K one block more
  // than a tile pair's step and the model's 896 and 4864.
  if (std::string(QuantPrefillKernelName()) != "int8-amx")
    GTEST_SKIP() << "no AMX-INT8 int8 prefill on " << GetParam() << " here ("
                 << QuantPrefillKernelName() << ")";
  ThreadPool pool(2);
  for (WType t : kTypes) {
    for (int64_t K : {96, 896, 4864}) {
      for (int64_t M : {16, 17, 31, 32, 45, 48, 70}) {
        for (int64_t N : {64, 112, 83}) {
          if (K == 4864 && N != 83) continue;
          const int64_t ldx = K + 3, ldy = N + 1;
          const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 61 + M + K + N, false);
          const Matrix w{t, wb.data(), N, K};
          const std::vector<float> x = Random(M * ldx, 17 + M), bias = Random(N, 18);
          std::vector<float> y_amx(M * ldy, -1.0f), y_vnni(M * ldy, -1.0f);
          MatMul(x.data(), ldx, M, w, bias.data(), y_amx.data(), ldy, pool);
          SetAmx(false);
          MatMul(x.data(), ldx, M, w, bias.data(), y_vnni.data(), ldy, pool);
          SetAmx(true);
          ASSERT_EQ(0, std::memcmp(y_amx.data(), y_vnni.data(), y_amx.size() * sizeof(float)))
              << WTypeName(t) << " K=" << K << " M=" << M << " N=" << N;
        }
      }
    }
  }
}

// A 64-byte-aligned copy of w's decode panels, packed in two group ranges (the loader runs
// ranges in parallel).
struct Panels {
  std::vector<uint8_t> buf;
  Matrix m;
  explicit Panels(const Matrix& w) : buf(DecodePanelBytes(w) + 64), m(w) {
    auto* p = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
    const int64_t groups = w.rows / 64;
    PackDecodePanels(w, 0, groups / 2, p);
    PackDecodePanels(w, groups / 2, groups, p);
    m.panels = p;
  }
};

TEST_P(QuantOnTarget, DecodePanelsAreTheReferenceBitForBit) {
  // Where panels are active (AVX-512 VNNI with an AVX-512 target) the panel GEMV computes
  // QuantRowsRef's y bit for bit: the same integer sums, scaled and added in the same order.
  // Elsewhere MatMul must ignore the panels: the same bits as without them.
  ThreadPool pool(2);
  const bool active = DecodePanelsActive();
  std::printf("  %s: decode panels %s\n", GetParam().c_str(), active ? "active" : "ignored");
  for (WType t : {WType::kQ8_0, WType::kQ4_0}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{64, 32}, {64, 64}, {128, 896}, {192, 4864},
                        {1024, 896}, {320, 544}}) {
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 300 + N + K, false);
      const Matrix w{t, wb.data(), N, K};
      ASSERT_TRUE(DecodePanelsFit(w));
      const Panels pw(w);
      for (int64_t M : {1, 2, 4}) {
        const int64_t ldx = K + 3, ldy = N + 1;
        std::vector<float> x = Random(M * ldx, 17 + M), bias = Random(N, 19);
        for (const float* b : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
          std::vector<float> y(M * ldy, -1.0f), yr(M * ldy, -1.0f), y0(M * ldy, -1.0f);
          MatMul(x.data(), ldx, M, pw.m, b, y.data(), ldy, pool);
          if (active) {
            ref::MatMul(x.data(), ldx, M, w, b, yr.data(), ldy);
          } else {
            MatMul(x.data(), ldx, M, w, b, yr.data(), ldy, pool);
          }
          for (int64_t i = 0; i < M * ldy; ++i)
            ASSERT_EQ(y[i], yr[i]) << WTypeName(t) << " N=" << N << " K=" << K << " M=" << M
                                   << " i=" << i << (b ? " with bias" : "") << " on " << GetParam();
          SetDecodePanels(false);  // the switch turns them off
          MatMul(x.data(), ldx, M, pw.m, b, y0.data(), ldy, pool);
          SetDecodePanels(true);
          std::vector<float> y1(M * ldy, -1.0f);
          MatMul(x.data(), ldx, M, w, b, y1.data(), ldy, pool);
          ASSERT_EQ(y0, y1) << "SetDecodePanels(false) must ignore the panels";
        }
      }
    }
  }
}

TEST_P(QuantOnTarget, DecodePanelsSharedTargets) {
  // q / k / v of one x in one MatMulShared call, every chunk boundary a row group.
  ThreadPool pool(2);
  for (WType t : {WType::kQ8_0, WType::kQ4_0}) {
    const int64_t K = 896;
    const std::vector<uint8_t> a = RandomBlocks(t, 896, K, 1, false), b = RandomBlocks(t, 128, K, 2, false),
                               c = RandomBlocks(t, 64, K, 3, false);
    const Matrix wa{t, a.data(), 896, K}, wb{t, b.data(), 128, K}, wc{t, c.data(), 64, K};
    const Panels pa(wa), pb(wb), pc(wc);
    std::vector<float> x = Random(K, 4), bias = Random(896, 5);
    std::vector<float> ya(896), yb(128), yc(64), ra(896), rb(128), rc(64);
    MatMulTarget tg[3] = {{&pa.m, bias.data(), ya.data(), 896}, {&pb.m, nullptr, yb.data(), 128},
                          {&pc.m, nullptr, yc.data(), 64}};
    MatMulShared(x.data(), K, 1, tg, 3, pool);
    MatMul(x.data(), K, 1, pa.m, bias.data(), ra.data(), 896, pool);
    MatMul(x.data(), K, 1, pb.m, nullptr, rb.data(), 128, pool);
    MatMul(x.data(), K, 1, pc.m, nullptr, rc.data(), 64, pool);
    EXPECT_EQ(ya, ra);
    EXPECT_EQ(yb, rb);
    EXPECT_EQ(yc, rc);
    if (!DecodePanelsActive()) continue;
    // Mixed: a panels-only q beside a k too short for panels (32 rows), as in a small model.
    const std::vector<uint8_t> d = RandomBlocks(t, 32, K, 6, false);
    const Matrix wd{t, d.data(), 32, K};
    Matrix qa = pa.m;
    qa.data = nullptr;
    std::vector<float> yd(32), rd(32);
    MatMulTarget mixed[2] = {{&qa, bias.data(), ya.data(), 896}, {&wd, nullptr, yd.data(), 32}};
    MatMulShared(x.data(), K, 1, mixed, 2, pool);
    MatMul(x.data(), K, 1, wd, nullptr, rd.data(), 32, pool);
    EXPECT_EQ(ya, ra);
    EXPECT_EQ(yd, rd);
  }
}

TEST_P(QuantOnTarget, PrefillFromDecodePanelsSameBits) {
  // The int8 prefill packs its panels from the decode panels when a matrix has them: the same
  // panels, so the same bits as packing from the blocks as stored.
  ThreadPool pool(2);
  for (WType t : {WType::kQ8_0, WType::kQ4_0}) {
    for (int64_t K : {64, 896, 4864}) {
      const int64_t N = 192, M = 9;
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 500 + K, false);
      const Matrix w{t, wb.data(), N, K};
      const Panels pw(w);
      std::vector<float> x = Random(M * K, 6), bias = Random(N, 7);
      std::vector<float> y(M * N), y0(M * N);
      MatMul(x.data(), K, M, pw.m, bias.data(), y.data(), N, pool);
      MatMul(x.data(), K, M, w, bias.data(), y0.data(), N, pool);
      ASSERT_EQ(y, y0) << WTypeName(t) << " K=" << K << " on " << GetParam();
    }
  }
}

TEST(DecodePanels, UnpackIsTheInverseOfPack) {
  for (WType t : {WType::kQ8_0, WType::kQ4_0}) {
    for (auto [N, K] : {std::pair<int64_t, int64_t>{64, 32}, {128, 896}, {192, 4864}}) {
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 700 + K, false);
      const Matrix w{t, wb.data(), N, K};
      const Panels pw(w);
      std::vector<uint8_t> back(wb.size(), 0xAB);
      UnpackDecodePanels(pw.m, 0, N, back.data());
      ASSERT_EQ(back, wb) << WTypeName(t) << " N=" << N << " K=" << K;
      const int64_t rb = RowBytes(t, K);
      std::vector<uint8_t> some(3 * rb);
      UnpackDecodePanels(pw.m, 61, 3, some.data());  // across a group boundary
      ASSERT_TRUE(std::equal(some.begin(), some.end(), wb.begin() + 61 * rb));
    }
  }
}

TEST_P(QuantOnTarget, PanelsOnlyMatricesComputeTheSame) {
  // A matrix whose weights exist only as panels (data null, as loaded from a GGUF that stores
  // them): row dequantization, decode (where panels are active) and prefill, with f32 and int8
  // activations, give the bits of the matrix as stored with the same panels.
  ThreadPool pool(2);
  for (WType t : {WType::kQ8_0, WType::kQ4_0}) {
    const int64_t N = 128, K = 896;
    const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 900, false);
    const Matrix w{t, wb.data(), N, K};
    const Panels pw(w);
    Matrix only = pw.m;
    only.data = nullptr;
    std::vector<float> a(K), b(K);
    for (int64_t r : {0, 63, 64, 127}) {
      RowToF32(w, r, a.data());
      RowToF32(only, r, b.data());
      ASSERT_EQ(a, b) << WTypeName(t) << " row " << r;
    }
    for (int64_t M : {1, 3, 9, 70}) {
      if (M <= 4 && !DecodePanelsActive()) continue;  // the loader never keeps data null there
      std::vector<float> x = Random(M * K, 31 + M), y(M * N), y0(M * N);
      for (bool f32_x : {false, true}) {
        std::vector<float> y1(M * N);
        MatMulTarget tg{&only, nullptr, y.data(), N, f32_x}, tg0{&pw.m, nullptr, y0.data(), N, f32_x};
        MatMulShared(x.data(), K, M, &tg, 1, pool);
        MatMulShared(x.data(), K, M, &tg0, 1, pool);
        ASSERT_EQ(y, y0) << WTypeName(t) << " M=" << M << (f32_x ? " f32_x" : "") << " on " << GetParam();
      }
    }
  }
}

TEST(QuantActivations, X86QuantizerHasTheScalarBits) {
  // QuantizeRowQ8XX86 (the int8 prefill's) against the scalar QuantizeRowQ8X: ties at .5 of a
  // step both ways, zeros, a zero block, denormals, huge values, the ±127 clamp.
  std::vector<float> x = Random(32 * 64, 9, 3.0f);
  for (int i = 0; i < 32; ++i) x[32 + i] = (i - 16) * 0.5f;        // d = 8/127: many exact .5s
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;                     // zero block
  for (int i = 0; i < 32; ++i) x[96 + i] = (i % 2 ? 1 : -1) * 1e-40f * i;  // denormals
  for (int i = 0; i < 32; ++i) x[128 + i] = (i - 15.5f) * 1e30f;     // huge
  for (int i = 0; i < 32; ++i) x[160 + i] = (i - 16) * (127.0f / 16) + 0.5f;  // half-steps
  const int64_t nb = static_cast<int64_t>(x.size()) / 32;
  std::vector<BlockQ8X> a(nb), b(nb);
  QuantizeRowQ8X(x.data(), static_cast<int64_t>(x.size()), a.data());
  if (!QuantizeRowQ8XX86(x.data(), static_cast<int64_t>(x.size()), b.data()))
    GTEST_SKIP() << "no AVX-512 VNNI on this CPU: the x86 quantizer is not used";
  for (int64_t k = 0; k < nb; ++k) {
    ASSERT_EQ(std::memcmp(&a[k].d, &b[k].d, 4), 0) << "block " << k;
    ASSERT_EQ(a[k].sum, b[k].sum) << "block " << k;
    for (int i = 0; i < 32; ++i) ASSERT_EQ(a[k].qs[i], b[k].qs[i]) << "block " << k << " i " << i;
  }
}

TEST_P(QuantOnTarget, PackMatrixOfBlocksIsTheBF16PackOfTheDequantizedRows) {
  // `--vision-type q8_0`: the vision GEMM packs a block matrix as the bf16 matrix of its
  // dequantized rows (rounded to nearest even). N = 83: a partial 16-row panel.
  for (WType t : kTypes) {
    for (int64_t K : {64, 384}) {
      const int64_t N = 83;
      const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 31 + K, false);
      const Matrix w{t, wb.data(), N, K};
      ASSERT_EQ(PackedTypeFor(t), WType::kBF16);
      std::vector<uint16_t> bf(N * K);
      std::vector<float> row(K);
      for (int64_t n = 0; n < N; ++n) {
        DequantizeRow(w, n, row.data());
        for (int64_t k = 0; k < K; ++k) bf[n * K + k] = F32ToBF16(row[k]);
      }
      const Matrix wbf{WType::kBF16, bf.data(), N, K};
      const size_t bytes = static_cast<size_t>(PackedMatrixBytes(WType::kBF16, N, K));
      std::vector<uint8_t> a(bytes, 0xAB), b(bytes, 0xCD);
      const PackedMatrix pa = PackMatrix(w, a.data());
      PackMatrix(wbf, b.data());
      EXPECT_EQ(pa.type, WType::kBF16);
      ASSERT_EQ(a, b) << WTypeName(t) << " K=" << K << " on " << GetParam();
    }
  }
}

TEST_P(QuantOnTarget, SharedMixedTypesEqualSeparateCalls) {
  ThreadPool pool(2);
  const int64_t K = 96;
  const std::vector<uint8_t> a8 = RandomBlocks(WType::kQ8_0, 70, K, 1, false);
  const std::vector<uint8_t> b4 = RandomBlocks(WType::kQ4_0, 17, K, 2, false);
  const std::vector<uint8_t> c41 = RandomBlocks(WType::kQ4_1, 5, K, 3, false);
  std::vector<uint16_t> dbf(9 * K);
  for (size_t i = 0; i < dbf.size(); ++i) dbf[i] = F32ToBF16(0.01f * static_cast<float>(i % 13) - 0.06f);
  const Matrix ma{WType::kQ8_0, a8.data(), 70, K}, mb{WType::kQ4_0, b4.data(), 17, K},
      mc{WType::kQ4_1, c41.data(), 5, K}, md{WType::kBF16, dbf.data(), 9, K};
  const Matrix* ms[4] = {&ma, &mb, &mc, &md};
  for (int64_t M : {1, 3, 9}) {
    std::vector<float> x = Random(M * K, 4), bias = Random(70, 5);
    std::vector<std::vector<float>> ys(4), rs(4);
    MatMulTarget ts[4];
    for (int i = 0; i < 4; ++i) {
      ys[i].assign(M * ms[i]->rows, 0.0f);
      rs[i].assign(M * ms[i]->rows, 1.0f);
      ts[i] = {ms[i], bias.data(), ys[i].data(), ms[i]->rows};
    }
    MatMulShared(x.data(), K, M, ts, 4, pool);
    for (int i = 0; i < 4; ++i) {
      MatMul(x.data(), K, M, *ms[i], bias.data(), rs[i].data(), ms[i]->rows, pool);
      ASSERT_EQ(ys[i], rs[i]) << "target " << i << " M=" << M;
    }
    // All three Q8_0-shaped targets of one type share one pass too.
    MatMulTarget same[2] = {{&ma, nullptr, ys[0].data(), 70}, {&ma, nullptr, rs[0].data(), 70}};
    MatMulShared(x.data(), K, M, same, 2, pool);
    ASSERT_EQ(ys[0], rs[0]);
  }
}

TEST_P(QuantOnTarget, RowToF32Dequantizes) {
  for (WType t : kTypes) {
    const int64_t N = 3, K = 96;
    const std::vector<uint8_t> wb = RandomBlocks(t, N, K, 8, false);
    const Matrix w{t, wb.data(), N, K};
    EXPECT_EQ(w.Row(2) - w.Row(0), 2 * RowBytes(t, K));
    std::vector<float> out(K), r(K);
    for (int64_t n = 0; n < N; ++n) {
      RowToF32(w, n, out.data());
      ref::RowToF32(w, n, r.data());
      for (int64_t k = 0; k < K; ++k) {
        const uint8_t* blk = w.Row(n) + (k / 32) * BlockBytes(t);
        uint16_t dh, mh;
        std::memcpy(&dh, blk, 2);
        float want = static_cast<float>(WeightLevel(t, blk, k % 32)) * F16ToF32(dh);
        if (t == WType::kQ4_1) {
          std::memcpy(&mh, blk + 2, 2);
          want = want + F16ToF32(mh);
        }
        ASSERT_EQ(out[k], want) << WTypeName(t) << " n=" << n << " k=" << k;
        ASSERT_EQ(r[k], want);
      }
    }
  }
}

TEST(QuantActivations, RoundTripAndRange) {
  std::vector<float> x = Random(96, 1, 3.0f);
  x[0] = 0.5f;  // a tie after scaling is not guaranteed; check the invariants instead
  std::vector<BlockQ8X> q(3);
  QuantizeRowQ8X(x.data(), 96, q.data());
  for (int b = 0; b < 3; ++b) {
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      ASSERT_GE(q[b].qs[i], -127);
      ASSERT_LE(std::fabs(x[b * 32 + i] - q[b].d * q[b].qs[i]), q[b].d * 0.5f * (1 + 1e-5f));
      sum += q[b].qs[i];
    }
    EXPECT_EQ(sum, q[b].sum);
  }
  std::vector<float> z(32, 0.0f);
  QuantizeRowQ8X(z.data(), 32, q.data());
  EXPECT_EQ(q[0].d, 0.0f);
  EXPECT_EQ(q[0].sum, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, QuantBodies, ::testing::ValuesIn(AvailableTargets()),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(AllTargets, QuantOnTarget, ::testing::ValuesIn(AvailableTargets()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fastvlm::kernels
