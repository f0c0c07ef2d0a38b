// config.json of the checkpoints we load, and the checkpoint layout (which naming scheme the
// tensors follow). Spec §3 and §7.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace fastvlm::io {

// Which tensor-naming scheme a checkpoint uses (spec §7).
enum class Layout {
  kQwen2,      // plain Qwen2ForCausalLM: model.layers.N..., model.embed_tokens, model.norm, lm_head
  kLlavaQwen2, // Apple llava_qwen2: LLM as kQwen2 plus model.vision_tower..., model.mm_projector...
  kFastVlmHF,  // transformers FastVlmForConditionalGeneration: model.language_model.layers.N..., lm_head
};
const char* LayoutName(Layout l);

struct Qwen2Config {
  int num_hidden_layers = 0;
  int hidden_size = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // hidden_size / num_attention_heads unless given
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_position_embeddings = 32768;
  double rope_theta = 1000000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  std::string hidden_act = "silu";
  std::vector<int> eos_token_ids;  // from config (may be empty)
  int bos_token_id = -1;
};

struct ModelConfig {
  Layout layout = Layout::kQwen2;
  std::string model_type;  // "qwen2", "llava_qwen2", "fast_vlm"
  Qwen2Config text;
  // Prefix of language-model tensors: "model." or "model.language_model.".
  std::string llm_prefix;
  int image_token_id = -1;  // fast_vlm: 151646; llava_qwen2: -1 (sentinel -200 is used instead)
};

// Parses config.json text. `path` is only used in error messages. Unknown model types, missing
// required fields and inconsistent values (e.g. heads not dividing hidden_size) are errors.
StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& path);

}  // namespace fastvlm::io
