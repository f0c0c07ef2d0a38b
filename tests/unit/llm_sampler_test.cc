// Sampler: greedy, padding-row masking, seeds, top-k / top-p / min-p, temperature and the
// repetition penalty. Distribution checks draw many samples and allow 5 standard deviations.
#include "llm/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace fastvlm::llm {
namespace {

std::vector<int32_t> Draw(const SamplerOptions& opt, const std::vector<float>& logits, int n,
                          int valid = 0) {
  Sampler s(opt, valid);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = logits;
    out.push_back(s.Sample(l.data(), static_cast<int>(l.size()), {}));
  }
  return out;
}

TEST(Sampler, GreedyIsArgmaxAndMasksPaddingRows) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.5f, 9.0f};
  SamplerOptions opt;  // temperature 0
  EXPECT_EQ(Draw(opt, logits, 1)[0], 4);
  // Row 4 is a padding row of the embedding matrix (valid vocabulary = 4 ids): never chosen.
  EXPECT_EQ(Draw(opt, logits, 1, /*valid=*/4)[0], 1);
  opt.temperature = 1.0f;
  for (int id : Draw(opt, logits, 500, 4)) EXPECT_LT(id, 4);
}

TEST(Sampler, SeedMakesSamplingReproducible) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = std::sin(i * 0.7f) * 2;
  SamplerOptions opt;
  opt.temperature = 1.0f;
  opt.seed = 42;
  const auto a = Draw(opt, logits, 200), b = Draw(opt, logits, 200);
  EXPECT_EQ(a, b);
  opt.seed = 43;
  EXPECT_NE(Draw(opt, logits, 200), a);
}

TEST(Sampler, TemperatureFollowsSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f, 2.5f};
  for (float temp : {1.0f, 0.5f, 2.0f}) {
    SamplerOptions opt;
    opt.temperature = temp;
    opt.seed = 7;
    const int n = 40000;
    std::map<int, int> count;
    for (int id : Draw(opt, logits, n)) count[id]++;
    double z = 0;
    for (float l : logits) z += std::exp(l / temp);
    for (int i = 0; i < 4; ++i) {
      const double p = std::exp(logits[i] / temp) / z;
      const double sd = std::sqrt(n * p * (1 - p));
      EXPECT_NEAR(count[i], n * p, 5 * sd + 1) << "temperature " << temp << " id " << i;
    }
  }
}

TEST(Sampler, TopKTopPMinPRestrictTheCandidates) {
  std::vector<float> logits(300);
  for (int i = 0; i < 300; ++i) logits[i] = -0.01f * i;  // nearly flat, id 0 most likely
  logits[7] = 3.0f;
  logits[11] = 2.9f;
  SamplerOptions opt;
  opt.temperature = 1.0f;
  opt.seed = 1;
  opt.top_k = 2;
  for (int id : Draw(opt, logits, 300)) EXPECT_TRUE(id == 7 || id == 11) << id;
  opt.top_k = 1;
  for (int id : Draw(opt, logits, 50)) EXPECT_EQ(id, 7);
  // top-p: ids 7 and 11 hold 15.2% and 13.8% of the mass here (Z ≈ 131.8); the smallest set
  // reaching p = 0.05 is {7}, reaching p = 0.2 is {7, 11}.
  opt.top_k = 0;
  opt.top_p = 0.05f;
  for (int id : Draw(opt, logits, 100)) EXPECT_EQ(id, 7);
  opt.top_p = 0.2f;
  std::map<int, int> seen;
  for (int id : Draw(opt, logits, 400)) seen[id]++;
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[7], 0);
  EXPECT_GT(seen[11], 0);
  // min-p: keep tokens with p >= 0.5 · p(top): 7 and 11 (ratio e^-0.1), not the flat tail
  // (ratio ~e^-3).
  opt.top_p = 1.0f;
  opt.min_p = 0.5f;
  for (int id : Draw(opt, logits, 300)) EXPECT_TRUE(id == 7 || id == 11) << id;
  // With a large vocabulary and top-p close to 1 the search must widen past its first block.
  opt.min_p = 0.0f;
  opt.top_p = 0.99f;
  std::map<int, int> wide;
  for (int id : Draw(opt, logits, 2000)) wide[id]++;
  EXPECT_GT(wide.size(), 100u);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplerOptions opt;
  opt.repetition_penalty = 2.0f;
  Sampler s(opt, 0);
  // id 0: 4.0 → 2.0 (seen), id 1: 3.0 (unseen) wins.
  std::vector<float> l = {4.0f, 3.0f, -1.0f};
  EXPECT_EQ(s.Sample(l.data(), 3, {0, 0, 0}), 1);
  EXPECT_FLOAT_EQ(l[0], 2.0f);  // penalized once even though it occurs three times
  // Negative logits are multiplied: -1 → -2.
  std::vector<float> m = {-1.0f, -1.5f};
  EXPECT_EQ(s.Sample(m.data(), 2, {0}), 1);
  EXPECT_FLOAT_EQ(m[0], -2.0f);
}

}  // namespace
}  // namespace fastvlm::llm
