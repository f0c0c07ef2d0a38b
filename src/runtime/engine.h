// Engine: owns the weights (mmap'ed checkpoint), the tokenizer, the thread pool and the KV cache,
// and runs the generate loop with streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "llm/qwen2.h"
#include "llm/sampler.h"
#include "tokenizer/tokenizer.h"

namespace fastvlm {

struct EngineOptions {
  std::string model_path;  // Hugging Face model folder
  int threads = 0;         // 0: all hardware threads
  int max_context = 4096;  // KV-cache capacity in tokens (clamped to max_position_embeddings)
};

struct GenerationOptions {
  int max_tokens = 256;
  llm::SamplerOptions sampling;
  std::vector<std::string> stop_strings;
  bool ignore_eos = false;  // keep going past stop tokens (benchmarks)
};

struct GenerationStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_seconds = 0;  // prompt forward pass
  double ttft_seconds = 0;     // from Generate() start to the first token chosen
  double decode_seconds = 0;   // after the first token
  std::string finish_reason;   // "stop" (stop token / string), "length", "callback"
};

// Receives each piece of newly decoded text (complete UTF-8) and the token id that produced it.
// Returning false stops generation.
using TokenCallback = std::function<bool(const std::string& text, int32_t id)>;

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Load(const EngineOptions& opt);

  // Runs the prompt (appended to whatever the KV cache holds unless reset) and generates.
  Status Generate(const std::vector<int32_t>& prompt, const GenerationOptions& opt,
                  const TokenCallback& on_text, GenerationStats* stats);
  void ResetContext() { model_->Reset(); history_.clear(); }

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  llm::Qwen2Model& model() { return *model_; }
  ThreadPool& pool() { return *pool_; }
  const io::ModelConfig& config() const { return config_; }
  double load_seconds() const { return load_seconds_; }
  // Token ids that end a turn: <|im_end|>, <|endoftext|> and config eos ids.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }

 private:
  Engine() = default;
  std::unique_ptr<io::Checkpoint> ckpt_;
  io::ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<llm::Qwen2Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<int32_t> stop_tokens_;
  std::vector<int32_t> history_;  // tokens in the KV cache (for the repetition penalty)
  std::vector<float> logits_;
  double load_seconds_ = 0;
};

}  // namespace fastvlm
