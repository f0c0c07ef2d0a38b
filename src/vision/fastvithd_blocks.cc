// FastViTHD blocks (spec §1.4), channel-last. Reference: apple/ml-fastvlm mci.py and timm
// fastvit.py (fastvit_mci3); the block comments name the forward each function implements.
#include "vision/fastvithd_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/thread_pool.h"

namespace fastvlm::vision::internal {

namespace {
constexpr int kHeadDim = 32;       // FastViTHD MHSA head_dim (spec §1.2)
constexpr int64_t kQueryRows = 48;  // attention query rows per task
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
template <class T>
void Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
}
}  // namespace

void MakeLinear(const kernels::Matrix& m, std::vector<float> bias, Linear* out, ThreadPool* pool) {
  const kernels::WType pt = kernels::PackedTypeFor(m.type);
  // Uninitialized: packing writes every byte, padding included.
  out->storage.reset(new float[CeilDiv(kernels::PackedMatrixBytes(pt, m.rows, m.cols), 4)]);
  const int64_t panels = CeilDiv(m.rows, kernels::kPackPanel);
  out->w = kernels::PackMatrixPanels(m, out->storage.get(), 0, 0);  // the descriptor only
  if (pool && pool->size() > 1 && m.rows * m.cols >= (1 << 16)) {
    pool->ParallelChunks(panels, 1, 4, [&](int64_t b, int64_t e, int) {
      kernels::PackMatrixPanels(m, out->storage.get(), b, e);
    });
  } else {
    kernels::PackMatrixPanels(m, out->storage.get(), 0, panels);
  }
  out->bias = std::move(bias);
}

kernels::DwConvShape DwConv::Shape(int64_t H, int64_t W) const {
  kernels::DwConvShape s;
  s.H = H;
  s.W = W;
  s.C = cin;
  s.k = k;
  s.stride = stride;
  s.pad = k / 2;
  s.mult = mult;
  return s;
}

void MakeDwConv(const float* w_oikk, int64_t cout, int k, int stride, int mult,
                std::vector<float> bias, DwConv* out) {
  out->k = k;
  out->stride = stride;
  out->mult = mult;
  out->cin = cout / mult;
  out->w.assign(static_cast<size_t>(k) * k * cout, 0.0f);
  for (int64_t o = 0; o < cout; ++o)
    for (int t = 0; t < k * k; ++t) out->w[t * cout + o] = w_oikk[o * k * k + t];
  out->bias = std::move(bias);
}

void MakeConvFFNConv(const float* w_oikk, int64_t C, int k, const float* gamma, const float* beta,
                     const float* mean, const float* var, float eps, DwConv* out) {
  std::vector<float> w(w_oikk, w_oikk + C * k * k), b(C);
  for (int64_t c = 0; c < C; ++c) {
    const float t = gamma[c] / std::sqrt(var[c] + eps);
    for (int i = 0; i < k * k; ++i) w[c * k * k + i] *= t;
    b[c] = beta[c] - mean[c] * t;
  }
  MakeDwConv(w.data(), C, k, 1, 1, std::move(b), out);
}

int64_t FfnTileRowsBound(int64_t C) {
  // 32768 floats of hidden per 1/4 of C: C=96 → 192 (cap), 384 → 84, 768 → 42.
  return std::clamp<int64_t>(32768 / std::max<int64_t>(C, 1), 16, 192);
}

int64_t FfnTileRows(int64_t C, int64_t row_block) {
  // A multiple of the GEMM's row block (kernels::GemmPackedRowBlock: 6, or 16 on AMX tiles, where
  // 4 leftover rows of 84 cost ~30% more time for the GEMMs): C=192 → 168 / 160, 384 → 84 / 80.
  return FfnTileRowsBound(C) / row_block * row_block;
}

void Workspace::ReserveThreads(int nthreads) {
  if (static_cast<int>(threads.size()) < nthreads) threads.resize(nthreads);
}

void Workspace::ReserveGemm(int64_t M, int64_t K, int nthreads) {
  ReserveThreads(nthreads);
  // GemmParallel's tasks have at most 192 rows.
  const int64_t bytes = kernels::GemmScratchBytes(std::min<int64_t>(M, 192), K);
  for (auto& t : threads) Grow(t.gemm, CeilDiv(bytes, 4));
}

void Workspace::ReserveBlock(int64_t N, int64_t C, int nthreads, bool attention) {
  ReserveThreads(nthreads);
  const int64_t rows = FfnTileRowsBound(C);  // any row block
  for (auto& t : threads) {
    Grow(t.tile, rows * C);
    Grow(t.hidden, rows * 4 * C);
    if (attention) Grow(t.hidden, kQueryRows * N);
    Grow(t.gemm, CeilDiv(kernels::GemmScratchBytes(std::max<int64_t>(rows, 192), 4 * C), 4));
  }
  // Layer-wise paths: dw output [N, C], hidden [N, 4C], qkv [N, 3C], attention output [N, C].
  Grow(t0, N * C);
  Grow(t1, N * 4 * C);
  if (attention) {
    Grow(t2, N * C);
    const int64_t heads = C / kHeadDim;
    Grow(kpack, heads * CeilDiv(N, kernels::kPackPanel) * kernels::kPackPanel * kHeadDim);
    Grow(vpack, heads * CeilDiv(kHeadDim, kernels::kPackPanel) * kernels::kPackPanel * N);
    Grow(kp, heads);
    Grow(vp, heads);
  }
}

void Workspace::ReserveSE(int64_t F, int64_t rd) { Grow(se, 2 * F + rd); }

void GemmParallel(const float* x, int64_t ldx, int64_t M, const Linear& w,
                  kernels::GemmEpilogue ep, float* y, int64_t ldy, Workspace& ws,
                  ThreadPool& pool) {
  const int64_t N = w.out(), panels = CeilDiv(N, kernels::kPackPanel);
  const int64_t threads = pool.size();
  // Rows per task (multiple of 6, the register tile), then enough column groups (multiples of
  // 4 panels, the column block) for ~4 tasks per thread so a busy core does not stall the rest.
  const int64_t mchunk = M <= 192 ? M : 192;
  const int64_t mt = CeilDiv(M, mchunk);
  int64_t groups = std::clamp<int64_t>(CeilDiv(4 * threads, mt), 1, CeilDiv(panels, 4));
  const int64_t gpanels = CeilDiv(CeilDiv(panels, groups), 4) * 4;
  groups = CeilDiv(panels, gpanels);
  if (ep.bias == nullptr && !w.bias.empty()) ep.bias = w.bias.data();
  pool.Run(mt * groups, [&](int64_t task, int thread) {
    const int64_t mi = task / groups, gi = task % groups;
    const int64_t m0 = mi * mchunk, rows = std::min(mchunk, M - m0);
    const int64_t n0 = gi * gpanels * kernels::kPackPanel,
                  n = std::min(N, n0 + gpanels * kernels::kPackPanel) - n0;
    kernels::GemmEpilogue e = ep;
    if (e.bias) e.bias += n0;
    if (e.scale) e.scale += n0;
    if (e.residual) e.residual += m0 * e.ldr + n0;
    kernels::GemmPacked(x + m0 * ldx, ldx, rows, w.w.Slice(n0, n), e, y + m0 * ldy + n0, ldy,
                        ws.threads[thread].gemm.data());
  });
}

void DwConvParallel(const float* x, int64_t H, int64_t W, const DwConv& c, bool gelu, float* y,
                    ThreadPool& pool) {
  const kernels::DwConvShape s = c.Shape(H, W);
  const int64_t P = s.OH() * s.OW(), cout = c.cout();
  const float* bias = c.bias.empty() ? nullptr : c.bias.data();
  pool.ParallelChunks(P, 1, std::max<int64_t>(1, 16384 / std::max<int64_t>(cout, 1)),
                      [&](int64_t b, int64_t e, int) {
                        kernels::DepthwiseConv(x, s, c.w.data(), bias, gelu, y + b * cout, b, e);
                      });
}

void ConvFFNForward(const ConvFFN& f, int64_t H, int64_t W, const float* x, float* y,
                    Workspace& ws, ThreadPool& pool) {
  // mci.py ConvFFN.forward + residual. x, y: [N = H·W, C]; hidden [rows, 4C] per tile.
  const int64_t N = H * W, C = f.conv.cin, C4 = f.fc1.out();
  const kernels::DwConvShape s = f.conv.Shape(H, W);
  const int64_t rows = FfnTileRows(C, kernels::GemmPackedRowBlock(f.fc1.w)), tiles = CeilDiv(N, rows);
  const int64_t wbytes = kernels::PackedMatrixBytes(f.fc1.w.type, C4, C) * 2;
  kernels::GemmEpilogue e1, e2;
  e1.bias = f.fc1.bias.data();
  e1.gelu = true;
  e2.bias = f.fc2.bias.data();
  e2.scale = f.layer_scale.data();
  e2.residual = x;
  e2.ldr = C;
  // Fused per pixel tile (dw7x7 → fc1 → GELU → fc2 → residual, the 4C hidden stays in L2) when
  // every tile can afford to re-read both weight matrices from L3; otherwise (few pixels, wide
  // weights: stages 3-4) layer by layer with the GEMMs split over output columns, so each
  // weight byte is read about once.
  if (wbytes <= (8 << 20) && tiles >= 4 * pool.size()) {
    pool.Run(tiles, [&](int64_t t, int thread) {
      Workspace::PerThread& th = ws.threads[thread];
      const int64_t p0 = t * rows, m = std::min(rows, N - p0);
      kernels::DepthwiseConv(x, s, f.conv.w.data(), f.conv.bias.data(), false, th.tile.data(), p0,
                             p0 + m);
      kernels::GemmPacked(th.tile.data(), C, m, f.fc1.w, e1, th.hidden.data(), C4, th.gemm.data());
      kernels::GemmEpilogue e = e2;
      e.residual = x + p0 * C;
      kernels::GemmPacked(th.hidden.data(), C4, m, f.fc2.w, e, y + p0 * C, C, th.gemm.data());
    });
    return;
  }
  float* dw = ws.t0.data();
  float* hidden = ws.t1.data();
  DwConvParallel(x, H, W, f.conv, false, dw, pool);
  GemmParallel(dw, C, N, f.fc1, e1, hidden, C4, ws, pool);
  GemmParallel(hidden, C4, N, f.fc2, e2, y, C, ws, pool);
}

void RepMixerBlockForward(const RepMixerBlock& b, int64_t H, int64_t W, const float* x,
                          float* tmp, float* y, Workspace& ws, ThreadPool& pool) {
  // mci.py RepMixerBlock.forward (inference): x = reparam_conv(x) (identity folded, no
  // residual); x = x + layer_scale ⊙ convffn(x). x, tmp, y: [H·W, C].
  DwConvParallel(x, H, W, b.mixer, false, tmp, pool);
  ConvFFNForward(b.ffn, H, W, tmp, y, ws, pool);
}

void AttentionBlockForward(const AttentionBlock& b, int64_t H, int64_t W, float* x, float* y,
                           Workspace& ws, ThreadPool& pool) {
  // mci.py AttentionBlock.forward: x = x + ls1 ⊙ MHSA(LayerNormChannel(x));
  // x = x + ls2 ⊙ ConvFFN(x). x: [N, C]; qkv [N, 3C] channels [q | k | v], each head-major.
  const int64_t N = H * W, C = b.qkv.in(), heads = C / kHeadDim;
  float* ln = ws.t0.data();    // [N, C]
  float* qkv = ws.t1.data();   // [N, 3C]
  float* attn = ws.t2.data();  // [N, C]
  pool.ParallelChunks(N, 1, 16, [&](int64_t r0, int64_t r1, int) {
    kernels::LayerNormRows(x + r0 * C, C, r1 - r0, C, b.norm_w.data(), b.norm_b.data(), 1e-5f,
                           ln + r0 * C, C);
  });
  GemmParallel(ln, C, N, b.qkv, {}, qkv, 3 * C, ws, pool);
  // K of head h as the weights of S = Q·Kᵀ ([N keys, 32]); V as the weights of O = P·V
  // ([32 outputs, N keys], read transposed).
  const int64_t kstride = CeilDiv(N, kernels::kPackPanel) * kernels::kPackPanel * kHeadDim;
  const int64_t vstride = CeilDiv(kHeadDim, kernels::kPackPanel) * kernels::kPackPanel * N;
  kernels::PackedMatrix* kp = ws.kp.data();
  kernels::PackedMatrix* vp = ws.vp.data();
  pool.Run(heads, [&](int64_t h, int) {
    kp[h] = kernels::PackMatrixF32(qkv + C + h * kHeadDim, 3 * C, N, kHeadDim, false,
                                   ws.kpack.data() + h * kstride);
    vp[h] = kernels::PackMatrixF32(qkv + 2 * C + h * kHeadDim, 3 * C, kHeadDim, N, true,
                                   ws.vpack.data() + h * vstride);
  });
  const int64_t qblocks = CeilDiv(N, kQueryRows);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  pool.Run(heads * qblocks, [&](int64_t task, int thread) {
    const int64_t h = task / qblocks, r0 = (task % qblocks) * kQueryRows;
    const int64_t rows = std::min(kQueryRows, N - r0);
    Workspace::PerThread& th = ws.threads[thread];
    float* s = th.hidden.data();  // [rows, N]
    kernels::GemmEpilogue es;
    es.alpha = scale;
    kernels::GemmPacked(qkv + r0 * 3 * C + h * kHeadDim, 3 * C, rows, kp[h], es, s, N,
                        th.gemm.data());
    for (int64_t i = 0; i < rows; ++i) kernels::Softmax(s + i * N, N);
    kernels::GemmPacked(s, N, rows, vp[h], {}, attn + r0 * C + h * kHeadDim, C, th.gemm.data());
  });
  kernels::GemmEpilogue ep;
  ep.scale = b.ls1.data();
  ep.residual = x;
  ep.ldr = C;
  GemmParallel(attn, C, N, b.proj, ep, x, C, ws, pool);
  ConvFFNForward(b.ffn, H, W, x, y, ws, pool);
}

void FinalConvForward(const FinalConv& f, int64_t H, int64_t W, const float* x, float* y,
                      Workspace& ws, ThreadPool& pool) {
  // mci.py MobileOneBlock.forward (conv_exp, inference): y = GELU(SE(reparam_conv(x))).
  // SEBlock: s = mean_{H,W}(y) → reduce + ReLU → expand + sigmoid; y ⊙ s. Global mean over the
  // actual H×W (the Hub remote code hard-codes 16×16, spec pitfall 19).
  const int64_t N = H * W, F = f.conv.cout(), rd = f.rd;
  DwConvParallel(x, H, W, f.conv, false, y, pool);
  float* mean = ws.se.data();
  float* hid = mean + F;
  float* gate = hid + rd;
  std::fill(mean, mean + F, 0.0f);
  for (int64_t p = 0; p < N; ++p)
    for (int64_t c = 0; c < F; ++c) mean[c] += y[p * F + c];
  for (int64_t c = 0; c < F; ++c) mean[c] /= static_cast<float>(N);
  const kernels::Matrix wr{kernels::WType::kF32, f.se_reduce_w.data(), rd, F};
  const kernels::Matrix we{kernels::WType::kF32, f.se_expand_w.data(), F, rd};
  kernels::MatMul(mean, F, 1, wr, f.se_reduce_b.data(), hid, rd, pool);
  for (int64_t r = 0; r < rd; ++r) hid[r] = std::max(hid[r], 0.0f);
  kernels::MatMul(hid, rd, 1, we, f.se_expand_b.data(), gate, F, pool);
  for (int64_t c = 0; c < F; ++c) gate[c] = 1.0f / (1.0f + std::exp(-gate[c]));
  pool.ParallelChunks(N, 1, 4, [&](int64_t p0, int64_t p1, int) {
    for (int64_t p = p0; p < p1; ++p) {
      float* row = y + p * F;
      for (int64_t c = 0; c < F; ++c) row[c] *= gate[c];
      kernels::Gelu(row, F);
    }
  });
}

}  // namespace fastvlm::vision::internal
