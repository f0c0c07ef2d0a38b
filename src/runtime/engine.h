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
#include "image/image.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "llm/qwen2.h"
#include "llm/sampler.h"
#include "tokenizer/tokenizer.h"
#include "vision/vision.h"

namespace fastvlm {

struct EngineOptions {
  std::string model_path;  // Hugging Face model folder
  int threads = 0;         // 0: all hardware threads
  int max_context = 4096;  // KV-cache capacity in tokens (clamped to max_position_embeddings)
  // Vision input resolution (a multiple of 64). 0: the checkpoint's own (preprocessor_config.json,
  // else the _NNNN suffix of config.json mm_vision_tower, else 1024).
  int image_size = 0;
  bool load_vision = true;  // false: language model only, even for a FastVLM checkpoint
  // Greedy decoding finds the argmax through a Q8_0 sketch of a 16/32-bit lm_head and computes
  // only the rows that could win (llm/lm_head_sketch.h): the same tokens, ~half the lm_head reads,
  // about 0.5 bytes per lm_head weight more memory. false: every decode step computes all logits.
  bool lm_head_sketch = true;
  // Q8_0 / Q4_0 language-model weights stored in the standard block layout are rearranged into
  // decode panels at load where the CPU runs them (kernels::DecodePanelsActive: AVX-512 VNNI,
  // ARM64 dot product). Decode and int8 prefill read the copy; the file's pages of those weights
  // are released, so memory stays about the same. false: none are built. Panels a GGUF stores
  // are used either way, unless kernels::SetDecodePanels(false) (then they are unpacked at
  // load), as `--no-panels` does.
  bool decode_panels = true;
};

struct ImageOptions {
  image::Fit fit = image::Fit::kPadSquare;
  image::DecodeOptions decode;
};

// Wall time of each phase of EncodeImage / EncodeImageFile, seconds.
struct ImageStats {
  int width = 0, height = 0;  // decoded image size
  int tokens = 0;             // image tokens spliced into the prompt
  double decode = 0;          // file read + decode to RGB
  double preprocess = 0;      // pad / crop, bicubic resize, /255
  double encoder = 0;         // FastViTHD
  double projector = 0;       // mlp2x_gelu
  double total() const { return decode + preprocess + encoder + projector; }
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
  // Greedy steps the lm_head sketch handled: calls, fallbacks to full logits, exact rows computed
  // (over the calls that did not fall back) and the most in one call.
  int64_t sketch_steps = 0, sketch_fallbacks = 0, sketch_candidates = 0, sketch_max_candidates = 0;
};

// Receives each piece of newly decoded text (complete UTF-8) and the token id that produced it.
// Returning false stops generation.
using TokenCallback = std::function<bool(const std::string& text, int32_t id)>;

// The tokenizer of a checkpoint: its folder's files, or the ones a GGUF file embeds.
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const io::Checkpoint& ckpt);

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Load(const EngineOptions& opt);

  // Runs the prompt (appended to whatever the KV cache holds unless reset) and generates. An
  // image sentinel id (kImageSentinel) in the prompt is replaced by the embeddings of the image
  // last encoded with EncodeImage / EncodeImageFile (at most one per prompt).
  Status Generate(const std::vector<int32_t>& prompt, const GenerationOptions& opt,
                  const TokenCallback& on_text, GenerationStats* stats);
  void ResetContext() {
    model_->Reset();
    history_.clear();
    unfed_token_ = -1;
  }
  // Runs the prompt (as Generate does, appending to the KV cache) and returns the logits of every
  // prompt position [positions, vocab_rows] (tests, evaluation).
  Status EvaluatePrompt(const std::vector<int32_t>& prompt, std::vector<float>* logits);

  // Vision (FastVLM checkpoints): decode + preprocess + encode an image; its projected embeddings
  // are kept until the next call and spliced wherever a prompt holds the image sentinel.
  bool has_vision() const { return vision_ != nullptr; }
  int image_size() const { return vision_ ? vision_->image_size() : 0; }
  int image_tokens() const { return vision_ ? vision_->num_tokens() : 0; }
  bool has_image() const { return has_image_; }
  Status EncodeImage(const image::Image& img, const ImageOptions& opt, ImageStats* stats);
  Status EncodeImageFile(const std::string& path, const ImageOptions& opt, ImageStats* stats);
  const vision::VisionModel* vision() const { return vision_.get(); }
  // Prompt length in positions (an image sentinel counts image_tokens()).
  int PromptPositions(const std::vector<int32_t>& prompt) const;

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  llm::Qwen2Model& model() { return *model_; }
  const llm::Qwen2Model& model() const { return *model_; }
  ThreadPool& pool() { return *pool_; }
  int threads() const { return pool_->size(); }
  const io::ModelConfig& config() const { return config_; }
  double load_seconds() const { return load_seconds_; }
  // Part of load_seconds() spent building the lm_head sketch (0 when there is none).
  double sketch_seconds() const { return sketch_seconds_; }
  // Whether the sketch came stored with the weights (checked, not built).
  bool sketch_stored() const { return sketch_stored_; }
  // Bytes of decode panels built at load (0: none), and the part of load_seconds() it took.
  int64_t panels_bytes() const { return panels_bytes_; }
  double panels_seconds() const { return panels_seconds_; }
  // Token ids that end a turn: <|im_end|>, <|endoftext|> and config eos ids.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  // Text token ids of the conversation so far (prompts and generated tokens, no image positions).
  const std::vector<int32_t>& history() const { return history_; }

 private:
  Engine() = default;
  Status Prefill(const std::vector<int32_t>& prompt, bool all_logits, float* logits);
  std::unique_ptr<io::Checkpoint> ckpt_;
  io::ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<llm::Qwen2Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<int32_t> stop_tokens_;
  std::vector<int32_t> history_;  // tokens in the KV cache (for the repetition penalty)
  std::vector<float> logits_;
  std::unique_ptr<vision::VisionModel> vision_;
  std::vector<float> pixels_;        // [S, S, 3] preprocessed image
  std::vector<float> image_embeds_;  // [image_tokens, hidden]
  std::vector<float> prompt_embeds_; // spliced prompt (grows to the longest prompt seen)
  bool has_image_ = false;
  int32_t unfed_token_ = -1;  // last generated token, in history_ but not yet in the KV cache
  double sketch_seconds_ = 0;
  bool sketch_stored_ = false;
  int64_t panels_bytes_ = 0;
  double panels_seconds_ = 0;
  double load_seconds_ = 0;
};

}  // namespace fastvlm
