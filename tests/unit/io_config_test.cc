#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/config.h"
#include "io/safetensors.h"
#include "util/safetensors_writer.h"

namespace fastvlm::io {
namespace {

using json = nlohmann::json;

#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nexpected to contain: " << (needle)

std::string FixturePath(const std::string& name) {
  return std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/configs/" + name;
}

// Fixture text as transformers saved it (tools/reference/make_config_fixtures.py).
std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixturePath(name));
  EXPECT_TRUE(in) << "missing fixture " << name << "; run tools/reference/make_config_fixtures.py";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json FixtureJson(const std::string& name) { return json::parse(ReadFixture(name)); }

ModelConfig ParseOk(const json& j) {
  auto c = ParseModelConfig(j.dump(), "cfg.json");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? c.value() : ModelConfig{};
}

std::string ParseTextError(const std::string& text) {
  auto c = ParseModelConfig(text, "/models/x/config.json");
  EXPECT_FALSE(c.ok()) << "parsed: " << text;
  if (c.ok()) return "";
  EXPECT_HAS(c.status().message(), "/models/x/config.json");
  return c.status().message();
}
std::string ParseError(const json& j) { return ParseTextError(j.dump()); }

// ---------------------------------------------------------------------------------------------
// Configs saved by transformers 5.23 (and Apple's llava_qwen2 field set).

TEST(ModelConfig, Qwen2HalfB) {
  auto c = ParseModelConfig(ReadFixture("qwen2_0.5b.json"), "qwen2_0.5b.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->layout, Layout::kQwen2);
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->llm_prefix, "model.");
  EXPECT_EQ(c->image_token_id, -1);
  const Qwen2Config& t = c->text;
  EXPECT_EQ(t.num_hidden_layers, 24);
  EXPECT_EQ(t.hidden_size, 896);
  EXPECT_EQ(t.num_attention_heads, 14);
  EXPECT_EQ(t.num_key_value_heads, 2);
  EXPECT_EQ(t.head_dim, 64);
  EXPECT_EQ(t.intermediate_size, 4864);
  EXPECT_EQ(t.vocab_size, 151936);
  EXPECT_EQ(t.max_position_embeddings, 32768);
  EXPECT_EQ(t.rope_theta, 1000000.0);  // from rope_parameters (v5 layout)
  EXPECT_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_EQ(t.hidden_act, "silu");
  EXPECT_EQ(t.eos_token_ids, std::vector<int>{151645});
  EXPECT_EQ(t.bos_token_id, 151643);
}

TEST(ModelConfig, Qwen2DefaultsLikeTransformers) {
  // Saved with num_key_value_heads=None, no token ids and no rope arguments.
  const ModelConfig c = ParseOk(FixtureJson("qwen2_tiny_defaults.json"));
  EXPECT_EQ(c.text.num_attention_heads, 4);
  EXPECT_EQ(c.text.num_key_value_heads, 4);  // Qwen2Config: None -> num_attention_heads
  EXPECT_EQ(c.text.head_dim, 16);
  EXPECT_EQ(c.text.rope_theta, 10000.0);  // RotaryEmbeddingConfigMixin.default_theta
  EXPECT_TRUE(c.text.eos_token_ids.empty());
  EXPECT_EQ(c.text.bos_token_id, -1);
  EXPECT_FALSE(c.text.tie_word_embeddings);
}

TEST(ModelConfig, ExplicitHeadDimAndEosList) {
  // hidden 60 / 4 heads = 15, but head_dim 16 is given: no divisibility requirement then.
  const ModelConfig c = ParseOk(FixtureJson("qwen2_head_dim.json"));
  EXPECT_EQ(c.text.hidden_size, 60);
  EXPECT_EQ(c.text.head_dim, 16);
  EXPECT_EQ(c.text.num_key_value_heads, 1);
  EXPECT_EQ(c.text.eos_token_ids, (std::vector<int>{7, 9}));
}

TEST(ModelConfig, LlavaQwen2) {
  auto c = ParseModelConfig(ReadFixture("llava_qwen2_0.5b.json"), "llava.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->layout, Layout::kLlavaQwen2);
  EXPECT_EQ(c->model_type, "llava_qwen2");
  EXPECT_EQ(c->llm_prefix, "model.");
  EXPECT_EQ(c->image_token_id, -1);  // llava_qwen2 splices at the -200 sentinel
  EXPECT_EQ(c->text.hidden_size, 896);
  EXPECT_EQ(c->text.num_key_value_heads, 2);
  EXPECT_EQ(c->text.head_dim, 64);
  EXPECT_EQ(c->text.rope_theta, 1000000.0);  // top-level rope_theta (v4 layout)
  EXPECT_FALSE(c->text.tie_word_embeddings);
  EXPECT_EQ(c->text.eos_token_ids, std::vector<int>{151645});
}

TEST(ModelConfig, FastVlmHalfB) {
  auto c = ParseModelConfig(ReadFixture("fast_vlm_0.5b.json"), "fast_vlm.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->layout, Layout::kFastVlmHF);
  EXPECT_EQ(c->model_type, "fast_vlm");
  EXPECT_EQ(c->llm_prefix, "model.language_model.");
  EXPECT_EQ(c->image_token_id, 151646);
  EXPECT_EQ(c->text.num_hidden_layers, 24);
  EXPECT_EQ(c->text.hidden_size, 896);
  EXPECT_EQ(c->text.vocab_size, 152000);
  EXPECT_EQ(c->text.head_dim, 64);
  EXPECT_EQ(c->text.rope_theta, 1000000.0);
  EXPECT_FALSE(c->text.tie_word_embeddings);
  EXPECT_EQ(c->text.eos_token_ids, std::vector<int>{151645});
  EXPECT_EQ(c->text.bos_token_id, 151643);
}

TEST(ModelConfig, FastVlmDefaultIs7B) {
  const ModelConfig c = ParseOk(FixtureJson("fast_vlm_default.json"));
  EXPECT_EQ(c.text.num_hidden_layers, 28);
  EXPECT_EQ(c.text.hidden_size, 3584);
  EXPECT_EQ(c.text.num_attention_heads, 28);
  EXPECT_EQ(c.text.num_key_value_heads, 4);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.intermediate_size, 18944);
  EXPECT_EQ(c.text.vocab_size, 152128);
  EXPECT_EQ(c.image_token_id, 151646);
}

TEST(ModelConfig, FastVlmTieWordEmbeddings) {
  // As saved: __post_init__ copied text_config's True to the top level.
  EXPECT_TRUE(ParseOk(FixtureJson("fast_vlm_tied_text.json")).text.tie_word_embeddings);
  json j = FixtureJson("fast_vlm_tied_text.json");
  j["tie_word_embeddings"] = false;  // top keeps its default; text still says tied
  EXPECT_TRUE(ParseOk(j).text.tie_word_embeddings);
  j["text_config"].erase("tie_word_embeddings");
  j.erase("tie_word_embeddings");
  EXPECT_FALSE(ParseOk(j).text.tie_word_embeddings);
  j["tie_word_embeddings"] = true;
  EXPECT_TRUE(ParseOk(j).text.tie_word_embeddings);
}

TEST(ModelConfig, TieDefaultsToFalseForQwen2AndLlava) {
  for (const char* f : {"qwen2_0.5b.json", "llava_qwen2_0.5b.json"}) {
    json j = FixtureJson(f);
    j.erase("tie_word_embeddings");
    EXPECT_FALSE(ParseOk(j).text.tie_word_embeddings) << f;
  }
}

TEST(ModelConfig, FastVlmImageToken) {
  json j = FixtureJson("fast_vlm_0.5b.json");
  j.erase("image_token_index");
  EXPECT_EQ(ParseOk(j).image_token_id, 151646);
  j["image_token_id"] = 151650;  // the attribute name, accepted too
  EXPECT_EQ(ParseOk(j).image_token_id, 151650);
  j["image_token_index"] = 151999;
  EXPECT_EQ(ParseOk(j).image_token_id, 151999);
  j["image_token_index"] = 152000;
  EXPECT_HAS(ParseError(j), "outside the vocabulary");
}

TEST(ModelConfig, RopeVariants) {
  json j = FixtureJson("qwen2_0.5b.json");
  j.erase("rope_parameters");
  EXPECT_EQ(ParseOk(j).text.rope_theta, 10000.0);
  j["rope_theta"] = 500000.0;  // v4 layout
  EXPECT_EQ(ParseOk(j).text.rope_theta, 500000.0);
  j["rope_scaling"] = nullptr;  // v4 writes null when unused
  EXPECT_EQ(ParseOk(j).text.rope_theta, 500000.0);
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 250000.0}};
  EXPECT_EQ(ParseOk(j).text.rope_theta, 250000.0);  // rope_parameters wins, as in transformers
  j["rope_parameters"] = {{"rope_type", "default"}};
  EXPECT_EQ(ParseOk(j).text.rope_theta, 500000.0);

  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  std::string e = ParseError(j);
  EXPECT_HAS(e, "'rope_scaling'");
  EXPECT_HAS(e, "'yarn'");
  EXPECT_HAS(e, "not supported");
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  EXPECT_HAS(ParseError(j), "'linear'");
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"factor", 2.0}, {"rope_theta", 1e6}};
  EXPECT_HAS(ParseError(j), "'dynamic'");
  j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}};
  EXPECT_HAS(ParseError(j), "per-layer");
  j["rope_parameters"] = "default";
  EXPECT_HAS(ParseError(j), "'rope_parameters'");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", -1}};
  EXPECT_HAS(ParseError(j), "rope_theta");
  j.erase("rope_parameters");
  j["rope_theta"] = "1e6";
  EXPECT_HAS(ParseError(j), "'rope_theta' must be a number");
}

TEST(ModelConfig, EosForms) {
  json j = FixtureJson("qwen2_0.5b.json");
  j["eos_token_id"] = {151645, 151643};
  EXPECT_EQ(ParseOk(j).text.eos_token_ids, (std::vector<int>{151645, 151643}));
  j["eos_token_id"] = nullptr;
  EXPECT_TRUE(ParseOk(j).text.eos_token_ids.empty());
  j["eos_token_id"] = json::array();
  EXPECT_TRUE(ParseOk(j).text.eos_token_ids.empty());
  j["eos_token_id"] = "151645";
  EXPECT_HAS(ParseError(j), "'eos_token_id'");
  j["eos_token_id"] = {1, -5};
  EXPECT_HAS(ParseError(j), "'eos_token_id'");
  // fast_vlm: ids from text_config, else the top level.
  json f = FixtureJson("fast_vlm_0.5b.json");
  f["text_config"]["eos_token_id"] = nullptr;
  f["eos_token_id"] = 42;
  EXPECT_EQ(ParseOk(f).text.eos_token_ids, std::vector<int>{42});
}

TEST(ModelConfig, RequiredFields) {
  for (const char* field : {"num_hidden_layers", "hidden_size", "num_attention_heads",
                            "intermediate_size", "vocab_size"}) {
    SCOPED_TRACE(field);
    json j = FixtureJson("qwen2_0.5b.json");
    j.erase(field);
    std::string e = ParseError(j);
    EXPECT_HAS(e, std::string("'") + field + "' is missing");
    j[field] = nullptr;
    EXPECT_HAS(ParseError(j), std::string("'") + field + "' is missing");
    j[field] = 0;
    EXPECT_HAS(ParseError(j), "must be positive");
    j[field] = -4;
    EXPECT_HAS(ParseError(j), "must be positive");
    j[field] = 14.5;
    EXPECT_HAS(ParseError(j), "must be an integer");
    j[field] = "14";
    EXPECT_HAS(ParseError(j), "must be an integer");
    j[field] = 1LL << 40;
    EXPECT_HAS(ParseError(j), "out of range");
    // In fast_vlm the field lives under text_config and the message says so.
    json f = FixtureJson("fast_vlm_0.5b.json");
    f["text_config"].erase(field);
    EXPECT_HAS(ParseError(f), std::string("'text_config.") + field + "' is missing");
  }
  for (const char* field : {"num_key_value_heads", "max_position_embeddings", "head_dim"}) {
    SCOPED_TRACE(field);
    json j = FixtureJson("qwen2_0.5b.json");
    j[field] = 0;
    EXPECT_HAS(ParseError(j), "must be positive");
  }
  json j = FixtureJson("qwen2_0.5b.json");
  j["rms_norm_eps"] = 0;
  EXPECT_HAS(ParseError(j), "'rms_norm_eps' must be positive");
  j = FixtureJson("qwen2_0.5b.json");
  j["tie_word_embeddings"] = "yes";
  EXPECT_HAS(ParseError(j), "'tie_word_embeddings' must be true or false");
}

TEST(ModelConfig, InconsistentShapes) {
  json j = FixtureJson("qwen2_0.5b.json");
  j["num_attention_heads"] = 13;  // 896 % 13 != 0
  j["num_key_value_heads"] = 1;
  std::string e = ParseError(j);
  EXPECT_HAS(e, "'num_attention_heads' (13) does not divide 'hidden_size' (896)");
  j["head_dim"] = 64;  // explicit head_dim lifts the requirement
  EXPECT_EQ(ParseOk(j).text.head_dim, 64);

  j = FixtureJson("qwen2_0.5b.json");
  j["num_key_value_heads"] = 4;  // 14 % 4 != 0
  EXPECT_HAS(ParseError(j), "'num_key_value_heads' (4) does not divide 'num_attention_heads' (14)");

  j = FixtureJson("qwen2_0.5b.json");
  j["head_dim"] = 63;
  EXPECT_HAS(ParseError(j), "odd");

  json f = FixtureJson("fast_vlm_0.5b.json");
  f["text_config"]["num_key_value_heads"] = 3;
  EXPECT_HAS(ParseError(f), "'text_config.num_key_value_heads' (3)");
}

TEST(ModelConfig, UnsupportedFeatures) {
  json j = FixtureJson("qwen2_0.5b.json");
  j["hidden_act"] = "gelu";
  EXPECT_HAS(ParseError(j), "only silu");
  j["hidden_act"] = "swish";  // the same function under ACT2FN
  EXPECT_EQ(ParseOk(j).text.hidden_act, "silu");

  j = FixtureJson("qwen2_0.5b.json");
  j["use_sliding_window"] = true;
  EXPECT_HAS(ParseError(j), "sliding-window");
  j = FixtureJson("qwen2_0.5b.json");
  j["layer_types"][3] = "sliding_attention";
  EXPECT_HAS(ParseError(j), "sliding_attention");

  j = FixtureJson("llava_qwen2_0.5b.json");
  j["quantization"] = {{"group_size", 64}, {"bits", 4}};
  EXPECT_HAS(ParseError(j), "quantized checkpoints");
  j.erase("quantization");
  j["quantization_config"] = {{"quant_method", "gptq"}};
  EXPECT_HAS(ParseError(j), "quantized checkpoints");

  json f = FixtureJson("fast_vlm_0.5b.json");
  f["text_config"]["model_type"] = "llama";
  EXPECT_HAS(ParseError(f), "only a qwen2 text model");
  f.erase("text_config");
  EXPECT_HAS(ParseError(f), "'text_config' is missing");
  f["text_config"] = json::array();
  EXPECT_HAS(ParseError(f), "'text_config' must be an object");
}

TEST(ModelConfig, ModelTypeAndJsonErrors) {
  json j = FixtureJson("qwen2_0.5b.json");
  j["model_type"] = "llava";
  std::string e = ParseError(j);
  EXPECT_HAS(e, "'llava'");
  EXPECT_HAS(e, "qwen2, llava_qwen2, fast_vlm");
  j.erase("model_type");
  e = ParseError(j);
  EXPECT_HAS(e, "no 'model_type'");
  EXPECT_HAS(e, "qwen2, llava_qwen2, fast_vlm");
  j["model_type"] = 2;
  EXPECT_HAS(ParseError(j), "'model_type' must be a string");

  e = ParseTextError("{\n  \"model_type\": \"qwen2\",\n  \"hidden_size\": 896,,\n}");
  EXPECT_HAS(e, "malformed JSON");
  EXPECT_HAS(e, "line 3");
  EXPECT_HAS(e, "column");
  EXPECT_HAS(ParseTextError(""), "malformed JSON");
  EXPECT_HAS(ParseTextError("[1, 2]"), "expected a JSON object");
  EXPECT_HAS(ParseTextError("\"qwen2\""), "expected a JSON object");
}

TEST(ModelConfig, LayoutNames) {
  EXPECT_STREQ(LayoutName(Layout::kQwen2), "qwen2");
  EXPECT_STREQ(LayoutName(Layout::kLlavaQwen2), "llava_qwen2");
  EXPECT_STREQ(LayoutName(Layout::kFastVlmHF), "fast_vlm");
}

// The path from a model folder to a parsed config, as the runtime will take it.
TEST(ModelConfig, FromCheckpointFolder) {
  testing::TempDir dir;
  testing::SafetensorsWriter w;
  w.AddF32("model.norm.weight", {64}, std::vector<float>(64, 1.0f));
  ASSERT_TRUE(testing::WriteCheckpoint(dir.path(), testing::TinyQwen2ConfigJson(), w).ok());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  auto c = ParseModelConfig((*ck)->config_json(), dir.Join("config.json"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->text.hidden_size, 64);
  EXPECT_EQ(c->text.num_key_value_heads, 2);
  EXPECT_EQ(c->text.rope_theta, 1000000.0);
  EXPECT_TRUE((*ck)->Get(c->llm_prefix + "norm.weight", {c->text.hidden_size}).ok());
}

}  // namespace
}  // namespace fastvlm::io
