// Next-token selection: greedy, or sampling with repetition penalty → temperature → top-k →
// top-p → min-p (the order transformers' logits processors apply them), seeded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace fastvlm::llm {

struct SamplerOptions {
  float temperature = 0.0f;         // 0: greedy (argmax)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens already in the context
  uint64_t seed = 0;
};

class Sampler {
 public:
  // valid_vocab: logits at ids >= valid_vocab are padding rows of the embedding matrix and are
  // never chosen (spec pitfall 16).
  Sampler(const SamplerOptions& opt, int valid_vocab);
  // Picks the next token. `logits` [vocab_rows] is modified (penalties, masking). `history` is
  // the token context the repetition penalty looks at.
  int32_t Sample(float* logits, int vocab_rows, const std::vector<int32_t>& history);
  const SamplerOptions& options() const { return opt_; }
  // Sample picks the argmax of the logits, unchanged (greedy, no repetition penalty): the model
  // may then find it without computing every logit (Qwen2Model::ForwardTokensGreedy).
  bool ArgMaxOnly() const { return opt_.temperature <= 0.0f && opt_.repetition_penalty == 1.0f; }
  // The logits Sample chooses among: [0, ValidRows(vocab_rows)).
  int ValidRows(int vocab_rows) const {
    return std::min(vocab_rows, valid_vocab_ > 0 ? valid_vocab_ : vocab_rows);
  }

 private:
  SamplerOptions opt_;
  int valid_vocab_;
  std::mt19937_64 rng_;
  std::vector<int32_t> idx_;   // scratch, sized once
  std::vector<float> probs_;
  std::vector<int32_t> seen_;
};

}  // namespace fastvlm::llm
