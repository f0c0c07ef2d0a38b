// FastViTHD + mlp2x_gelu projector: loading (both checkpoint layouts of spec §7, architecture
// inferred from the tensors present) and the forward pass (spec §1, §2, §10).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "base/check.h"
#include "base/thread_pool.h"
#include "vision/fastvithd_blocks.h"
#include "vision/vision.h"

namespace fastvlm::vision {

using internal::AttentionBlock;
using internal::ConvFFN;
using internal::DwConv;
using internal::Linear;
using internal::RepMixerBlock;
using internal::Stage;
using io::TensorView;

namespace {

const char kApplePrefix[] = "model.vision_tower.vision_tower.model.";
const char kHFPrefix[] = "model.vision_tower.timm_model.";

// Tensor names of one layout (spec §7.1 / §7.2); block-relative names are appended to a block
// prefix such as "network.4.7." / "stages.2.blocks.7.".
struct Scheme {
  std::string prefix;
  std::string stem[3];
  std::string ffn_conv, ffn_bn, fc1, fc2;  // relative to a block
  std::string ls, ls1, ls2;
  std::string final_conv, se_reduce, se_expand;
  std::string proj1, proj2;
};

Scheme MakeScheme(io::Layout layout) {
  Scheme s;
  if (layout == io::Layout::kFastVlmHF) {
    s.prefix = kHFPrefix;
    for (int i = 0; i < 3; ++i) s.stem[i] = s.prefix + "stem." + std::to_string(i) + ".reparam_conv";
    s.ffn_conv = "mlp.conv.conv.weight";
    s.ffn_bn = "mlp.conv.bn.";
    s.fc1 = "mlp.fc1";
    s.fc2 = "mlp.fc2";
    s.ls = "layer_scale.gamma";
    s.ls1 = "layer_scale_1.gamma";
    s.ls2 = "layer_scale_2.gamma";
    s.final_conv = s.prefix + "final_conv.reparam_conv";
    s.se_reduce = s.prefix + "final_conv.se.fc1";
    s.se_expand = s.prefix + "final_conv.se.fc2";
    s.proj1 = "model.multi_modal_projector.linear_1";
    s.proj2 = "model.multi_modal_projector.linear_2";
  } else {
    s.prefix = kApplePrefix;
    for (int i = 0; i < 3; ++i)
      s.stem[i] = s.prefix + "patch_embed." + std::to_string(i) + ".reparam_conv";
    s.ffn_conv = "convffn.conv.conv.weight";
    s.ffn_bn = "convffn.conv.bn.";
    s.fc1 = "convffn.fc1";
    s.fc2 = "convffn.fc2";
    s.ls = "layer_scale";
    s.ls1 = "layer_scale_1";
    s.ls2 = "layer_scale_2";
    s.final_conv = s.prefix + "conv_exp.reparam_conv";
    s.se_reduce = s.prefix + "conv_exp.se.reduce";
    s.se_expand = s.prefix + "conv_exp.se.expand";
    s.proj1 = "model.mm_projector.0";
    s.proj2 = "model.mm_projector.2";
  }
  return s;
}

// Where one stage's tensors live.
struct StageNames {
  std::string down_lk, down_pw;  // empty: no downsample
  std::string cpe;               // empty: no RepCPE
  std::string blocks;            // prefix of block M: blocks + "M."
};

std::vector<StageNames> FindStages(const io::Checkpoint& ckpt, const Scheme& sc,
                                   io::Layout layout) {
  std::vector<StageNames> out;
  const std::string& P = sc.prefix;
  if (layout == io::Layout::kFastVlmHF) {
    for (int s = 0;; ++s) {
      const std::string sp = P + "stages." + std::to_string(s) + ".";
      if (!ckpt.Find(sp + "blocks.0." + sc.fc1 + ".weight")) break;
      StageNames n;
      if (ckpt.Find(sp + "downsample.proj.0.reparam_conv.weight")) {
        n.down_lk = sp + "downsample.proj.0.reparam_conv";
        n.down_pw = sp + "downsample.proj.1.reparam_conv";
      }
      if (ckpt.Find(sp + "pos_emb.reparam_conv.weight")) n.cpe = sp + "pos_emb.reparam_conv";
      n.blocks = sp + "blocks.";
      out.push_back(n);
    }
    return out;
  }
  // Apple: `network` interleaves stages, PatchEmbeds and RepCPEs (spec §1.3).
  int net = 0;
  auto idx = [&](int i) { return P + "network." + std::to_string(i) + "."; };
  if (!ckpt.Find(idx(0) + "0." + sc.fc1 + ".weight")) return out;
  out.push_back({"", "", "", idx(0)});
  net = 1;
  while (ckpt.Find(idx(net) + "proj.0.lkb_reparam.weight")) {
    StageNames n;
    n.down_lk = idx(net) + "proj.0.lkb_reparam";
    n.down_pw = idx(net) + "proj.1.reparam_conv";
    ++net;
    if (ckpt.Find(idx(net) + "reparam_conv.weight")) {
      n.cpe = idx(net) + "reparam_conv";
      ++net;
    }
    n.blocks = idx(net);
    ++net;
    out.push_back(n);
  }
  return out;
}

// Reads tensors, validating every shape, and remembers which were used.
class Loader {
 public:
  Loader(const io::Checkpoint& ckpt, ThreadPool* pool) : ckpt_(ckpt), pool_(pool) {}

  StatusOr<const TensorView*> Get(const std::string& name, const std::vector<int64_t>& shape) {
    ASSIGN_OR_RETURN(const TensorView* t, ckpt_.Get(name, shape));
    used_.insert(name);
    return t;
  }
  // A tensor's shape, for inferring widths; error naming it when absent.
  StatusOr<std::vector<int64_t>> ShapeOf(const std::string& name, size_t rank) {
    const TensorView* t = ckpt_.Find(name);
    if (!t)
      return Status::Error("checkpoint %s: missing vision tensor '%s'", ckpt_.dir().c_str(),
                           name.c_str());
    // `fastvlm quantize --vision-type q8_0` stores a 1×1 conv's weight as the matrix [out, in]
    // (a block type's rows must be the innermost dimension).
    if (rank == 4 && t->shape.size() == 2 && io::IsBlockDType(t->dtype))
      return std::vector<int64_t>{t->shape[0], t->shape[1], 1, 1};
    if (t->shape.size() != rank)
      return Status::Error("tensor '%s' in %s has shape %s; expected rank %zu", name.c_str(),
                           t->file.c_str(), t->ShapeString().c_str(), rank);
    return t->shape;
  }
  StatusOr<std::vector<float>> F32(const std::string& name, const std::vector<int64_t>& shape) {
    ASSIGN_OR_RETURN(const TensorView* t, Get(name, shape));
    return io::ToF32Vector(*t);
  }
  // Layer scale: [C, 1, 1] as stored by both layouts, or [C].
  StatusOr<std::vector<float>> Scale(const std::string& name, int64_t C) {
    const TensorView* t = ckpt_.Find(name);
    if (t && t->shape.size() == 1) return F32(name, {C});
    return F32(name, {C, 1, 1});
  }
  // A weight as a matrix [shape[0], shape[1]] (shape: [out, in] or a 1×1 conv's [out, in, 1, 1];
  // a block-quantized 1×1 conv is stored as its matrix [out, in], as ShapeOf reports).
  StatusOr<kernels::Matrix> Matrix(const std::string& name, std::vector<int64_t> shape) {
    const TensorView* f = ckpt_.Find(name);
    if (f && io::IsBlockDType(f->dtype) && shape.size() == 4 && shape[2] == 1 && shape[3] == 1)
      shape.resize(2);
    ASSIGN_OR_RETURN(const TensorView* t, Get(name, shape));
    kernels::Matrix m;
    switch (t->dtype) {
      case io::DType::kF32: m.type = kernels::WType::kF32; break;
      case io::DType::kBF16: m.type = kernels::WType::kBF16; break;
      case io::DType::kF16: m.type = kernels::WType::kF16; break;
      case io::DType::kQ8_0: m.type = kernels::WType::kQ8_0; break;
      case io::DType::kQ4_0: m.type = kernels::WType::kQ4_0; break;
      case io::DType::kQ4_1: m.type = kernels::WType::kQ4_1; break;
      default:
        return Status::Error("tensor '%s' in %s has dtype %s; weights must be F32, BF16 or F16",
                             name.c_str(), t->file.c_str(), io::DTypeName(t->dtype));
    }
    if (kernels::IsBlockType(m.type) && (shape.size() != 2 || shape[1] % 32 != 0)) {
      return Status::Error("tensor '%s' in %s is %s, which only a 1×1 conv or linear weight with a "
                           "multiple of 32 inputs may be; re-convert the model with `fastvlm "
                           "quantize`",
                           name.c_str(), t->file.c_str(), io::DTypeName(t->dtype));
    }
    if (t->decode_panels) {
      return Status::Error("tensor '%s' in %s is stored as language-model decode panels, which "
                           "the vision tower does not read; re-convert the model with `fastvlm "
                           "quantize`",
                           name.c_str(), t->file.c_str());
    }
    m.data = t->data;
    m.rows = shape[0];
    m.cols = shape[1];
    types_.insert(m.type);
    return m;
  }
  // A 1×1 conv ([out, in, 1, 1]) or Linear ([out, in]) with optional bias. A weight that the
  // GGUF stores pre-packed (io::TensorView::packed_panel) is used in place: no copy, no repack.
  Status LoadLinear(const std::string& base, int64_t out, int64_t in, bool conv, bool bias,
                    Linear* l) {
    std::vector<int64_t> shape{out, in};
    if (conv) shape = {out, in, 1, 1};
    const std::string name = base + ".weight";
    ASSIGN_OR_RETURN(kernels::Matrix m, Matrix(name, shape));
    std::vector<float> b;
    if (bias) {
      ASSIGN_OR_RETURN(b, F32(base + ".bias", {out}));
    }
    packed_names_.push_back(name);
    const TensorView* t = ckpt_.Find(name);
    if (t->packed_panel != 0) {
      if (t->packed_panel != kernels::kPackPanel || kernels::PackedTypeFor(m.type) != m.type ||
          static_cast<int64_t>(t->nbytes) != kernels::PackedMatrixBytes(m.type, out, in)) {
        return Status::Error("tensor '%s' in %s is stored packed in panels of %d %s outputs in "
                             "%zu bytes; this build packs panels of %lld (%lld bytes): re-convert "
                             "the model with this version's `fastvlm quantize`",
                             name.c_str(), t->file.c_str(), t->packed_panel,
                             kernels::WTypeName(m.type), t->nbytes,
                             (long long)kernels::kPackPanel,
                             (long long)kernels::PackedMatrixBytes(m.type, out, in));
      }
      l->storage.reset();
      l->w = kernels::PackedMatrix{m.type, out, in, t->data};
      l->bias = std::move(b);
      return Status::Ok();
    }
    internal::MakeLinear(m, std::move(b), l, pool_);
    return Status::Ok();
  }
  // A depthwise / multiplier conv [cout, 1, k, k] (+ bias [cout]); k read from the file.
  Status LoadDw(const std::string& base, int64_t cin, int mult, int stride, bool bias, DwConv* c) {
    ASSIGN_OR_RETURN(std::vector<int64_t> shape, ShapeOf(base + ".weight", 4));
    const int64_t k = shape[3];
    if (k % 2 == 0 || k > 15)
      return Status::Error("tensor '%s.weight' has shape [%lld, %lld, %lld, %lld]: expected an odd "
                           "square depthwise kernel", base.c_str(), (long long)shape[0],
                           (long long)shape[1], (long long)shape[2], (long long)shape[3]);
    ASSIGN_OR_RETURN(std::vector<float> w, F32(base + ".weight", {cin * mult, 1, k, k}));
    std::vector<float> b;
    if (bias) {
      ASSIGN_OR_RETURN(b, F32(base + ".bias", {cin * mult}));
    }
    internal::MakeDwConv(w.data(), cin * mult, static_cast<int>(k), stride, mult, std::move(b), c);
    return Status::Ok();
  }
  Status LoadConvFFN(const std::string& bp, const Scheme& sc, int64_t C, const std::string& ls,
                     ConvFFN* f) {
    ASSIGN_OR_RETURN(std::vector<int64_t> shape, ShapeOf(bp + sc.ffn_conv, 4));
    const int64_t k = shape[3];
    ASSIGN_OR_RETURN(std::vector<float> w, F32(bp + sc.ffn_conv, {C, 1, k, k}));
    ASSIGN_OR_RETURN(std::vector<float> g, F32(bp + sc.ffn_bn + "weight", {C}));
    ASSIGN_OR_RETURN(std::vector<float> b, F32(bp + sc.ffn_bn + "bias", {C}));
    ASSIGN_OR_RETURN(std::vector<float> mu, F32(bp + sc.ffn_bn + "running_mean", {C}));
    ASSIGN_OR_RETURN(std::vector<float> var, F32(bp + sc.ffn_bn + "running_var", {C}));
    internal::MakeConvFFNConv(w.data(), C, static_cast<int>(k), g.data(), b.data(), mu.data(),
                              var.data(), 1e-5f, &f->conv);
    ASSIGN_OR_RETURN(std::vector<int64_t> s1, ShapeOf(bp + sc.fc1 + ".weight", 4));
    const int64_t hidden = s1[0];
    RETURN_IF_ERROR(LoadLinear(bp + sc.fc1, hidden, C, true, true, &f->fc1));
    RETURN_IF_ERROR(LoadLinear(bp + sc.fc2, C, hidden, true, true, &f->fc2));
    ASSIGN_OR_RETURN(f->layer_scale, Scale(bp + ls, C));
    return Status::Ok();
  }

  const std::set<std::string>& used() const { return used_; }
  const std::set<kernels::WType>& types() const { return types_; }
  const std::vector<std::string>& packed_names() const { return packed_names_; }

 private:
  const io::Checkpoint& ckpt_;
  ThreadPool* pool_;
  std::vector<std::string> packed_names_;  // LoadLinear's weights, in load order
  std::set<std::string> used_;
  std::set<kernels::WType> types_;
};

}  // namespace

struct VisionModel::Impl {
  VisionInfo info;
  int image_size = 0;
  // Stem (mci.py convolutional_stem): dense 3×3 s2, depthwise 3×3 s2, 1×1; each + bias, GELU.
  std::vector<float> stem0_w, stem0_b;  // [k·k·3, C0]
  int stem0_k = 3;
  DwConv stem1;
  Linear stem2;
  std::vector<Stage> stages;
  internal::FinalConv final_conv;
  Linear proj1, proj2;
  std::vector<std::string> packed_names;  // checkpoint names of every Linear's weight

  // Activations, sized at load for image_size.
  std::vector<float> stem_buf, act_a, act_b, proj_hidden;
  internal::Workspace ws;
  int reserved_threads = 0;

  // Grows every buffer for `threads` threads by walking the network's shapes.
  void Reserve(int threads);
};

void VisionModel::Impl::Reserve(int threads) {
  if (threads <= reserved_threads) return;
  reserved_threads = threads;
  int64_t H = image_size, W = image_size;
  const int64_t C0 = stem2.out();
  auto out_size = [](int64_t n, int k, int s) { return (n + 2 * (k / 2) - k) / s + 1; };
  H = out_size(H, stem0_k, 2);
  W = out_size(W, stem0_k, 2);
  if (static_cast<int64_t>(stem_buf.size()) < H * W * C0) stem_buf.resize(H * W * C0);
  H = out_size(H, stem1.k, stem1.stride);
  W = out_size(W, stem1.k, stem1.stride);
  int64_t act = H * W * C0;
  ws.ReserveGemm(H * W, C0, threads);
  int64_t C = C0;
  for (const Stage& st : stages) {
    if (st.has_down) {
      H = out_size(H, st.down.lk.k, st.down.lk.stride);
      W = out_size(W, st.down.lk.k, st.down.lk.stride);
      act = std::max(act, H * W * st.down.lk.cout());
      ws.ReserveGemm(H * W, st.down.pw.in(), threads);
    }
    C = st.width;
    act = std::max(act, H * W * C);
    ws.ReserveBlock(H * W, C, threads, !st.attn.empty());
    ws.ReserveGemm(H * W, 4 * C, threads);
  }
  const int64_t F = final_conv.conv.cout();
  act = std::max(act, H * W * F);
  ws.ReserveSE(F, final_conv.rd);
  ws.ReserveGemm(H * W, F, threads);
  if (static_cast<int64_t>(act_a.size()) < act) act_a.resize(act);
  if (static_cast<int64_t>(act_b.size()) < act) act_b.resize(act);
  if (static_cast<int64_t>(proj_hidden.size()) < H * W * proj1.out())
    proj_hidden.resize(H * W * proj1.out());
}

VisionModel::VisionModel() : impl_(std::make_unique<Impl>()) {}
VisionModel::~VisionModel() = default;
const VisionInfo& VisionModel::info() const { return impl_->info; }
int VisionModel::image_size() const { return impl_->image_size; }
int VisionModel::num_tokens() const { return (impl_->image_size / 64) * (impl_->image_size / 64); }
int VisionModel::embed_dim() const { return impl_->info.embed_dim; }

bool HasVisionTower(const io::Checkpoint& ckpt) {
  for (const TensorView* t : ckpt.AllTensors())
    if (t->name.rfind(kApplePrefix, 0) == 0 || t->name.rfind(kHFPrefix, 0) == 0) return true;
  return false;
}

StatusOr<std::unique_ptr<VisionModel>> VisionModel::Load(const io::Checkpoint& ckpt,
                                                         const io::ModelConfig& cfg,
                                                         int image_size, ThreadPool* pool) {
  if (cfg.layout == io::Layout::kQwen2)
    return Status::Error("checkpoint %s is a plain Qwen2 model (model_type '%s'); it has no "
                         "vision tower", ckpt.dir().c_str(), cfg.model_type.c_str());
  if (image_size <= 0 || image_size % 64 != 0)
    return Status::Error("image size %d: FastViTHD needs a positive multiple of 64 (total "
                         "stride 64)", image_size);
  std::unique_ptr<VisionModel> model(new VisionModel());
  Impl& m = *model->impl_;
  m.image_size = image_size;
  m.info.layout = cfg.layout;
  const Scheme sc = MakeScheme(cfg.layout);
  Loader ld(ckpt, pool);

  // Stem.
  ASSIGN_OR_RETURN(std::vector<int64_t> s0, ld.ShapeOf(sc.stem[0] + ".weight", 4));
  const int64_t C0 = s0[0], k0 = s0[2];
  ASSIGN_OR_RETURN(std::vector<float> w0, ld.F32(sc.stem[0] + ".weight", {C0, 3, k0, k0}));
  ASSIGN_OR_RETURN(m.stem0_b, ld.F32(sc.stem[0] + ".bias", {C0}));
  m.stem0_k = static_cast<int>(k0);
  m.stem0_w.assign(k0 * k0 * 3 * C0, 0.0f);
  for (int64_t o = 0; o < C0; ++o)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 0; t < k0 * k0; ++t) m.stem0_w[(t * 3 + c) * C0 + o] = w0[(o * 3 + c) * k0 * k0 + t];
  RETURN_IF_ERROR(ld.LoadDw(sc.stem[1], C0, 1, 2, true, &m.stem1));
  RETURN_IF_ERROR(ld.LoadLinear(sc.stem[2], C0, C0, true, true, &m.stem2));

  // Stages.
  const std::vector<StageNames> names = FindStages(ckpt, sc, cfg.layout);
  if (names.empty())
    return Status::Error("checkpoint %s: no FastViTHD stages found (expected e.g. '%s')",
                         ckpt.dir().c_str(),
                         (sc.prefix + (cfg.layout == io::Layout::kFastVlmHF ? "stages.0.blocks.0." : "network.0.0.") + sc.fc1 + ".weight").c_str());
  int64_t C = C0;
  for (const StageNames& sn : names) {
    Stage st;
    if (!sn.down_lk.empty()) {
      ASSIGN_OR_RETURN(std::vector<int64_t> sl, ld.ShapeOf(sn.down_lk + ".weight", 4));
      if (sl[0] % C != 0 || (sl[0] / C != 1 && sl[0] / C != 2))
        return Status::Error("tensor '%s.weight' has %lld output channels for %lld input channels; "
                             "expected 2x (channel multiplier 2)", sn.down_lk.c_str(),
                             (long long)sl[0], (long long)C);
      const int mult = static_cast<int>(sl[0] / C);
      RETURN_IF_ERROR(ld.LoadDw(sn.down_lk, C, mult, 2, true, &st.down.lk));
      ASSIGN_OR_RETURN(std::vector<int64_t> sp, ld.ShapeOf(sn.down_pw + ".weight", 4));
      RETURN_IF_ERROR(ld.LoadLinear(sn.down_pw, sp[0], C * mult, true, true, &st.down.pw));
      st.has_down = true;
      C = sp[0];
    }
    if (!sn.cpe.empty()) {
      RETURN_IF_ERROR(ld.LoadDw(sn.cpe, C, 1, 1, true, &st.cpe));
      st.has_cpe = true;
    }
    st.width = C;
    for (int b = 0;; ++b) {
      const std::string bp = sn.blocks + std::to_string(b) + ".";
      if (!ckpt.Find(bp + sc.fc1 + ".weight")) break;
      // An attention block has qkv, norm and layer_scale_1; any one of them decides, so a missing
      // tensor is reported by its own name rather than as a missing RepMixer kernel.
      const bool attention = ckpt.Find(bp + "token_mixer.qkv.weight") ||
                             ckpt.Find(bp + "norm.weight") || ckpt.Find(bp + sc.ls1);
      if (attention) {
        if (!st.mixers.empty() || C % 32 != 0)
          return Status::Error("block '%s': attention needs width %% 32 == 0 (head_dim 32) and "
                               "a stage of attention blocks only; width %lld", bp.c_str(),
                               (long long)C);
        AttentionBlock ab;
        ASSIGN_OR_RETURN(ab.norm_w, ld.F32(bp + "norm.weight", {C}));
        ASSIGN_OR_RETURN(ab.norm_b, ld.F32(bp + "norm.bias", {C}));
        RETURN_IF_ERROR(ld.LoadLinear(bp + "token_mixer.qkv", 3 * C, C, false, false, &ab.qkv));
        RETURN_IF_ERROR(ld.LoadLinear(bp + "token_mixer.proj", C, C, false, true, &ab.proj));
        ASSIGN_OR_RETURN(ab.ls1, ld.Scale(bp + sc.ls1, C));
        RETURN_IF_ERROR(ld.LoadConvFFN(bp, sc, C, sc.ls2, &ab.ffn));
        st.attn.push_back(std::move(ab));
      } else {
        if (!st.attn.empty())
          return Status::Error("block '%s': RepMixer block after attention blocks", bp.c_str());
        RepMixerBlock rb;
        RETURN_IF_ERROR(ld.LoadDw(bp + "token_mixer.reparam_conv", C, 1, 1, true, &rb.mixer));
        RETURN_IF_ERROR(ld.LoadConvFFN(bp, sc, C, sc.ls, &rb.ffn));
        st.mixers.push_back(std::move(rb));
      }
    }
    m.info.widths.push_back(static_cast<int>(C));
    m.info.depths.push_back(st.depth());
    m.stages.push_back(std::move(st));
  }

  // Final conv (conv_exp) with SE.
  ASSIGN_OR_RETURN(std::vector<int64_t> sf, ld.ShapeOf(sc.final_conv + ".weight", 4));
  if (sf[0] % C != 0 || (sf[0] / C != 1 && sf[0] / C != 2))
    return Status::Error("tensor '%s.weight' has %lld output channels for %lld input channels; "
                         "expected 2x", sc.final_conv.c_str(), (long long)sf[0], (long long)C);
  RETURN_IF_ERROR(ld.LoadDw(sc.final_conv, C, static_cast<int>(sf[0] / C), 1, true, &m.final_conv.conv));
  const int64_t F = sf[0];
  ASSIGN_OR_RETURN(std::vector<int64_t> sr, ld.ShapeOf(sc.se_reduce + ".weight", 4));
  const int64_t rd = sr[0];
  m.final_conv.rd = rd;
  ASSIGN_OR_RETURN(m.final_conv.se_reduce_w, ld.F32(sc.se_reduce + ".weight", {rd, F, 1, 1}));
  ASSIGN_OR_RETURN(m.final_conv.se_reduce_b, ld.F32(sc.se_reduce + ".bias", {rd}));
  ASSIGN_OR_RETURN(m.final_conv.se_expand_w, ld.F32(sc.se_expand + ".weight", {F, rd, 1, 1}));
  ASSIGN_OR_RETURN(m.final_conv.se_expand_b, ld.F32(sc.se_expand + ".bias", {F}));
  m.info.feature_dim = static_cast<int>(F);

  // Projector.
  ASSIGN_OR_RETURN(std::vector<int64_t> sp1, ld.ShapeOf(sc.proj1 + ".weight", 2));
  const int64_t d = sp1[0];
  if (cfg.text.hidden_size > 0 && d != cfg.text.hidden_size)
    return Status::Error("tensor '%s.weight' has %lld outputs but the language model's "
                         "hidden_size is %d", sc.proj1.c_str(), (long long)d, cfg.text.hidden_size);
  RETURN_IF_ERROR(ld.LoadLinear(sc.proj1, d, F, false, true, &m.proj1));
  RETURN_IF_ERROR(ld.LoadLinear(sc.proj2, d, d, false, true, &m.proj2));
  m.info.embed_dim = static_cast<int>(d);

  // Every vision tensor must have been used: a leftover means the inferred architecture and the
  // file disagree.
  for (const TensorView* t : ckpt.AllTensors()) {
    const std::string& n = t->name;
    const bool vision = n.rfind(sc.prefix, 0) == 0 || n.rfind(sc.proj1.substr(0, sc.proj1.rfind('.')), 0) == 0;
    if (!vision || ld.used().count(n)) continue;
    if (n.find("num_batches_tracked") != std::string::npos) continue;
    if (n.rfind(sc.prefix + "head.", 0) == 0) continue;  // Apple's unused CLIP head (spec §1.1)
    return Status::Error("checkpoint %s has an unexpected vision tensor '%s' %s that the inferred "
                         "FastViTHD (widths from the tensors present) does not use",
                         ckpt.dir().c_str(), n.c_str(), t->ShapeString().c_str());
  }
  m.packed_names = ld.packed_names();
  const auto& types = ld.types();
  m.info.weight_type = types.size() == 1 ? kernels::WTypeName(*types.begin()) : "mixed";
  m.Reserve(1);
  return model;
}

std::vector<std::string> VisionModel::PackedWeightNames() const { return impl_->packed_names; }

Status VisionModel::Encode(const float* pixels, float* out, ThreadPool& pool,
                           VisionTimings* timings, const TraceFn& trace) {
  // Shapes (1024² input, 0.5B): pixels [1024, 1024, 3] → stem [256², 96] → stages
  // [256², 96] [128², 192] [64², 384] [32², 768] [16², 1536] → final_conv [256, 3072] →
  // projector [256, 896]. mci.py FastViT.forward / timm FastVit.forward_features, then
  // llava mm_projector (Linear, GELU, Linear).
  Impl& m = *impl_;
  m.Reserve(pool.size());  // allocates only for a pool larger than any before
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  internal::Workspace& ws = m.ws;
  auto emit = [&](const char* name, const float* data, std::vector<int64_t> shape) {
    if (trace) trace(name, data, shape);
  };

  // Stem.
  kernels::ConvShape cs;
  cs.H = cs.W = m.image_size;
  cs.Cin = 3;
  cs.Cout = m.stem2.out();
  cs.k = m.stem0_k;
  cs.stride = 2;
  cs.pad = m.stem0_k / 2;
  const int64_t C0 = cs.Cout;
  pool.ParallelChunks(cs.OH() * cs.OW(), 1, 64, [&](int64_t b, int64_t e, int) {
    kernels::Conv2D(pixels, cs, m.stem0_w.data(), m.stem0_b.data(), true,
                    m.stem_buf.data() + b * C0, b, e);
  });
  int64_t H = cs.OH(), W = cs.OW();
  float* cur = m.act_a.data();
  float* spare = m.act_b.data();
  internal::DwConvParallel(m.stem_buf.data(), H, W, m.stem1, true, spare, pool);
  {
    const kernels::DwConvShape s1 = m.stem1.Shape(H, W);
    H = s1.OH();
    W = s1.OW();
  }
  kernels::GemmEpilogue gelu;
  gelu.gelu = true;
  internal::GemmParallel(spare, C0, H * W, m.stem2, gelu, cur, C0, ws, pool);
  emit("stem", cur, {H, W, C0});

  for (size_t si = 0; si < m.stages.size(); ++si) {
    const Stage& st = m.stages[si];
    if (st.has_down) {
      // mci.py PatchEmbed.forward: GELU(lkb_reparam(x)) then GELU(1×1 conv).
      const kernels::DwConvShape s = st.down.lk.Shape(H, W);
      internal::DwConvParallel(cur, H, W, st.down.lk, true, spare, pool);
      H = s.OH();
      W = s.OW();
      internal::GemmParallel(spare, st.down.pw.in(), H * W, st.down.pw, gelu, cur, st.width, ws,
                             pool);
    }
    if (st.has_cpe) {  // mci.py RepCPE.forward (inference): reparam_conv(x), no residual
      internal::DwConvParallel(cur, H, W, st.cpe, false, spare, pool);
      std::swap(cur, spare);
    }
    for (const RepMixerBlock& b : st.mixers)
      internal::RepMixerBlockForward(b, H, W, cur, spare, cur, ws, pool);
    for (const AttentionBlock& b : st.attn) {
      internal::AttentionBlockForward(b, H, W, cur, spare, ws, pool);
      std::swap(cur, spare);
    }
    emit(("stage" + std::to_string(si)).c_str(), cur, {H, W, st.width});
  }

  const int64_t F = m.final_conv.conv.cout(), N = H * W;
  internal::FinalConvForward(m.final_conv, H, W, cur, spare, ws, pool);
  emit("final_conv", spare, {H, W, F});
  const auto t1 = Clock::now();

  // Projector (llava builder.py mlp2x_gelu): Linear → GELU → Linear, tokens row-major.
  kernels::GemmEpilogue e1;
  e1.gelu = true;
  internal::GemmParallel(spare, F, N, m.proj1, e1, m.proj_hidden.data(), m.proj1.out(), ws, pool);
  internal::GemmParallel(m.proj_hidden.data(), m.proj1.out(), N, m.proj2, {}, out, m.proj2.out(),
                         ws, pool);
  emit("projector", out, {N, m.proj2.out()});
  const auto t2 = Clock::now();
  if (timings) {
    timings->encoder = std::chrono::duration<double>(t1 - t0).count();
    timings->projector = std::chrono::duration<double>(t2 - t1).count();
  }
  return Status::Ok();
}

}  // namespace fastvlm::vision
