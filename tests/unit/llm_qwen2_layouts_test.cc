// The language model loads from every checkpoint layout of spec §7 with the same numbers: the
// tied-f32 fixture's tensors are rewritten (by the test, byte for byte) into Apple's
// llava_qwen2 layout (vision tensors beside the LLM under "model."), transformers'
// FastVlmForConditionalGeneration layout ("model.language_model.", config under text_config)
// and a sharded plain Qwen2 folder; each must give bit-identical logits to the original.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "llm/qwen2.h"
#include "util/safetensors_writer.h"

namespace fastvlm::llm {
namespace {

using testing::SafetensorsWriter;
using testing::TempDir;

const std::string kModel = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/qwen2/models/tied-f32";

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

std::vector<uint8_t> Bytes(const io::TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  return std::vector<uint8_t>(p, p + t.nbytes);
}

// Logits of the fixture prompt ids 1..9 through the checkpoint in `dir`, or the load error.
StatusOr<std::vector<float>> RunModel(const std::string& dir) {
  ASSIGN_OR_RETURN(auto ckpt, io::Checkpoint::Open(dir));
  ASSIGN_OR_RETURN(io::ModelConfig cfg, io::ParseModelConfig(ckpt->config_json(), dir));
  ASSIGN_OR_RETURN(Qwen2Weights w, LoadQwen2Weights(*ckpt, cfg));
  Qwen2Model model(cfg.text, std::move(w), 64);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> logits(ids.size() * model.vocab_rows());
  RETURN_IF_ERROR(model.ForwardTokens(ids.data(), static_cast<int>(ids.size()), true,
                                      logits.data(), pool));
  return logits;
}

// Writes the fixture's tensors renamed by `rename` (empty name: dropped) plus `extra` tensors.
void WriteRenamed(const std::string& dir, const std::string& config,
                  const std::function<std::string(const std::string&)>& rename,
                  const std::vector<std::string>& extra) {
  std::filesystem::create_directories(dir);
  auto ckpt = io::Checkpoint::Open(kModel);
  ASSERT_TRUE(ckpt.ok());
  SafetensorsWriter w;
  for (const io::TensorView* t : (*ckpt)->AllTensors()) {
    const std::string name = rename(t->name);
    if (!name.empty()) w.AddRaw(name, io::DTypeName(t->dtype), t->shape, Bytes(*t));
  }
  for (const auto& name : extra) w.AddF32(name, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Status st = testing::WriteCheckpoint(dir, config, w);
  ASSERT_TRUE(st.ok()) << st.message();
}

TEST(Qwen2Layouts, AllLayoutsGiveIdenticalLogits) {
  auto ref = RunModel(kModel);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const nlohmann::json base = ReadJson(kModel + "/config.json");
  TempDir tmp;

  // Apple llava_qwen2: same LLM names, vision tower and projector under "model.".
  {
    nlohmann::json c = base;
    c["model_type"] = "llava_qwen2";
    c["architectures"] = {"LlavaQwen2ForCausalLM"};
    c["mm_vision_tower"] = "mobileclip_l_1024";
    c["mm_projector_type"] = "mlp2x_gelu";
    c["mm_hidden_size"] = 3072;
    const std::string dir = tmp.Join("llava");
    WriteRenamed(dir, c.dump(), [](const std::string& n) { return n; },
                 {"model.vision_tower.vision_tower.model.patch_embed.0.reparam_conv.weight",
                  "model.mm_projector.0.weight"});
    auto got = RunModel(dir);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, *ref) << "llava_qwen2 layout";
  }
  // transformers FastVlmForConditionalGeneration.
  {
    nlohmann::json c = ReadJson(std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/configs/fast_vlm_0.5b.json");
    c["text_config"] = base;
    c["image_token_index"] = 255;  // inside this toy vocabulary
    const std::string dir = tmp.Join("fastvlm");
    WriteRenamed(dir, c.dump(),
                 [](const std::string& n) {
                   return n.rfind("model.", 0) == 0 ? "model.language_model." + n.substr(6) : n;
                 },
                 {"model.vision_tower.timm_model.stem.0.reparam_conv.weight",
                  "model.multi_modal_projector.linear_1.weight"});
    auto got = RunModel(dir);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, *ref) << "fast_vlm layout";
  }
  // Plain Qwen2, sharded over two files with an index.
  {
    auto ckpt = io::Checkpoint::Open(kModel);
    ASSERT_TRUE(ckpt.ok());
    SafetensorsWriter a, b;
    int i = 0;
    for (const io::TensorView* t : (*ckpt)->AllTensors())
      (i++ % 2 ? a : b).AddRaw(t->name, io::DTypeName(t->dtype), t->shape, Bytes(*t));
    const std::string dir = tmp.Join("sharded");
    std::filesystem::create_directories(dir);
    ASSERT_TRUE(testing::WriteShardedCheckpoint(dir, base.dump(), {{"model-00001-of-00002.safetensors", a}, {"model-00002-of-00002.safetensors", b}}).ok());
    auto got = RunModel(dir);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(*got, *ref) << "sharded";
  }
}

TEST(Qwen2Layouts, MismatchedConfigAndWeightsAreErrors) {
  const nlohmann::json base = ReadJson(kModel + "/config.json");
  TempDir tmp;
  // One layer more in the file than in config.json.
  {
    const std::string dir = tmp.Join("extra");
    WriteRenamed(dir, base.dump(), [](const std::string& n) { return n; },
                 {"model.layers.2.mlp.up_proj.weight"});
    auto got = RunModel(dir);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("model.layers.2.mlp.up_proj.weight"), std::string::npos)
        << got.status().message();
  }
  // A missing tensor.
  {
    const std::string dir = tmp.Join("missing");
    WriteRenamed(dir, base.dump(),
                 [](const std::string& n) {
                   return n == "model.layers.1.self_attn.k_proj.bias" ? std::string() : n;
                 },
                 {});
    auto got = RunModel(dir);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("model.layers.1.self_attn.k_proj.bias"), std::string::npos)
        << got.status().message();
  }
  // A config with a different hidden size: shapes disagree.
  {
    nlohmann::json c = base;
    c["intermediate_size"] = 96;
    const std::string dir = tmp.Join("shape");
    WriteRenamed(dir, c.dump(), [](const std::string& n) { return n; }, {});
    auto got = RunModel(dir);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("shape"), std::string::npos) << got.status().message();
  }
}

}  // namespace
}  // namespace fastvlm::llm
