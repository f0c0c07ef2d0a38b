// `fastvlm export-llm`: the language model of a checkpoint (HF folder in any layout we load, or a
// fastvlm GGUF) as a GGUF file in llama.cpp's `qwen2` conventions, so llama.cpp loads and runs the
// same weights (and `fastvlm generate --model` reads it back, io/checkpoint_gguf.cc).
//
// Conventions (llama.cpp convert_hf_to_gguf.py Qwen2Model + gguf-py, commit 3f545be):
//   general.architecture "qwen2"; qwen2.{context_length, embedding_length, block_count,
//   feed_forward_length, attention.head_count, attention.head_count_kv, rope.freq_base,
//   attention.layer_norm_rms_epsilon} (+ attention.key_length / value_length when head_dim is
//   not embedding_length / head_count); tokenizer.ggml.model "gpt2", .pre "qwen2", tokens
//   (byte-level spelling, one per embedding row: rows without a token are "[PAD<id>]" of type
//   UNUSED), token_type (1 normal, 3 control, 4 user-defined, 5 unused), merges ("a b"),
//   eos / padding / bos ids, add_bos_token false, tokenizer.chat_template.
//   Tensors: token_embd, blk.N.{attn_norm, attn_q/k/v (+ .bias), attn_output, ffn_norm,
//   ffn_gate/up/down}, output_norm, and output only when the lm_head is not tied.
//   Norm weights and biases are F32; matrices take the chosen type.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "kernels/ops.h"

namespace fastvlm::quant {

struct ExportLlmOptions {
  std::string model_path;  // HF folder or fastvlm GGUF file
  std::string out_path;
  // Type of the matrices. Unset: as stored (a folder's bf16 / f16 / f32; a GGUF's stored types).
  bool type_set = false;
  kernels::WType type = kernels::WType::kBF16;
  uint32_t alignment = 64;
};

struct ExportLlmStats {
  int tensors = 0;
  int vocab_tokens = 0;    // tokens of the tokenizer
  int padding_tokens = 0;  // embedding rows without a token ("[PAD<id>]")
  bool tied = false;       // no output.weight: llama.cpp reuses token_embd
  int64_t parameters = 0;
  uint64_t output_bytes = 0;
  std::string file_type;   // general.file_type as a name ("BF16", "Q8_0", ...)
  std::vector<std::pair<std::string, int>> type_counts;
};

// progress(done, total, name) before each tensor (may be null).
Status ExportLlm(const ExportLlmOptions& opt, ExportLlmStats* stats,
                 const std::function<void(int, int, const std::string&)>& progress = nullptr);

}  // namespace fastvlm::quant
