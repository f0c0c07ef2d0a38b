// FastViTHD + projector against transformers 5.23 + timm (FastVlmForConditionalGeneration on a
// tiny fastvit_mci3), fixtures from tools/reference/make_fastvlm_fixtures.py: every traced
// tensor (stem, stage0..4, final_conv, projector) for the stored preprocessed pixels, in both
// checkpoint layouts (which must agree bit for bit).
//
// Gates: f32 weights max|Δ| ≤ 1e-4·max|ref|; bf16 weights (reference computed in f32 on the same
// weights) normalized MSE Σ(a−b)²/Σb² ≤ 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "vision/vision.h"

namespace fastvlm::vision {
namespace {

const std::string kDir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/fastvlm/";

struct Golden {
  nlohmann::json doc;
  std::vector<float> data;
};

Golden LoadGolden(const std::string& name) {
  Golden g;
  std::ifstream f(kDir + "golden/" + name + ".json");
  EXPECT_TRUE(f.good()) << name;
  if (!f.good()) return g;
  g.doc = nlohmann::json::parse(f);
  std::ifstream d(kDir + "golden/" + g.doc["data"].get<std::string>(), std::ios::binary);
  d.seekg(0, std::ios::end);
  const size_t n = static_cast<size_t>(d.tellg()) / 4;
  d.seekg(0);
  g.data.resize(n);
  d.read(reinterpret_cast<char*>(g.data.data()), n * 4);
  return g;
}

std::unique_ptr<io::Checkpoint> OpenModel(const std::string& rel, io::ModelConfig* cfg) {
  auto ck = io::Checkpoint::Open(kDir + rel);
  EXPECT_TRUE(ck.ok()) << ck.status().message();
  if (!ck.ok()) return nullptr;
  auto c = io::ParseModelConfig((*ck)->config_json(), rel + "/config.json");
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (c.ok()) *cfg = *c;
  return std::move(ck).value();
}

using Traces = std::map<std::string, std::vector<float>>;

Traces RunModel(const std::string& rel, const Golden& g, int threads, VisionInfo* info) {
  Traces tr;
  io::ModelConfig cfg;
  auto ck = OpenModel(rel, &cfg);
  if (!ck) return tr;
  const int S = g.doc["image_size"];
  auto vm = VisionModel::Load(*ck, cfg, S);
  EXPECT_TRUE(vm.ok()) << vm.status().message();
  if (!vm.ok()) return tr;
  if (info) *info = (*vm)->info();
  const auto& px = g.doc["tensors"]["pixels"];
  const float* pixels = g.data.data() + px["offset"].get<size_t>();
  std::vector<float> out((*vm)->num_tokens() * static_cast<size_t>((*vm)->embed_dim()));
  ThreadPool pool(threads);
  const Status st = (*vm)->Encode(pixels, out.data(), pool, nullptr,
                                  [&](const std::string& name, const float* d, const std::vector<int64_t>& shape) {
                                    size_t n = 1;
                                    for (int64_t s : shape) n *= s;
                                    tr[name].assign(d, d + n);
                                    tr[name + ".shape"].assign(shape.begin(), shape.end());
                                  });
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(tr["projector"], out);
  return tr;
}

void Compare(const Golden& g, const Traces& tr, const std::string& label) {
  const bool f32 = g.doc["reference_run"] == "f32";
  for (const char* name : {"stem", "stage0", "stage1", "stage2", "stage3", "stage4", "final_conv", "projector"}) {
    ASSERT_TRUE(g.doc["tensors"].contains(name)) << name;
    const auto& t = g.doc["tensors"][name];
    std::vector<float> shape;
    size_t n = 1;
    for (auto s : t["shape"]) {
      shape.push_back(s.get<float>());
      n *= s.get<size_t>();
    }
    ASSERT_TRUE(tr.count(name)) << label << ": no trace " << name;
    EXPECT_EQ(tr.at(std::string(name) + ".shape"), shape) << label << " " << name;
    const std::vector<float>& a = tr.at(name);
    ASSERT_EQ(a.size(), n) << label << " " << name;
    const float* ref = g.data.data() + t["offset"].get<size_t>();
    double max_ref = 0, max_abs = 0, se = 0, ss = 0;
    size_t first_bad = n, worst = 0;
    for (size_t i = 0; i < n; ++i) max_ref = std::max(max_ref, std::fabs(double{ref[i]}));
    const double tol = 1e-4 * max_ref;
    for (size_t i = 0; i < n; ++i) {
      const double d = std::fabs(double{a[i]} - ref[i]);
      if (d > max_abs || std::isnan(d)) {
        max_abs = d;
        worst = i;
      }
      if ((d > tol || std::isnan(d)) && first_bad == n) first_bad = i;
      se += d * d;
      ss += double{ref[i]} * ref[i];
    }
    const double nmse = se / std::max(ss, 1e-300);
    std::printf("  %-12s %-10s max|ref| %.4g  max|Δ| %.3g (at %zu)  NMSE %.3g\n", label.c_str(), name,
                max_ref, max_abs, worst, nmse);
    if (f32) {
      EXPECT_LE(max_abs, tol) << label << " " << name << ": first index over 1e-4·max|ref| is "
                              << first_bad << " (ours " << a[first_bad < n ? first_bad : 0]
                              << ", ref " << ref[first_bad < n ? first_bad : 0] << ")";
    } else {
      EXPECT_LE(nmse, 1e-4) << label << " " << name << ": first index over 1e-4·max|ref| is "
                            << first_bad;
    }
  }
}

class VisionGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(VisionGolden, MatchesTransformersInBothLayouts) {
  const Golden g = LoadGolden(GetParam());
  ASSERT_FALSE(g.data.empty());
  VisionInfo ihf, iap;
  const Traces hf = RunModel(g.doc["models"]["hf"], g, 2, &ihf);
  const Traces apple = RunModel(g.doc["models"]["apple"], g, 1, &iap);
  Compare(g, hf, "hf");
  Compare(g, apple, "apple");
  EXPECT_EQ(ihf.widths, iap.widths);
  EXPECT_EQ(ihf.depths, iap.depths);
  EXPECT_EQ(ihf.layout, io::Layout::kFastVlmHF);
  EXPECT_EQ(iap.layout, io::Layout::kLlavaQwen2);
  // Same weights, same arithmetic (thread count does not change any sum): identical results.
  for (const auto& [name, v] : hf) EXPECT_EQ(v, apple.at(name)) << name;
}

TEST_P(VisionGolden, ScalarReferenceAgrees) {
  // FASTVLM_SIMD=ref: every op on its scalar reference, against the same fixture.
  const Golden g = LoadGolden(GetParam());
  ASSERT_TRUE(kernels::ForceTarget("ref"));
  const Traces r = RunModel(g.doc["models"]["hf"], g, 2, nullptr);
  kernels::ForceTarget("best");
  Compare(g, r, "hf/ref");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VisionGolden, ::testing::Values("tiny-f32", "tiny-bf16"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace fastvlm::vision
