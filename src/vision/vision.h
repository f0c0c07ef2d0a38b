// FastViTHD (the FastVLM image tower, timm `fastvit_mci3`) and the mlp2x_gelu projector.
// Spec §1, §2, §7. Activations are channel-last (NHWC) f32; weights are used as stored (f32 or
// bf16) except where folded at load (ConvFFN BatchNorm, in f32).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/config.h"
#include "io/safetensors.h"

namespace fastvlm {
class ThreadPool;
}

namespace fastvlm::vision {

// The architecture, inferred from the tensors present (both layouts of spec §7).
struct VisionInfo {
  io::Layout layout = io::Layout::kLlavaQwen2;  // kLlavaQwen2 (Apple) or kFastVlmHF
  std::vector<int> widths;  // per stage, e.g. 96 192 384 768 1536
  std::vector<int> depths;  // blocks per stage, e.g. 2 12 24 4 2
  int feature_dim = 0;      // conv_exp / final_conv output channels (3072)
  int embed_dim = 0;        // projector output = LLM hidden size (896)
  std::string weight_type;  // "f32", "bf16" or "f16" (of the 1x1-conv / linear weights)
};

// Wall time of each part of one Encode call, seconds.
struct VisionTimings {
  double encoder = 0;    // FastViTHD, pixels -> [tokens, feature_dim]
  double projector = 0;  // [tokens, feature_dim] -> [tokens, embed_dim]
};

// Called with each intermediate tensor (tests, debugging). Names: "stem", "stage0" .. "stage4"
// (each stage's output, after its downsample / pos_emb and blocks), "final_conv" (after SE and
// GELU), "projector". NHWC shapes: {h, w, c}; "projector": {tokens, embed_dim}.
using TraceFn =
    std::function<void(const std::string& name, const float* data, const std::vector<int64_t>& shape)>;

class VisionModel {
 public:
  // Reads the vision tower and projector of a llava_qwen2 or fast_vlm checkpoint. `image_size`
  // must be a positive multiple of 64. All activation buffers are allocated here (nothing in
  // Encode). Errors name the missing / mis-shaped tensor.
  static StatusOr<std::unique_ptr<VisionModel>> Load(const io::Checkpoint& ckpt,
                                                     const io::ModelConfig& cfg, int image_size,
                                                     ThreadPool* pool = nullptr);
  ~VisionModel();

  const VisionInfo& info() const;
  int image_size() const;
  int num_tokens() const;  // (image_size / 64)²
  int embed_dim() const;

  // The checkpoint names of the tensors read as 1×1-conv / linear weights (the ones the GEMMs
  // use packed; `fastvlm quantize` stores exactly these pre-packed), in load order.
  std::vector<std::string> PackedWeightNames() const;

  // pixels: [image_size, image_size, 3] f32 in [0,1] (HWC). out: [num_tokens, embed_dim].
  Status Encode(const float* pixels, float* out, ThreadPool& pool, VisionTimings* timings = nullptr,
                const TraceFn& trace = nullptr);

 private:
  VisionModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when the checkpoint holds a vision tower (either layout).
bool HasVisionTower(const io::Checkpoint& ckpt);

}  // namespace fastvlm::vision
