// Tensor names of llama.cpp's `qwen2` architecture (llama.cpp gguf-py/gguf/constants.py,
// MODEL_TENSORS[MODEL_ARCH.QWEN2]) and their Hugging Face Qwen2ForCausalLM counterparts. Used by
// `fastvlm export-llm` (HF -> llama.cpp) and by the reader of llama.cpp qwen2 GGUF files
// (llama.cpp -> HF, io/checkpoint_gguf.cc).
#pragma once

#include <string>

namespace fastvlm::io {

// HF name relative to the language model's prefix ("embed_tokens.weight",
// "layers.3.self_attn.q_proj.bias", "norm.weight") or "lm_head.weight" -> llama.cpp name
// ("token_embd.weight", "blk.3.attn_q.bias", "output_norm.weight", "output.weight").
// Empty when the name has no llama.cpp counterpart.
std::string HfToLlamaCppName(const std::string& hf_relative);
// Inverse: llama.cpp name -> HF name relative to the prefix (lm_head.weight stays unprefixed:
// the caller prefixes everything else). Empty when unknown.
std::string LlamaCppToHfName(const std::string& gguf_name);

}  // namespace fastvlm::io
