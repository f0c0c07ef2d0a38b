// FastVLM-1.5B and -7B resolve from config.json alone: their decoder sizes (Qwen2-1.5B / -7B,
// the same llava_qwen2 field set as the 0.5B checkpoint) parse into the layer counts, widths and
// heads the model code sizes its weights from. No weights needed. The two config files were
// written by hand from the public Qwen2-1.5B / Qwen2-7B decoder sizes on the 0.5B checkpoint's
// field set (Apple's own 1.5B / 7B config.json could not be downloaded here); they test that
// parsing is config-driven, not that these are Apple's exact files.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/config.h"

namespace fastvlm::io {
namespace {

std::string ReadConfig(const std::string& name) {
  std::ifstream in(std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/configs/" + name);
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Sizes {
  const char* file;
  int layers, hidden, heads, kv_heads, head_dim, intermediate, vocab;
  bool tied;
};

TEST(ModelConfigSizes, AllFastVlmCheckpoints) {
  const Sizes want[] = {
      {"llava_qwen2_0.5b.json", 24, 896, 14, 2, 64, 4864, 151936, false},
      {"llava_qwen2_1.5b.json", 28, 1536, 12, 2, 128, 8960, 151936, true},
      {"llava_qwen2_7b.json", 28, 3584, 28, 4, 128, 18944, 152064, false},
  };
  for (const Sizes& w : want) {
    SCOPED_TRACE(w.file);
    auto c = ParseModelConfig(ReadConfig(w.file), w.file);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->layout, Layout::kLlavaQwen2);
    EXPECT_EQ(c->llm_prefix, "model.");
    const Qwen2Config& t = c->text;
    EXPECT_EQ(t.num_hidden_layers, w.layers);
    EXPECT_EQ(t.hidden_size, w.hidden);
    EXPECT_EQ(t.num_attention_heads, w.heads);
    EXPECT_EQ(t.num_key_value_heads, w.kv_heads);
    EXPECT_EQ(t.head_dim, w.head_dim);
    EXPECT_EQ(t.intermediate_size, w.intermediate);
    EXPECT_EQ(t.vocab_size, w.vocab);
    EXPECT_EQ(t.tie_word_embeddings, w.tied);
    EXPECT_EQ(t.rope_theta, 1000000.0);
    EXPECT_EQ(t.eos_token_ids, std::vector<int>{151645});
    EXPECT_EQ(t.num_attention_heads % t.num_key_value_heads, 0);
  }
}

}  // namespace
}  // namespace fastvlm::io
