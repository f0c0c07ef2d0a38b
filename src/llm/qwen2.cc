#include "llm/qwen2.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <sys/mman.h>

#include "base/check.h"
#include "base/thread_pool.h"

namespace fastvlm::llm {

namespace {

using io::DType;
using io::TensorView;

StatusOr<const TensorView*> Require(const io::Checkpoint& ckpt, const std::string& name,
                                    const std::vector<int64_t>& shape,
                                    std::set<std::string>* used) {
  ASSIGN_OR_RETURN(const TensorView* t, ckpt.Get(name, shape));
  used->insert(name);
  return t;
}

StatusOr<kernels::Matrix> AsMatrix(const TensorView* t) {
  kernels::Matrix m;
  switch (t->dtype) {
    case DType::kF32: m.type = kernels::WType::kF32; break;
    case DType::kBF16: m.type = kernels::WType::kBF16; break;
    case DType::kF16: m.type = kernels::WType::kF16; break;
    case DType::kQ8_0: m.type = kernels::WType::kQ8_0; break;
    case DType::kQ4_0: m.type = kernels::WType::kQ4_0; break;
    case DType::kQ4_1: m.type = kernels::WType::kQ4_1; break;
    default:
      return Status::Error("tensor '%s' in %s has dtype %s; weights must be F32, BF16, F16, Q8_0, "
                           "Q4_0 or Q4_1",
                           t->name.c_str(), t->file.c_str(), io::DTypeName(t->dtype));
  }
  m.rows = t->shape[0];
  m.cols = t->shape.size() > 1 ? t->shape[1] : 1;
  if (t->decode_panels) {  // stored as the decode GEMV reads it (io/checkpoint_gguf.cc checked it)
    m.panels = t->data;
  } else {
    m.data = t->data;
  }
  return m;
}

}  // namespace

StatusOr<Qwen2Weights> LoadQwen2Weights(const io::Checkpoint& ckpt, const io::ModelConfig& mc) {
  const io::Qwen2Config& c = mc.text;
  const std::string& p = mc.llm_prefix;
  const int64_t d = c.hidden_size, hq = c.num_attention_heads * int64_t{c.head_dim},
                hkv = c.num_key_value_heads * int64_t{c.head_dim}, inter = c.intermediate_size,
                vocab = c.vocab_size;
  std::set<std::string> used;
  Qwen2Weights w;
  std::set<kernels::WType> types;

#define FVLM_MATRIX(dst, name, ...)                                        \
  do {                                                                     \
    ASSIGN_OR_RETURN(const TensorView* t_, Require(ckpt, name, {__VA_ARGS__}, &used)); \
    ASSIGN_OR_RETURN(dst, AsMatrix(t_));                                   \
    types.insert(dst.type);                                                \
  } while (0)
#define FVLM_VECTOR(dst, name, n)                                          \
  do {                                                                     \
    ASSIGN_OR_RETURN(const TensorView* t_, Require(ckpt, name, {n}, &used)); \
    ASSIGN_OR_RETURN(dst, io::ToF32Vector(*t_));                                      \
  } while (0)

  FVLM_MATRIX(w.embed_tokens, p + "embed_tokens.weight", vocab, d);
  w.layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    Qwen2Layer& L = w.layers[i];
    const std::string lp = p + "layers." + std::to_string(i) + ".";
    FVLM_VECTOR(L.input_layernorm, lp + "input_layernorm.weight", d);
    FVLM_MATRIX(L.q_proj, lp + "self_attn.q_proj.weight", hq, d);
    FVLM_VECTOR(L.q_bias, lp + "self_attn.q_proj.bias", hq);
    FVLM_MATRIX(L.k_proj, lp + "self_attn.k_proj.weight", hkv, d);
    FVLM_VECTOR(L.k_bias, lp + "self_attn.k_proj.bias", hkv);
    FVLM_MATRIX(L.v_proj, lp + "self_attn.v_proj.weight", hkv, d);
    FVLM_VECTOR(L.v_bias, lp + "self_attn.v_proj.bias", hkv);
    FVLM_MATRIX(L.o_proj, lp + "self_attn.o_proj.weight", d, hq);
    FVLM_VECTOR(L.post_attention_layernorm, lp + "post_attention_layernorm.weight", d);
    FVLM_MATRIX(L.gate_proj, lp + "mlp.gate_proj.weight", inter, d);
    FVLM_MATRIX(L.up_proj, lp + "mlp.up_proj.weight", inter, d);
    FVLM_MATRIX(L.down_proj, lp + "mlp.down_proj.weight", d, inter);
  }
  FVLM_VECTOR(w.norm, p + "norm.weight", d);
  if (ckpt.Find("lm_head.weight")) {
    FVLM_MATRIX(w.lm_head, "lm_head.weight", vocab, d);
  } else {
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  }
#undef FVLM_MATRIX
#undef FVLM_VECTOR

  // Anything else under the LLM prefix means the config and the weights disagree (e.g. more
  // layers in the file than num_hidden_layers).
  for (const TensorView* t : ckpt.AllTensors()) {
    if (t->name.rfind(p, 0) != 0 || used.count(t->name)) continue;
    if (mc.layout != io::Layout::kFastVlmHF &&
        (t->name.rfind("model.vision_tower.", 0) == 0 || t->name.rfind("model.mm_projector.", 0) == 0))
      continue;  // Apple layout: vision tensors share the "model." prefix
    if (t->name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // old HF buffers
    return Status::Error("checkpoint %s has an unexpected tensor '%s' %s that the Qwen2 model "
                         "with this config.json does not use (num_hidden_layers=%d)",
                         ckpt.dir().c_str(), t->name.c_str(), t->ShapeString().c_str(),
                         c.num_hidden_layers);
  }
  w.weight_type = types.size() == 1 ? kernels::WTypeName(*types.begin()) : "mixed";
  return w;
}

Qwen2Model::Qwen2Model(const io::Qwen2Config& cfg, Qwen2Weights weights, int max_context,
                       int max_batch)
    : cfg_(cfg),
      w_(std::move(weights)),
      max_context_(max_context),
      max_batch_(std::max(1, max_batch)),
      n_heads_(cfg.num_attention_heads),
      n_kv_heads_(cfg.num_key_value_heads),
      head_dim_(cfg.head_dim) {
  CHECK_GT(max_context_, 0);
  CHECK_EQ(n_heads_ % n_kv_heads_, 0);
  UnpackStoredPanelsIfInactive();
  // Capacity rounded up to whole key tiles (kernels::kKeyTile) so the tiled key cache of each
  // head never runs into the next.
  cache_capacity_ = static_cast<int>((max_context_ + kernels::kKeyTile - 1) / kernels::kKeyTile *
                                     kernels::kKeyTile);
  const size_t kv = static_cast<size_t>(cfg.num_hidden_layers) * n_kv_heads_ * cache_capacity_ * head_dim_;
  k_cache_.assign(kv, 0.0f);
  v_cache_.assign(kv, 0.0f);

  // RoPE exactly as transformers computes it in f32: inv_freq = 1 / theta^(2i/D), angle =
  // position · inv_freq (one f32 product), then cos / sin of that f32 angle.
  const int half = head_dim_ / 2;
  rope_cos_.resize(static_cast<size_t>(max_context_) * half);
  rope_sin_.resize(rope_cos_.size());
  const float theta = static_cast<float>(cfg.rope_theta);
  for (int i = 0; i < half; ++i) {
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim_);
    const float inv_freq = 1.0f / std::pow(theta, expo);
    for (int pos = 0; pos < max_context_; ++pos) {
      const float angle = static_cast<float>(pos) * inv_freq;
      rope_cos_[static_cast<size_t>(pos) * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      rope_sin_[static_cast<size_t>(pos) * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }

  const size_t d = cfg.hidden_size, b = max_batch_;
  x_.resize(b * d);
  xn_.resize(b * d);
  q_.resize(b * n_heads_ * head_dim_);
  k_.resize(b * n_kv_heads_ * head_dim_);
  v_.resize(b * n_kv_heads_ * head_dim_);
  attn_.resize(b * n_heads_ * head_dim_);
  gate_.resize(b * cfg.intermediate_size);
  up_.resize(b * cfg.intermediate_size);
  // One score row per (token, head) task would be too much; one per worker thread is enough
  // (sized for the pool on first use, see Attention).
  score_stride_ = (max_context_ + 15) & ~15;
}

void Qwen2Model::Truncate(int pos) { pos_ = std::clamp(pos, 0, pos_); }

Status Qwen2Model::Embed(const int32_t* ids, int n, float* out) const {
  const int64_t d = cfg_.hidden_size;
  for (int i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= w_.embed_tokens.rows) {
      return Status::Error("token id %d at position %d is outside the embedding table [0, %lld)",
                           ids[i], i, static_cast<long long>(w_.embed_tokens.rows));
    }
    kernels::RowToF32(w_.embed_tokens, ids[i], out + i * d);
  }
  return Status::Ok();
}

Status Qwen2Model::CheckFits(int n) const {
  if (n <= 0) return Status::Error("Forward called with %d tokens", n);
  if (pos_ + n > max_context_) {
    return Status::Error("context length exceeded: %d tokens in the cache + %d new > %d "
                         "(raise --ctx-size, at most max_position_embeddings=%d, or shorten the "
                         "prompt / --max-tokens)",
                         pos_, n, max_context_, cfg_.max_position_embeddings);
  }
  return Status::Ok();
}

Status Qwen2Model::ForwardTokensImpl(const int32_t* ids, int n, bool all_logits, float* logits,
                                     const GreedyOut* greedy, ThreadPool& pool) {
  RETURN_IF_ERROR(CheckFits(n));
  for (int i = 0; i < n; ++i) {  // validate everything before the cache changes
    if (ids[i] < 0 || ids[i] >= w_.embed_tokens.rows) {
      return Status::Error("token id %d at position %d is outside the embedding table [0, %lld)",
                           ids[i], i, static_cast<long long>(w_.embed_tokens.rows));
    }
  }
  // Embeds straight into the activation buffer, chunk by chunk: no allocation per token.
  for (int start = 0; start < n; start += max_batch_) {
    const int m = std::min(max_batch_, n - start);
    RETURN_IF_ERROR(Embed(ids + start, m, x_.data()));
    RunChunk(m, start, n, all_logits, logits, greedy, pool);
  }
  return Status::Ok();
}

Status Qwen2Model::ForwardTokens(const int32_t* ids, int n, bool all_logits, float* logits,
                                 ThreadPool& pool) {
  return ForwardTokensImpl(ids, n, all_logits, logits, nullptr, pool);
}

Status Qwen2Model::ForwardTokensGreedy(const int32_t* ids, int n, int valid_vocab, float* logits,
                                       int32_t* next, ThreadPool& pool) {
  const GreedyOut g{std::clamp(valid_vocab > 0 ? valid_vocab : vocab_rows(), 1, vocab_rows()), next};
  return ForwardTokensImpl(ids, n, false, logits, &g, pool);
}

bool Qwen2Model::EnableLmHeadSketch(ThreadPool& pool) { return sketch_.Build(w_.lm_head, pool); }

std::vector<kernels::Matrix*> Qwen2Model::DecodeMatrices() {
  std::vector<kernels::Matrix*> ms;
  for (Qwen2Layer& L : w_.layers)
    for (kernels::Matrix* m : {&L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.gate_proj,
                               &L.up_proj, &L.down_proj})
      ms.push_back(m);
  ms.push_back(&w_.lm_head);
  return ms;
}

void Qwen2Model::UnpackStoredPanelsIfInactive() {
  // Weights stored only as decode panels, on a CPU (or with a target / switch) where the panel
  // GEMV does not run: the standard layout, once, in memory this model owns. The tied embedding
  // table is the lm_head's tensor: one copy serves both.
  if (kernels::DecodePanelsActive()) return;
  std::vector<kernels::Matrix*> ms = DecodeMatrices();
  ms.push_back(&w_.embed_tokens);
  for (kernels::Matrix* m : ms) {
    if (m->data || !m->panels) continue;
    auto& buf = unpacked_[m->panels];
    if (buf.empty()) {
      buf.resize(static_cast<size_t>(m->rows * kernels::RowBytes(m->type, m->cols)));
      kernels::UnpackDecodePanels(*m, 0, m->rows, buf.data());
    }
    m->data = buf.data();
    m->panels = nullptr;
  }
}

int64_t Qwen2Model::decode_panel_bytes() const {
  if (!kernels::DecodePanelsActive()) return 0;
  int64_t bytes = 0;
  for (kernels::Matrix* m : const_cast<Qwen2Model*>(this)->DecodeMatrices())
    if (m->panels) bytes += kernels::DecodePanelBytes(*m);
  return bytes;
}

int64_t Qwen2Model::BuildDecodePanels(ThreadPool& pool,
                                      const std::function<void(const void*, size_t)>& release) {
  if (panels_ || !kernels::DecodePanelsActive()) return 0;
  std::vector<kernels::Matrix*> ms;
  for (kernels::Matrix* m : DecodeMatrices())  // not those the file stores as panels already
    if (!m->panels && kernels::DecodePanelsFit(*m)) ms.push_back(m);
  if (ms.empty()) return 0;
  std::vector<int64_t> offset(ms.size() + 1, 0);  // every size is a multiple of 64 · 18 bytes
  for (size_t i = 0; i < ms.size(); ++i) offset[i + 1] = offset[i] + kernels::DecodePanelBytes(*ms[i]);
  const size_t bytes = static_cast<size_t>(offset.back());
  // 2 MB-aligned and MADV_HUGEPAGE: decode streams these bytes every token, and through 4 KB
  // pages it ran ~9% slower (q4_0 0.5B, 2 threads, 6 alternating runs: median 99 vs 109
  // tokens/s). Faulting 2 MB pages in costs more at load on this VM (0.48-0.85 s instead of
  // 0.35-0.52 s for the whole load of that model), which ~100 decoded tokens pay back.
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t mapped = bytes + kHuge;
  void* m = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;  // the standard layout still works
  void* p = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(m) + kHuge - 1) & ~(kHuge - 1));
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KB
#endif
  panels_ = std::shared_ptr<void>(p, [m, mapped](void*) { ::munmap(m, mapped); });
  uint8_t* base = static_cast<uint8_t*>(p);
  // Tasks of 16 row groups (1024 rows), matrices one after another.
  constexpr int64_t kGroups = 16;
  std::vector<int64_t> task_start(ms.size() + 1, 0);
  for (size_t i = 0; i < ms.size(); ++i)
    task_start[i + 1] = task_start[i] + (ms[i]->rows / 64 + kGroups - 1) / kGroups;
  pool.Run(task_start.back(), [&](int64_t task, int) {
    size_t i = 0;
    while (task >= task_start[i + 1]) ++i;
    const int64_t g0 = (task - task_start[i]) * kGroups;
    const int64_t g1 = std::min(ms[i]->rows / 64, g0 + kGroups);
    kernels::PackDecodePanels(*ms[i], g0, g1, base + offset[i]);
    if (release) {
      const int64_t row_bytes = kernels::RowBytes(ms[i]->type, ms[i]->cols);
      release(ms[i]->Row(g0 * 64), static_cast<size_t>((g1 - g0) * 64 * row_bytes));
    }
  });
  for (size_t i = 0; i < ms.size(); ++i) ms[i]->panels = base + offset[i];
  return static_cast<int64_t>(bytes);
}

bool Qwen2Model::AdoptLmHeadSketch(const io::Checkpoint& ckpt) {
  const TensorView* b = ckpt.Find(kSketchBlocksTensor);
  const TensorView* n = ckpt.Find(kSketchNormsTensor);
  const int64_t rows = w_.lm_head.rows, cols = w_.lm_head.cols;
  if (!b || !n || b->dtype != DType::kQ8_0 || n->dtype != DType::kF32 ||
      b->shape != std::vector<int64_t>{rows, cols} || n->shape != std::vector<int64_t>{rows, 2} ||
      b->packed_panel != 0 || n->packed_panel != 0 ||
      b->nbytes != static_cast<size_t>(rows * kernels::RowBytes(kernels::WType::kQ8_0, cols)) ||
      n->nbytes != static_cast<size_t>(rows) * 2 * sizeof(float) ||
      reinterpret_cast<uintptr_t>(n->data) % alignof(float) != 0)
    return false;
  return sketch_.Adopt(w_.lm_head, b->data, static_cast<const float*>(n->data));
}

Status Qwen2Model::Forward(const float* embeddings, int n, bool all_logits, float* logits,
                           ThreadPool& pool) {
  RETURN_IF_ERROR(CheckFits(n));
  const int64_t d = cfg_.hidden_size;
  for (int start = 0; start < n; start += max_batch_) {
    const int m = std::min(max_batch_, n - start);
    std::memcpy(x_.data(), embeddings + start * d, sizeof(float) * m * d);
    RunChunk(m, start, n, all_logits, logits, nullptr, pool);
  }
  return Status::Ok();
}

// x_ holds the m inputs of tokens start..start+m-1 of an n-token call.
void Qwen2Model::RunChunk(int m, int start, int n, bool all_logits, float* logits,
                          const GreedyOut* greedy, ThreadPool& pool) {
  const int64_t d = cfg_.hidden_size, vocab = w_.lm_head.rows;
  ForwardChunk(x_.data(), m, pos_, pool);
  pos_ += m;
  // Final norm + lm_head, on every row or only the very last one.
  const int first = all_logits ? 0 : (start + m == n ? m - 1 : m);
  for (int t = first; t < m; ++t)
    kernels::RMSNorm(x_.data() + t * d, w_.norm.data(), d, static_cast<float>(cfg_.rms_norm_eps),
                     xn_.data() + t * d);
  if (first >= m) return;
  if (greedy && sketch_.built()) {
    const int64_t best = sketch_.ArgMax(xn_.data() + (m - 1) * d, greedy->valid, pool);
    if (best >= 0) {
      *greedy->next = static_cast<int32_t>(best);
      return;
    }
  }
  float* out = all_logits ? logits + static_cast<int64_t>(start + first) * vocab : logits;
  kernels::MatMul(xn_.data() + first * d, d, m - first, w_.lm_head, nullptr, out, vocab, pool);
  if (greedy) *greedy->next = static_cast<int32_t>(kernels::ArgMax(out + (m - 1 - first) * vocab, greedy->valid));
}

void Qwen2Model::ForwardChunk(float* x, int n, int pos0, ThreadPool& pool) {
  const int64_t d = cfg_.hidden_size, hq = n_heads_ * head_dim_, hkv = n_kv_heads_ * head_dim_,
                inter = cfg_.intermediate_size;
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const int half = head_dim_ / 2;
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    const Qwen2Layer& L = w_.layers[l];
    // --- self-attention ---  x [n, d] → xn [n, d] → q [n, Hq·D], k/v [n, Hkv·D]
    for (int t = 0; t < n; ++t)
      kernels::RMSNorm(x + t * d, L.input_layernorm.data(), d, eps, xn_.data() + t * d);
    // q and k keep f32 activations: an error δ in a score q·k/√D is a relative error δ in its
    // attention weight, and sharp attention (large |q|·|k|) amplifies bf16 rounding of x into
    // such errors. They are ~6% of a layer's multiply-adds at 0.5B, so this costs little.
    const kernels::MatMulTarget qkv[3] = {{&L.q_proj, L.q_bias.data(), q_.data(), hq, true},
                                          {&L.k_proj, L.k_bias.data(), k_.data(), hkv, true},
                                          {&L.v_proj, L.v_bias.data(), v_.data(), hkv, false}};
    kernels::MatMulShared(xn_.data(), d, n, qkv, 3, pool);
    // RoPE on q and k, then append k/v to the cache [layer][kv_head][pos][D].
    for (int t = 0; t < n; ++t) {
      const float* c = rope_cos_.data() + static_cast<size_t>(pos0 + t) * half;
      const float* s = rope_sin_.data() + static_cast<size_t>(pos0 + t) * half;
      kernels::RoPE(q_.data() + t * hq, n_heads_, head_dim_, c, s);
      kernels::RoPE(k_.data() + t * hkv, n_kv_heads_, head_dim_, c, s);
      for (int h = 0; h < n_kv_heads_; ++h) {
        const size_t base = (static_cast<size_t>(l) * n_kv_heads_ + h) * cache_capacity_ * head_dim_;
        const float* kh = k_.data() + t * hkv + h * head_dim_;
        for (int d = 0; d < head_dim_; ++d)
          k_cache_[base + kernels::KeyTileIndex(pos0 + t, d, head_dim_)] = kh[d];
        std::memcpy(&v_cache_[base + static_cast<size_t>(pos0 + t) * head_dim_],
                    v_.data() + t * hkv + h * head_dim_, sizeof(float) * head_dim_);
      }
    }
    Attention(l, n, pos0, pool);
    // o_proj, residual: reuse xn as the projection output.
    kernels::MatMul(attn_.data(), hq, n, L.o_proj, nullptr, xn_.data(), d, pool);
    kernels::Add(x, xn_.data(), n * d, x);
    // --- MLP ---  xn [n, d] → gate/up [n, I] → down [n, d]
    for (int t = 0; t < n; ++t)
      kernels::RMSNorm(x + t * d, L.post_attention_layernorm.data(), d, eps, xn_.data() + t * d);
    const kernels::MatMulTarget gate_up[2] = {{&L.gate_proj, nullptr, gate_.data(), inter},
                                              {&L.up_proj, nullptr, up_.data(), inter}};
    kernels::MatMulShared(xn_.data(), d, n, gate_up, 2, pool);
    kernels::SiLUMul(gate_.data(), up_.data(), n * inter, gate_.data());
    kernels::MatMul(gate_.data(), inter, n, L.down_proj, nullptr, xn_.data(), d, pool);
    kernels::Add(x, xn_.data(), n * d, x);
  }
}

// Causal GQA attention for the n new tokens at positions pos0.. against the whole cache.
// q head h reads kv head h / (Hq/Hkv) (spec §3). Softmax in f32 as transformers does.
// One task is a token and a run of q heads of one kv head: the run reads that kv head's keys and
// values once (DotColumnsGroup / WeightedRowSumGroup, each head's result bit for bit the
// per-head kernels'). The runs are whole groups unless that leaves threads idle (decode: one
// task per kv head), then groups are split until every thread has a task.
void Qwen2Model::Attention(int l, int n, int pos0, ThreadPool& pool) {
  const int group = n_heads_ / n_kv_heads_;
  const int64_t hq = n_heads_ * head_dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const int64_t groups = static_cast<int64_t>(n) * n_kv_heads_;
  const int splits = static_cast<int>(
      std::clamp<int64_t>((pool.size() + groups - 1) / groups, 1, group));
  const int run = (group + splits - 1) / splits;
  // `run` score rows per pool thread; grows only when a larger pool is first used.
  const size_t need = static_cast<size_t>(score_stride_) * run * pool.size();
  if (scores_.size() < need) scores_.resize(need);
  pool.Run(groups * splits, [&](int64_t task, int thread) {
    const int64_t g = task / splits;
    const int t = static_cast<int>(g / n_kv_heads_), kvh = static_cast<int>(g % n_kv_heads_);
    const int h0 = kvh * group + static_cast<int>(task % splits) * run;
    const int nh = std::min(run, (kvh + 1) * group - h0);
    if (nh <= 0) return;
    const int len = pos0 + t + 1;  // causal: keys 0..pos0+t
    const float* q = q_.data() + t * hq + h0 * head_dim_;
    const size_t base = (static_cast<size_t>(l) * n_kv_heads_ + kvh) * cache_capacity_ * head_dim_;
    const float* kc = k_cache_.data() + base;
    const float* vc = v_cache_.data() + base;
    float* sc = scores_.data() + static_cast<size_t>(thread) * run * score_stride_;
    kernels::DotColumnsGroup(q, head_dim_, nh, kc, head_dim_, len, scale, sc, score_stride_);
    for (int h = 0; h < nh; ++h) kernels::Softmax(sc + static_cast<size_t>(h) * score_stride_, len);
    kernels::WeightedRowSumGroup(sc, score_stride_, nh, vc, len, head_dim_, head_dim_,
                                 attn_.data() + t * hq + h0 * head_dim_, head_dim_);
  });
}

}  // namespace fastvlm::llm
