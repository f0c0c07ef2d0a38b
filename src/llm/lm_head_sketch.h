// Exact greedy decoding without reading most of the lm_head.
//
// A decode step of the 0.5B model in bf16 reads 988 MB of weights, 272 MB of them the lm_head
// [151936, 896], and greedy decoding needs only the argmax of its output. LmHeadSketch keeps a
// Q8_0 copy W̃ of a 16- or 32-bit lm_head W (about half the bytes of bf16) and, per row i, the
// norms ‖W_i − W̃_i‖ and ‖W̃_i‖. For the final hidden state x, the block-type GEMV gives
// s_i = W̃_i·x̃, where x̃ is x quantized to Q8 blocks (QuantizeRowQ8X, as every block-type GEMV
// quantizes it), and by Cauchy–Schwarz
//     |W_i·x − W̃_i·x̃| ≤ ‖W_i − W̃_i‖·‖x‖ + ‖W̃_i‖·‖x − x̃‖.
// The f32 rounding of both computed dot products adds at most σ·(‖W_i‖‖x‖ + ‖W̃_i‖‖x̃‖) with
// σ = 2·cols·2^-24 (any f32 summation order of K products errs by at most about K·2^-24 of the
// sum of their magnitudes, which Cauchy–Schwarz bounds by the norms), so with e_i the sum of these
// terms, |logit_i − s_i| ≤ e_i where logit_i is what the full lm_head GEMV computes. Let
// L = max_i (s_i − e_i), attained at row j: every row with s_i + e_i < L has logit_i < L ≤
// logit_j, so it is neither the argmax nor tied with it. The remaining candidates (1 to ~60 of
// 151,936 on the random 0.5B model) are computed with the same kernel call, row by row, as the
// full lm_head (a row's result does not depend on which other rows are computed), and their
// argmax, first index on ties, is kernels::ArgMax of the full logits: the same token, always.
// When the bound leaves too many candidates (or x is not finite) ArgMax returns -1 and the
// caller computes the full logits.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

namespace fastvlm {
class ThreadPool;
}

namespace fastvlm::llm {

// GGUF tensors of a stored sketch (written by `fastvlm quantize` for f32 / bf16 / f16 lm_heads):
// Q8_0 [vocab, hidden] and F32 [vocab, 2] (‖W_i − W̃_i‖, ‖W̃_i‖ per row, rounded up).
inline constexpr const char* kSketchBlocksTensor = "fastvlm.lm_head_sketch.blocks";
inline constexpr const char* kSketchNormsTensor = "fastvlm.lm_head_sketch.norms";

struct LmHeadSketchStats {
  int64_t steps = 0;       // ArgMax calls
  int64_t fallbacks = 0;   // calls that returned -1 (full logits needed)
  int64_t candidates = 0;  // exact rows computed, over all calls that did not fall back
  int64_t max_candidates = 0;
};

class LmHeadSketch {
 public:
  // Most exact rows one call computes before giving up (then the full GEMV is cheaper to reason
  // about; it is ~1/40 of the vocabulary).
  static constexpr int64_t kMaxCandidates = 4096;

  // Whether a sketch can be built for w: f32, bf16 or f16 with cols a multiple of 32 (block-type
  // lm_heads are already as small as their sketch would be).
  static bool Supports(const kernels::Matrix& w);

  // Quantizes w (which must stay alive and unchanged) into the sketch. Returns false (and
  // builds nothing) if w is unsupported or holds a non-finite value.
  bool Build(const kernels::Matrix& w, ThreadPool& pool);
  // Uses a sketch stored with the weights (a GGUF written by `fastvlm quantize`): blocks are the
  // Q8_0 rows [w.rows, w.cols/32], norms [w.rows][2] as blocks() / norms() give them; both must
  // stay alive. `checks` rows spread over the matrix are rebuilt and must match the stored ones
  // bit for bit, else this returns false and adopts nothing (the caller builds instead).
  bool Adopt(const kernels::Matrix& w, const void* blocks, const float* norms, int checks = 256);
  bool built() const { return w_.data != nullptr; }
  // Bytes of the sketch (blocks and norms), owned or adopted.
  size_t bytes() const {
    return built() ? static_cast<size_t>(w_.rows) * (RowBytes() + sizeof(Norms)) : 0;
  }
  // The sketch as stored in a GGUF: Q8_0 blocks [rows, cols/32] and norms [rows][2] (f32).
  const uint8_t* blocks() const { return blocks_; }
  const float* norms() const { return reinterpret_cast<const float*>(norms_); }

  // The index of the largest of w·x over rows [0, valid), first on ties; -1 when the bound does
  // not narrow it to kMaxCandidates rows or x is not finite. Not thread-safe (scratch inside).
  int64_t ArgMax(const float* x, int64_t valid, ThreadPool& pool);

  const LmHeadSketchStats& stats() const { return stats_; }

 private:
  struct Norms {
    float diff;    // ‖W_i − W̃_i‖, rounded up
    float sketch;  // ‖W̃_i‖, rounded up
  };
  static_assert(sizeof(Norms) == 2 * sizeof(float), "norms are stored as float pairs");
  // Makes (blocks, norms) the sketch of w and sizes the scratch.
  void Use(const kernels::Matrix& w, const uint8_t* blocks, const Norms* norms);
  // Quantizes row r of w into blocks / norms; false if it is not finite.
  static bool BuildRow(const kernels::Matrix& w, int64_t r, float* scratch, uint8_t* blocks,
                       Norms* norms);
  // The bound e_i on |logit_i − s_i| for this call's x-dependent factors (see ArgMax).
  float Bound(int64_t i, float ab, float cb) const {
    return (ab * norms_[i].diff + cb * norms_[i].sketch) * kBoundFactor;
  }
  // Covers the f32 rounding of Bound's own arithmetic and of s_i ± e_i (a few ulps).
  static constexpr float kBoundFactor = 1.0001f;
  kernels::Matrix w_;                 // the lm_head itself
  int64_t RowBytes() const { return w_.cols / kernels::kQBlock * int64_t{sizeof(kernels::BlockQ8_0)}; }
  // Q8_0 [rows, cols/32] and norms [rows]: owned (Build) or adopted (Adopt). The owned blocks are
  // not value-initialized, so their pages are first touched by the parallel build rather than
  // by one thread zeroing them.
  const uint8_t* blocks_ = nullptr;
  const Norms* norms_ = nullptr;
  std::unique_ptr<uint8_t[]> owned_blocks_;
  std::vector<Norms> owned_norms_;
  std::vector<float> scores_;         // [rows] scratch
  std::vector<kernels::BlockQ8X> xq_; // [cols/32] scratch
  std::vector<int64_t> cand_;         // scratch, capacity kMaxCandidates
  LmHeadSketchStats stats_;
};

}  // namespace fastvlm::llm
