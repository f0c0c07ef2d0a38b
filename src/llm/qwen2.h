// Qwen2 decoder (spec §3): RMSNorm → GQA self-attention with RoPE and q/k/v biases → residual →
// RMSNorm → SwiGLU MLP → residual; final RMSNorm and lm_head. Weights are used as stored in the
// checkpoint (f32 / bf16 / f16, mmap'ed); activations and the KV cache are f32.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "llm/lm_head_sketch.h"

namespace fastvlm {
class ThreadPool;
}

namespace fastvlm::llm {

// Tensor names are relative to the layout's LLM prefix ("model." or "model.language_model.").
struct Qwen2Layer {
  std::vector<float> input_layernorm;           // layers.N.input_layernorm.weight [d]
  kernels::Matrix q_proj;                       // layers.N.self_attn.q_proj.weight [Hq·D, d]
  std::vector<float> q_bias;                    // layers.N.self_attn.q_proj.bias [Hq·D]
  kernels::Matrix k_proj;                       // layers.N.self_attn.k_proj.weight [Hkv·D, d]
  std::vector<float> k_bias;                    // layers.N.self_attn.k_proj.bias [Hkv·D]
  kernels::Matrix v_proj;                       // layers.N.self_attn.v_proj.weight [Hkv·D, d]
  std::vector<float> v_bias;                    // layers.N.self_attn.v_proj.bias [Hkv·D]
  kernels::Matrix o_proj;                       // layers.N.self_attn.o_proj.weight [d, Hq·D]
  std::vector<float> post_attention_layernorm;  // layers.N.post_attention_layernorm.weight [d]
  kernels::Matrix gate_proj;                    // layers.N.mlp.gate_proj.weight [I, d]
  kernels::Matrix up_proj;                      // layers.N.mlp.up_proj.weight [I, d]
  kernels::Matrix down_proj;                    // layers.N.mlp.down_proj.weight [d, I]
};

struct Qwen2Weights {
  kernels::Matrix embed_tokens;  // embed_tokens.weight [vocab, d]
  std::vector<Qwen2Layer> layers;
  std::vector<float> norm;       // norm.weight [d]
  kernels::Matrix lm_head;       // lm_head.weight [vocab, d] (top level), else embed_tokens
  bool lm_head_tied = false;
  std::string weight_type;       // "bf16", "f32", "f16" or "mixed"
};

// Binds the language-model tensors of a checkpoint (any layout of io::Layout). Missing tensors,
// wrong shapes and unsupported dtypes are errors naming the tensor and the file. Uses
// lm_head.weight when present, else the embeddings (spec §3). Extra tensors under the LLM prefix
// that the model does not use are reported as an error (they signal a config mismatch).
StatusOr<Qwen2Weights> LoadQwen2Weights(const io::Checkpoint& ckpt, const io::ModelConfig& cfg);

class Qwen2Model {
 public:
  // max_context: KV cache capacity in tokens (≤ config max_position_embeddings).
  // max_batch: most tokens one Forward call processes at once (longer inputs are chunked).
  Qwen2Model(const io::Qwen2Config& cfg, Qwen2Weights weights, int max_context, int max_batch = 512);

  const io::Qwen2Config& config() const { return cfg_; }
  const Qwen2Weights& weights() const { return w_; }
  int hidden_size() const { return cfg_.hidden_size; }
  int vocab_rows() const { return static_cast<int>(w_.lm_head.rows); }
  int max_context() const { return max_context_; }
  // Number of positions in the KV cache.
  int position() const { return pos_; }
  // Drops cache entries at positions >= pos (e.g. to re-run from a shared prefix).
  void Truncate(int pos);
  void Reset() { Truncate(0); }

  // Token embeddings of `ids` into out [n, d]. Ids outside [0, vocab) are an error.
  Status Embed(const int32_t* ids, int n, float* out) const;

  // Runs n input vectors (embeddings [n, d]) at positions position()..position()+n-1, appending
  // to the KV cache. Writes logits [n, vocab] if all_logits, else only the last row [1, vocab].
  // Fails (without changing the cache) when the context would overflow.
  Status Forward(const float* embeddings, int n, bool all_logits, float* logits, ThreadPool& pool);
  // Convenience: embeds ids then Forward.
  Status ForwardTokens(const int32_t* ids, int n, bool all_logits, float* logits, ThreadPool& pool);

  // Greedy decoding: runs ids as ForwardTokens(ids, n, false, logits, pool) does and sets *next to
  // the argmax of the last position's logits over [0, valid_vocab), first index on ties: exactly
  // kernels::ArgMax(logits, valid_vocab) after ForwardTokens. With the lm_head sketch enabled
  // (EnableLmHeadSketch) most lm_head rows are not read and `logits` [vocab_rows] is left
  // unspecified; otherwise it holds the full row.
  Status ForwardTokensGreedy(const int32_t* ids, int n, int valid_vocab, float* logits,
                             int32_t* next, ThreadPool& pool);
  // Builds the Q8_0 sketch of the lm_head that lets ForwardTokensGreedy skip most of it
  // (llm/lm_head_sketch.h). Returns false, leaving it off, for block-type (already quantized)
  // lm_heads and for lm_heads with non-finite values.
  bool EnableLmHeadSketch(ThreadPool& pool);
  // Rearranges every Q8_0 / Q4_0 weight matrix that fits (kernels::DecodePanelsFit: all of
  // Qwen2-0.5B's) into decode panels (kernels::PackDecodePanels), in one anonymous buffer this
  // model owns, when kernels::DecodePanelsActive(). Returns the panels' bytes (0: none built).
  // The matrices' own data is then read only by embedding lookups and f32-activation prefill
  // (q/k projections), so a caller may release its pages: `release` (may be empty) is called
  // with each range of source rows as soon as its panels are written (io::Checkpoint::Release),
  // so the weights are not held twice while building.
  int64_t BuildDecodePanels(ThreadPool& pool,
                            const std::function<void(const void*, size_t)>& release = {});
  // Bytes of the weights the decode GEMV reads as panels now (stored in the file or built),
  // each tensor once (the tied lm_head is the embeddings).
  int64_t decode_panel_bytes() const;
  // Uses the sketch stored in the checkpoint (kSketchBlocksTensor / kSketchNormsTensor) when it
  // is there, has the lm_head's shape and passes LmHeadSketch::Adopt's spot check; else false.
  bool AdoptLmHeadSketch(const io::Checkpoint& ckpt);
  // Null unless EnableLmHeadSketch succeeded.
  const LmHeadSketch* lm_head_sketch() const { return sketch_.built() ? &sketch_ : nullptr; }

 private:
  // Greedy: the last row's argmax over [0, valid) goes to *next instead of (only) logits.
  struct GreedyOut {
    int valid;
    int32_t* next;
  };
  Status CheckFits(int n) const;
  std::vector<kernels::Matrix*> DecodeMatrices();  // q/k/v/o, gate/up/down of every layer, lm_head
  void UnpackStoredPanelsIfInactive();
  Status ForwardTokensImpl(const int32_t* ids, int n, bool all_logits, float* logits,
                           const GreedyOut* greedy, ThreadPool& pool);
  void RunChunk(int m, int start, int n, bool all_logits, float* logits, const GreedyOut* greedy,
                ThreadPool& pool);
  void ForwardChunk(float* x, int n, int pos0, ThreadPool& pool);
  void Attention(int layer, int n, int pos0, ThreadPool& pool);

  io::Qwen2Config cfg_;
  Qwen2Weights w_;
  int max_context_;
  int cache_capacity_ = 0;  // max_context_ rounded up to whole key tiles
  int max_batch_;
  int pos_ = 0;
  int n_heads_, n_kv_heads_, head_dim_;

  // KV cache, f32. Keys [layer][kv_head] in the tiled transposed layout of
  // kernels::DotColumns (16 keys × head_dim per tile), so a query's scores against 16 keys are
  // head_dim broadcast-FMAs with no reductions; values [layer][kv_head][position][head_dim] so
  // P·V accumulates whole rows.
  std::vector<float> k_cache_, v_cache_;
  // RoPE tables [position][head_dim/2].
  std::vector<float> rope_cos_, rope_sin_;
  // Scratch, sized once for max_batch tokens (no allocation in the steady state).
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, scores_;
  int score_stride_ = 0;
  LmHeadSketch sketch_;
  std::shared_ptr<void> panels_;  // BuildDecodePanels' buffer (anonymous memory)
  // UnpackStoredPanelsIfInactive's copies, by the panels they came from.
  std::map<const void*, std::vector<uint8_t>> unpacked_;
};

}  // namespace fastvlm::llm
