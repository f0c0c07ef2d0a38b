// Single FastViTHD blocks at the real 0.5B widths against timm's own modules
// (tests/fixtures/fastvlm/blocks, made by tools/reference/make_fastvlm_fixtures.py): a RepMixer
// block at 384 channels on 64×64, an attention block at 768 on 32×32, and conv_exp + SE at
// 1536→3072 on 16×16. Weights and inputs are not stored; both sides generate them with the same
// splitmix64 PRNG. The fixture holds per-channel and per-pixel sums and 4096 sampled values.
//
// Gates (f32 weights, f32 reference): sampled values within 1e-4·max|ref|; each channel / pixel
// sum within 1e-4·(its Σ|ref|) — what the per-value gate implies for a sum.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "vision/fastvithd_blocks.h"

namespace fastvlm::vision::internal {
namespace {

const std::string kDir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/fastvlm/blocks/";

// tools/reference/make_fastvlm_fixtures.py prng_values, bit for bit.
std::vector<float> Prng(uint64_t seed, size_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    const double u = static_cast<double>(z >> 40) / static_cast<double>(1 << 24);
    v[i] = static_cast<float>(lo + (hi - lo) * u);
  }
  return v;
}

TEST(Prng, MatchesTheSpecification) {
  // Element 0 of seed 0 by hand: z = golden; then the three mixing steps.
  uint64_t z = 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  EXPECT_EQ(Prng(0, 1, 0.0, 1.0)[0], static_cast<float>(static_cast<double>(z >> 40) / 16777216.0));
}

struct Fixture {
  nlohmann::json doc;
  std::vector<float> data;
};

Fixture Load() {
  Fixture f;
  std::ifstream j(kDir + "blocks.json");
  EXPECT_TRUE(j.good());
  if (!j.good()) return f;
  f.doc = nlohmann::json::parse(j);
  std::ifstream d(kDir + f.doc["data"].get<std::string>(), std::ios::binary);
  d.seekg(0, std::ios::end);
  const size_t n = static_cast<size_t>(d.tellg()) / 4;
  d.seekg(0);
  f.data.resize(n);
  d.read(reinterpret_cast<char*>(f.data.data()), n * 4);
  return f;
}

// Every tensor of a block, generated.
struct Tensors {
  std::map<std::string, std::vector<float>> v;
  std::map<std::string, std::vector<int64_t>> shape;
  const std::vector<float>& operator[](const std::string& n) const {
    auto it = v.find(n);
    EXPECT_TRUE(it != v.end()) << "fixture lacks " << n;
    static const std::vector<float> empty;
    return it == v.end() ? empty : it->second;
  }
};

Tensors Generate(const nlohmann::json& block) {
  Tensors t;
  for (const auto& e : block["tensors"]) {
    size_t n = 1;
    std::vector<int64_t> shape;
    for (auto s : e["shape"]) {
      shape.push_back(s.get<int64_t>());
      n *= s.get<size_t>();
    }
    std::vector<float> v = Prng(e["seed"].get<uint64_t>(), n, e["lo"], e["hi"]);
    if (e["center_one"].get<bool>()) {  // identity folded into a depthwise kernel
      const int64_t k = shape[3], c = k / 2;
      for (int64_t o = 0; o < shape[0]; ++o) v[(o * k + c) * k + c] += 1.0f;
    }
    t.v[e["name"]] = std::move(v);
    t.shape[e["name"]] = shape;
  }
  return t;
}

void MakeFFN(const Tensors& t, int64_t C, const std::string& ls, ConvFFN* f) {
  MakeConvFFNConv(t["mlp.conv.conv.weight"].data(), C, 7, t["mlp.conv.bn.weight"].data(),
                  t["mlp.conv.bn.bias"].data(), t["mlp.conv.bn.running_mean"].data(),
                  t["mlp.conv.bn.running_var"].data(), 1e-5f, &f->conv);
  MakeLinear({kernels::WType::kF32, t["mlp.fc1.weight"].data(), 4 * C, C}, t["mlp.fc1.bias"], &f->fc1);
  MakeLinear({kernels::WType::kF32, t["mlp.fc2.weight"].data(), C, 4 * C}, t["mlp.fc2.bias"], &f->fc2);
  f->layer_scale = t[ls];
}

void Check(const Fixture& fx, const nlohmann::json& b, const std::vector<float>& y, int64_t H,
           int64_t W, int64_t C) {
  ASSERT_EQ(b["output_shape"], nlohmann::json({H, W, C}));
  const double max_abs = b["max_abs"];
  auto arr = [&](const char* k) { return fx.data.data() + b[k]["offset"].get<size_t>(); };
  const float *csum = arr("channel_sum"), *cabs = arr("channel_abs_sum"), *psum = arr("pixel_sum"),
              *pabs = arr("pixel_abs_sum"), *samp = arr("sample_values");
  double worst = 0;
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t p = 0; p < H * W; ++p) s += y[p * C + c];
    ASSERT_NEAR(s, csum[c], 1e-4 * cabs[c] + 1e-6) << b["name"] << " channel " << c;
  }
  for (int64_t p = 0; p < H * W; ++p) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += y[p * C + c];
    ASSERT_NEAR(s, psum[p], 1e-4 * pabs[p] + 1e-6) << b["name"] << " pixel " << p;
  }
  const int n = b["samples"]["count"];
  const size_t total = y.size();
  const std::vector<float> u = Prng(b["samples"]["seed"].get<uint64_t>(), n, 0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const size_t idx = std::min<size_t>(static_cast<size_t>(double{u[i]} * total), total - 1);
    const double d = std::fabs(double{y[idx]} - samp[i]);
    worst = std::max(worst, d);
    ASSERT_LE(d, 1e-4 * max_abs) << b["name"] << " sample " << i << " (flat index " << idx
                                 << "): ours " << y[idx] << ", timm " << samp[i];
  }
  std::printf("  %s: max|Δ| over %d samples %.3g (max|ref| %.3g)\n",
              b["name"].get<std::string>().c_str(), n, worst, max_abs);
}

class VisionBlocks : public ::testing::Test {
 protected:
  void SetUp() override { fx_ = Load(); }
  const nlohmann::json* Block(const std::string& name) {
    for (const auto& b : fx_.doc["blocks"])
      if (b["name"] == name) return &b;
    ADD_FAILURE() << "no block " << name;
    return nullptr;
  }
  std::vector<float> Input(const nlohmann::json& b) {
    const auto& in = b["input"];
    const size_t n = in["shape"][0].get<size_t>() * in["shape"][1].get<size_t>() * in["shape"][2].get<size_t>();
    return Prng(in["seed"].get<uint64_t>(), n, in["lo"], in["hi"]);
  }
  Fixture fx_;
  ThreadPool pool_{2};
};

TEST_F(VisionBlocks, RepMixer384) {
  const nlohmann::json* b = Block("repmixer_384_64x64");
  ASSERT_TRUE(b);
  const Tensors t = Generate(*b);
  const int64_t H = 64, W = 64, C = 384;
  RepMixerBlock rb;
  MakeDwConv(t["token_mixer.reparam_conv.weight"].data(), C, 3, 1, 1, t["token_mixer.reparam_conv.bias"], &rb.mixer);
  MakeFFN(t, C, "layer_scale.gamma", &rb.ffn);
  Workspace ws;
  ws.ReserveBlock(H * W, C, pool_.size(), false);
  ws.ReserveGemm(H * W, 4 * C, pool_.size());
  std::vector<float> x = Input(*b), tmp(x.size()), y(x.size());
  RepMixerBlockForward(rb, H, W, x.data(), tmp.data(), y.data(), ws, pool_);
  Check(fx_, *b, y, H, W, C);
}

TEST_F(VisionBlocks, Attention768) {
  const nlohmann::json* b = Block("attention_768_32x32");
  ASSERT_TRUE(b);
  const Tensors t = Generate(*b);
  const int64_t H = 32, W = 32, C = 768;
  AttentionBlock ab;
  ab.norm_w = t["norm.weight"];
  ab.norm_b = t["norm.bias"];
  MakeLinear({kernels::WType::kF32, t["token_mixer.qkv.weight"].data(), 3 * C, C}, {}, &ab.qkv);
  MakeLinear({kernels::WType::kF32, t["token_mixer.proj.weight"].data(), C, C}, t["token_mixer.proj.bias"], &ab.proj);
  ab.ls1 = t["layer_scale_1.gamma"];
  MakeFFN(t, C, "layer_scale_2.gamma", &ab.ffn);
  Workspace ws;
  ws.ReserveBlock(H * W, C, pool_.size(), true);
  ws.ReserveGemm(H * W, 4 * C, pool_.size());
  std::vector<float> x = Input(*b), y(x.size());
  AttentionBlockForward(ab, H, W, x.data(), y.data(), ws, pool_);
  Check(fx_, *b, y, H, W, C);
}

TEST_F(VisionBlocks, FinalConvWithSE) {
  const nlohmann::json* b = Block("final_conv_1536_16x16");
  ASSERT_TRUE(b);
  const Tensors t = Generate(*b);
  const int64_t H = 16, W = 16, F = 3072, rd = 192;  // 1536 input channels
  FinalConv fc;
  MakeDwConv(t["reparam_conv.weight"].data(), F, 3, 1, 2, t["reparam_conv.bias"], &fc.conv);
  fc.rd = rd;
  fc.se_reduce_w = t["se.fc1.weight"];
  fc.se_reduce_b = t["se.fc1.bias"];
  fc.se_expand_w = t["se.fc2.weight"];
  fc.se_expand_b = t["se.fc2.bias"];
  Workspace ws;
  ws.ReserveSE(F, rd);
  std::vector<float> x = Input(*b), y(H * W * F);
  FinalConvForward(fc, H, W, x.data(), y.data(), ws, pool_);
  Check(fx_, *b, y, H, W, F);
}

}  // namespace
}  // namespace fastvlm::vision::internal
