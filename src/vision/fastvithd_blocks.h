// Internal to src/vision: the FastViTHD weight structs and block forward functions, exposed so
// the block-level tests (tests/unit/vision_blocks_test.cc) can run one block at real widths.
// Activations are NHWC f32 ([H·W, C] row-major); weights as in vision.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/ops.h"

namespace fastvlm {
class ThreadPool;
}

namespace fastvlm::vision::internal {

// A 1×1 convolution / Linear: W [out, in] packed for kernels::GemmPacked, bias f32.
struct Linear {
  kernels::PackedMatrix w;
  std::unique_ptr<float[]> storage;  // the packed weights
  std::vector<float> bias;     // [out]; empty: none
  int64_t in() const { return w.cols; }
  int64_t out() const { return w.rows; }
};
// Packs `m` ([out, in] in its stored type); bias may be empty. Large matrices are packed on
// `pool` when given (load time).
void MakeLinear(const kernels::Matrix& m, std::vector<float> bias, Linear* out,
                ThreadPool* pool = nullptr);

// A depthwise (mult 1) or channel-multiplier-2 k×k convolution, pad k/2: weights tap-major
// [k·k, cin·mult] (PyTorch [cout, 1, k, k] transposed), bias f32 (empty: none).
struct DwConv {
  int k = 3, stride = 1, mult = 1;
  int64_t cin = 0;
  std::vector<float> w;
  std::vector<float> bias;
  int64_t cout() const { return cin * mult; }
  kernels::DwConvShape Shape(int64_t H, int64_t W) const;
};
// From PyTorch layout w_oikk [cout, 1, k, k].
void MakeDwConv(const float* w_oikk, int64_t cout, int k, int stride, int mult,
                std::vector<float> bias, DwConv* out);

// ConvFFN (mci.py ConvFFN / timm ConvMlp): dw7x7 with its BatchNorm folded at load (in f32),
// fc1 (C→4C) + GELU, fc2 (4C→C); the block's layer scale multiplies the fc2 output.
struct ConvFFN {
  DwConv conv;
  Linear fc1, fc2;
  std::vector<float> layer_scale;  // [C]
};
// BatchNorm (eval, eps) folded into the bias-free depthwise conv w_oikk [C, 1, k, k]:
// t = γ/√(σ²+eps), w' = w·t, b' = β − μ·t.
void MakeConvFFNConv(const float* w_oikk, int64_t C, int k, const float* gamma, const float* beta,
                     const float* mean, const float* var, float eps, DwConv* out);

struct RepMixerBlock {  // mci.py RepMixerBlock (inference form)
  DwConv mixer;         // token_mixer.reparam_conv: identity folded in, no residual
  ConvFFN ffn;
};

struct AttentionBlock {  // mci.py AttentionBlock
  std::vector<float> norm_w, norm_b;  // LayerNormChannel [C]
  Linear qkv;                         // [3C, C], no bias
  Linear proj;                        // [C, C] + bias
  std::vector<float> ls1;             // layer_scale_1 [C]
  ConvFFN ffn;                        // its layer_scale is layer_scale_2
};

struct PatchEmbed {  // mci.py PatchEmbed: ReparamLargeKernelConv (+GELU), then 1×1 (+GELU)
  DwConv lk;
  Linear pw;
};

struct Stage {
  int64_t width = 0;
  bool has_down = false;
  PatchEmbed down;
  bool has_cpe = false;
  DwConv cpe;  // RepCPE: dw7x7 + bias, identity folded in
  std::vector<RepMixerBlock> mixers;
  std::vector<AttentionBlock> attn;
  int depth() const { return static_cast<int>(mixers.size() + attn.size()); }
};

struct FinalConv {  // conv_exp / final_conv: grouped 3×3 (mult 2) + SE + GELU
  DwConv conv;
  std::vector<float> se_reduce_w, se_reduce_b;  // [rd, F], [rd]
  std::vector<float> se_expand_w, se_expand_b;  // [F, rd], [F]
  int64_t rd = 0;
};

// Per-thread scratch and shared intermediate buffers. Sized by Reserve* before a forward pass;
// the forward functions never allocate.
struct Workspace {
  struct PerThread {
    std::vector<float> tile;     // ConvFFN tile: dw output [rows, C]
    std::vector<float> hidden;   // ConvFFN tile: fc1 output [rows, 4C]; attention scores
    std::vector<float> gemm;     // kernels::GemmPacked scratch
  };
  std::vector<PerThread> threads;
  std::vector<float> t0, t1, t2, kpack, vpack;  // shared [N, ·] buffers (layer-wise paths)
  std::vector<float> se;                        // SE vectors
  std::vector<kernels::PackedMatrix> kp, vp;    // per-head views of kpack / vpack

  // Grows the buffers for a block of width C on N = H·W pixels and `nthreads` threads.
  void ReserveBlock(int64_t N, int64_t C, int nthreads, bool attention);
  void ReserveGemm(int64_t M, int64_t K, int nthreads);
  void ReserveThreads(int nthreads);
  void ReserveSE(int64_t F, int64_t rd);
};

// Rows of x per ConvFFN tile for width C: keeps the 4C-wide hidden tile (~0.5 MB) in L2, a
// multiple of row_block; FfnTileRowsBound(C) bounds it for every row block (workspace sizes).
int64_t FfnTileRowsBound(int64_t C);
int64_t FfnTileRows(int64_t C, int64_t row_block);

// y = x·Wᵀ with the epilogue, split over the pool in row × column tasks (each task a serial
// GemmPacked with its thread's scratch). ep.bias/scale/residual are for the whole matrix.
void GemmParallel(const float* x, int64_t ldx, int64_t M, const Linear& w,
                  kernels::GemmEpilogue ep, float* y, int64_t ldy, Workspace& ws,
                  ThreadPool& pool);
// y = conv(x) over all output pixels, split into bands over the pool. y: [OH·OW, cout].
void DwConvParallel(const float* x, int64_t H, int64_t W, const DwConv& c, bool gelu, float* y,
                    ThreadPool& pool);

// x, y: [H·W, C]. Each returns the block output in y.
// mci.py RepMixerBlock.forward: t = mixer(x); y = t + ls ⊙ ConvFFN(t). Uses `tmp` [H·W, C];
// y may alias x (x is consumed by the mixer before y is written), not tmp.
void RepMixerBlockForward(const RepMixerBlock& b, int64_t H, int64_t W, const float* x,
                          float* tmp, float* y, Workspace& ws, ThreadPool& pool);
// mci.py AttentionBlock.forward: x += ls1 ⊙ MHSA(LNc(x)) (in place in x); y = x + ls2 ⊙ ConvFFN(x).
void AttentionBlockForward(const AttentionBlock& b, int64_t H, int64_t W, float* x, float* y,
                           Workspace& ws, ThreadPool& pool);
// y = x + ls ⊙ ConvFFN(x) (mci.py ConvFFN.forward plus the block's residual).
void ConvFFNForward(const ConvFFN& f, int64_t H, int64_t W, const float* x, float* y,
                    Workspace& ws, ThreadPool& pool);
// mci.py MobileOneBlock.forward with SE (conv_exp): y = GELU(SE(conv(x))); x [H·W, C],
// y [H·W, 2C] (the conv's cout).
void FinalConvForward(const FinalConv& f, int64_t H, int64_t W, const float* x, float* y,
                      Workspace& ws, ThreadPool& pool);

}  // namespace fastvlm::vision::internal
