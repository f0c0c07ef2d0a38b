// quant/metrics.h against values derived by hand.
#include "quant/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace fastvlm::quant {
namespace {

TEST(Metrics, LogSoftmaxOfKnownLogits) {
  // logits (0, ln 2, ln 3): probabilities 1/6, 2/6, 3/6.
  const float x[3] = {0.0f, std::log(2.0f), std::log(3.0f)};
  double out[3];
  LogSoftmax(x, 3, out);
  EXPECT_NEAR(out[0], std::log(1.0 / 6), 1e-7);
  EXPECT_NEAR(out[1], std::log(2.0 / 6), 1e-7);
  EXPECT_NEAR(out[2], std::log(3.0 / 6), 1e-7);
  // Shift invariance and no overflow for large logits.
  const float y[3] = {1000.0f, 1000.0f, 1000.0f};
  LogSoftmax(y, 3, out);
  for (double v : out) EXPECT_NEAR(v, -std::log(3.0), 1e-12);
}

TEST(Metrics, KlOfIdenticalDistributionsIsZero) {
  std::vector<float> a = {0.3f, -1.2f, 4.0f, 2.5f, 0.0f};
  std::vector<double> scratch;
  EXPECT_EQ(KlDivergence(a.data(), a.data(), 5, &scratch), 0.0);
  // Adding a constant to every logit changes nothing.
  std::vector<float> b = a;
  for (float& v : b) v += 7.0f;
  EXPECT_NEAR(KlDivergence(a.data(), b.data(), 5, &scratch), 0.0, 1e-12);
}

TEST(Metrics, KlOfTwoKnownThreeWayDistributions) {
  // P = (1/2, 1/4, 1/4) from logits (ln 2, 0, 0); Q = (1/3, 1/3, 1/3) from logits (0, 0, 0).
  // KL(P||Q) = 1/2 ln(3/2) + 2 * 1/4 ln(3/4) = 1/2 ln(9/8) = 0.0588915...
  // KL(Q||P) = 1/3 ln(2/3) + 2/3 ln(4/3) = 1/3 ln(32/27) = 0.0566330...
  const float p[3] = {std::log(2.0f), 0.0f, 0.0f};
  const float q[3] = {0.0f, 0.0f, 0.0f};
  std::vector<double> scratch;
  EXPECT_NEAR(KlDivergence(p, q, 3, &scratch), 0.5 * std::log(9.0 / 8.0), 1e-7);
  EXPECT_NEAR(KlDivergence(q, p, 3, &scratch), std::log(32.0 / 27.0) / 3.0, 1e-7);
  // Only the first n entries count (padding rows of the lm_head are excluded by the caller).
  const float p4[4] = {std::log(2.0f), 0.0f, 0.0f, 50.0f};
  const float q4[4] = {0.0f, 0.0f, 0.0f, -50.0f};
  EXPECT_NEAR(KlDivergence(p4, q4, 3, &scratch), 0.5 * std::log(9.0 / 8.0), 1e-7);
}

TEST(Metrics, ArgMaxTakesFirstOfTies) {
  const float x[5] = {1, 3, 2, 3, -1};
  EXPECT_EQ(ArgMax(x, 5), 1);
  EXPECT_EQ(ArgMax(x, 1), 0);
}

TEST(Metrics, PercentileInterpolatesLikeNumpy) {
  std::vector<double> v = {4, 1, 3, 2, 5};  // sorted 1..5
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 4.96);  // rank 0.99 * 4 = 3.96 -> 4 + 0.96 * (5 - 4)
  EXPECT_DOUBLE_EQ(Percentile({}, 99), 0);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
}

TEST(Metrics, PerplexityOfUniformIsVocabularySize) {
  const int n = 1000;
  std::vector<float> flat(n, 0.25f);
  PerplexityAccumulator acc;
  for (int t = 0; t < 10; ++t) acc.Add(flat.data(), n, t * 7);
  EXPECT_EQ(acc.count(), 10);
  EXPECT_NEAR(acc.Perplexity(), 1000.0, 1e-9);
  // A certain prediction: NLL ~ 0, perplexity ~ 1.
  PerplexityAccumulator sure;
  std::vector<float> peak(n, -1000.0f);
  peak[3] = 0;
  sure.Add(peak.data(), n, 3);
  EXPECT_NEAR(sure.Perplexity(), 1.0, 1e-12);
  // p(target) = 1/2 and 1/4: perplexity exp((ln 2 + ln 4) / 2) = sqrt(8).
  PerplexityAccumulator mix;
  const float two[2] = {0, 0};
  const float four[4] = {0, 0, 0, 0};
  mix.Add(two, 2, 1);
  mix.Add(four, 4, 0);
  EXPECT_NEAR(mix.Perplexity(), std::sqrt(8.0), 1e-12);
  EXPECT_EQ(PerplexityAccumulator().Perplexity(), 0.0);
}

TEST(Metrics, StatsAndPrefix) {
  DistributionStats s;
  s.Add(0.1, true);
  s.Add(0.3, false);
  s.Add(0.2, true);
  s.Add(0.0, true);
  EXPECT_EQ(s.positions(), 4);
  EXPECT_NEAR(s.Mean(), 0.15, 1e-15);
  EXPECT_DOUBLE_EQ(s.Max(), 0.3);
  EXPECT_DOUBLE_EQ(s.Top1(), 0.75);
  EXPECT_NEAR(s.P99(), 0.2 + 0.97 * 0.1, 1e-12);  // rank 2.97 of sorted (0, .1, .2, .3)
  EXPECT_EQ(CommonPrefix({1, 2, 3, 4}, {1, 2, 5, 4}), 2);
  EXPECT_EQ(CommonPrefix({1, 2}, {1, 2, 3}), 2);
  EXPECT_EQ(CommonPrefix({}, {1}), 0);
}

}  // namespace
}  // namespace fastvlm::quant
