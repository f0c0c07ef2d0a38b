#include "quant/convert.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "io/config.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "llm/lm_head_sketch.h"
#include "quant/quant.h"
#include "vision/vision.h"

namespace fastvlm::quant {

io::GgmlType ToGgml(WType t) {
  switch (t) {
    case WType::kF32: return io::GgmlType::kF32;
    case WType::kBF16: return io::GgmlType::kBF16;
    case WType::kF16: return io::GgmlType::kF16;
    case WType::kQ8_0: return io::GgmlType::kQ8_0;
    case WType::kQ4_0: return io::GgmlType::kQ4_0;
    case WType::kQ4_1: return io::GgmlType::kQ4_1;
  }
  return io::GgmlType::kF32;
}

namespace {

using kernels::WType;


// The files of a model folder besides weights and config.json that a GGUF must carry.
constexpr const char* kEmbeddedFiles[] = {
    "tokenizer.json",        "vocab.json",          "merges.txt",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "preprocessor_config.json", "processor_config.json", "chat_template.json",
    "generation_config.json"};

bool IsVisionTensor(const std::string& n) {
  return n.rfind("model.vision_tower.", 0) == 0 || n.rfind("model.mm_projector.", 0) == 0 ||
         n.rfind("model.multi_modal_projector.", 0) == 0;
}

// A sketch stored in a GGUF source: rebuilt for the lm_head as it is written (or not at all).
bool IsStoredSketch(const std::string& n) {
  return n == llm::kSketchBlocksTensor || n == llm::kSketchNormsTensor;
}

// Tensors no model code reads: BatchNorm step counters and Apple's unused CLIP head.
bool IsDropped(const std::string& n) {
  return n.size() >= 20 && n.compare(n.size() - 20, 20, ".num_batches_tracked") == 0 ? true
         : n.find("vision_tower.vision_tower.model.head.") != std::string::npos;
}

}  // namespace

bool ParseWType(const std::string& s, WType* out) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, WType> kNames = {
      {"f32", WType::kF32},   {"bf16", WType::kBF16}, {"f16", WType::kF16},
      {"q8_0", WType::kQ8_0}, {"q4_0", WType::kQ4_0}, {"q4_1", WType::kQ4_1}};
  auto it = kNames.find(l);
  if (it == kNames.end()) return false;
  *out = it->second;
  return true;
}

Status ConvertToGguf(const ConvertOptions& opt, ConvertStats* stats,
                     const std::function<void(int, int, const std::string&)>& progress) {
  ConvertStats st;
  ASSIGN_OR_RETURN(auto ckpt, io::Checkpoint::Open(opt.model_dir));
  ASSIGN_OR_RETURN(io::ModelConfig cfg,
                   io::ParseModelConfig(ckpt->config_json(), opt.model_dir + "/config.json"));
  if (opt.vision_type_set && opt.vision_type != WType::kF32 && opt.vision_type != WType::kBF16 &&
      opt.vision_type != WType::kQ8_0) {
    return Status::Error("--vision-type %s: the vision tower can be written as f32, bf16 or q8_0",
                         kernels::WTypeName(opt.vision_type));
  }
  const bool vision_blocks = opt.vision_type_set && kernels::IsBlockType(opt.vision_type);
  std::vector<std::regex> patterns;
  for (const auto& [p, t] : opt.overrides) {
    try {
      patterns.emplace_back(p);
    } catch (const std::regex_error& e) {
      return Status::Error("--tensor-type '%s': not a valid regular expression (%s)", p.c_str(),
                           e.what());
    }
  }

  io::GgufWriter w(64);
  w.SetString("general.architecture", "fastvlm");
  w.SetString("general.name", std::filesystem::path(opt.model_dir).filename().string());
  w.SetU32("fastvlm.format_version", 1);
  w.SetString("fastvlm.config_json", ckpt->config_json());
  w.SetString("fastvlm.quantization", kernels::WTypeName(opt.type));
  w.SetString("fastvlm.source", opt.model_dir);
  for (const char* f : kEmbeddedFiles) {
    if (!ckpt->HasFile(f)) continue;
    ASSIGN_OR_RETURN(std::string text, ckpt->ReadFile(f));
    w.SetString(std::string("fastvlm.file.") + f, std::move(text));
  }

  // The vision tower's 1×1-conv / linear weights are written already packed for the vision
  // GEMM (kernels::PackMatrix), so loading the file does no repacking: which tensors those are is
  // what the vision loader itself reads as packed weights. A fastvlm GGUF as the source has them
  // packed already (TensorView::packed_panel); they are copied as they are.
  const bool from_gguf = ckpt->is_gguf();
  std::set<std::string> packed;
  if (!from_gguf && cfg.layout != io::Layout::kQwen2 && vision::HasVisionTower(*ckpt)) {
    ASSIGN_OR_RETURN(auto vm, vision::VisionModel::Load(*ckpt, cfg, 64));
    for (const std::string& n : vm->PackedWeightNames()) packed.insert(n);
    w.SetU32("fastvlm.packed_panel", static_cast<uint32_t>(kernels::kPackPanel));
  }

  const std::vector<const io::TensorView*> all = ckpt->AllTensors();
  if (from_gguf) {
    for (const io::TensorView* t : all) {
      if (t->packed_panel == 0) continue;
      if (t->packed_panel != kernels::kPackPanel) {
        return Status::Error("tensor '%s' in %s is packed in panels of %d outputs; this build "
                             "packs %d: convert from the Hugging Face folder instead",
                             t->name.c_str(), t->file.c_str(), t->packed_panel,
                             static_cast<int>(kernels::kPackPanel));
      }
      w.SetU32("fastvlm.packed_panel", static_cast<uint32_t>(kernels::kPackPanel));
      break;
    }
  }
  std::map<std::string, int> counts;
  std::vector<float> row_f32;
  // The lm_head as the language model reads it (LoadQwen2Weights): lm_head.weight, else the tied
  // embeddings. Written in a float type, its greedy-decoding sketch is written beside it.
  const std::string lm_head_name =
      ckpt->Find("lm_head.weight") ? "lm_head.weight" : cfg.llm_prefix + "embed_tokens.weight";
  auto add_sketch = [&](const std::string& name, WType type, const void* data,
                        const std::vector<int64_t>& shape) -> Status {
    if (!opt.lm_head_sketch || name != lm_head_name || shape.size() != 2) return Status::Ok();
    const kernels::Matrix m{type, data, shape[0], shape[1]};
    if (!llm::LmHeadSketch::Supports(m)) return Status::Ok();
    ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    llm::LmHeadSketch sk;
    if (!sk.Build(m, pool)) return Status::Ok();  // non-finite values: no sketch
    const int64_t rows = shape[0], cols = shape[1];
    const size_t blocks = static_cast<size_t>(rows * kernels::RowBytes(WType::kQ8_0, cols));
    RETURN_IF_ERROR(w.AddTensor(llm::kSketchBlocksTensor, io::GgmlType::kQ8_0, {rows, cols},
                                std::vector<uint8_t>(sk.blocks(), sk.blocks() + blocks)));
    const auto* nb = reinterpret_cast<const uint8_t*>(sk.norms());
    RETURN_IF_ERROR(w.AddTensor(llm::kSketchNormsTensor, io::GgmlType::kF32, {rows, 2},
                                std::vector<uint8_t>(nb, nb + rows * 2 * sizeof(float))));
    st.lm_head_sketch = true;
    return Status::Ok();
  };
  // Unpacked copies of panel tensors of a GGUF source: the writer may keep pointers to them
  // until Write.
  std::list<std::vector<uint8_t>> unpacked;
  // Q8_0 / Q4_0 matrices of the language model are stored as int8 decode panels
  // (kernels::PackDecodePanels), so loading needs no rearranging; the flag names them.
  // `owned`: the bytes are this buffer's (moved into the writer), else the writer points at data.
  auto add_matrix = [&](const std::string& name, WType type, const std::vector<int64_t>& shape,
                        const void* data, size_t nbytes, const std::string& count_key,
                        std::vector<uint8_t>* owned) -> Status {
    if (opt.decode_panels && shape.size() == 2 && IsDecodeMatrixName(name, cfg.llm_prefix, lm_head_name)) {
      const kernels::Matrix m{type, data, shape[0], shape[1]};
      if (kernels::DecodePanelsFit(m)) {
        std::vector<uint8_t> bytes(static_cast<size_t>(kernels::DecodePanelBytes(m)));
        kernels::PackDecodePanels(m, 0, m.rows / 64, bytes.data());
        w.SetU32("fastvlm.decode_panels." + name, 64);
        ++counts[count_key + " (decode panels)"];
        return w.AddTensor(name, ToGgml(type), shape, std::move(bytes));
      }
    }
    ++counts[count_key];
    if (owned) return w.AddTensor(name, ToGgml(type), shape, std::move(*owned));
    return w.AddTensor(name, ToGgml(type), shape, data, nbytes);
  };
  for (size_t k = 0; k < all.size(); ++k) {
    // A source tensor stored as decode panels is read in the standard layout like any other.
    io::TensorView t = *all[k];
    if (t.decode_panels) {
      t.data = StandardBytes(t, &unpacked.emplace_back());
      t.decode_panels = false;
    }
    if (progress) progress(static_cast<int>(k), static_cast<int>(all.size()), t.name);
    if (IsStoredSketch(t.name)) continue;
    if (IsDropped(t.name)) {
      ++st.dropped;
      continue;
    }
    WType stored;
    if (!StoredWType(t.dtype, &stored)) {
      return Status::Error("tensor '%s' in %s has dtype %s; only F32 / BF16 / F16 tensors (and "
                           "the Q8_0 / Q4_0 / Q4_1 blocks of a GGUF) can be converted",
                           t.name.c_str(), t.file.c_str(), io::DTypeName(t.dtype));
    }
    // Default: matrices of the language model take --type; the vision tower and projector
    // --vision-type (or their stored type); vectors (norms, biases, scales) and small kernels f32.
    const bool matrix = t.shape.size() == 2;
    WType target = stored == WType::kBF16 ? WType::kBF16 : WType::kF32;
    // A 1×1 conv / linear weight the vision GEMM reads (packed) whose rows are whole 32-value
    // blocks: the only vision tensors --vision-type q8_0 quantizes (written as the matrix
    // [out, in]); the rest (depthwise and stem kernels, norms) keep their float type.
    const bool vision_gemm_blocks = packed.count(t.name) && !t.shape.empty() &&
                                    (t.numel() / t.shape[0]) % 32 == 0;
    if (IsVisionTensor(t.name)) {
      if (opt.vision_type_set && (matrix || t.shape.size() == 4)) {
        // Block types only for the GEMM weights; a packed one (a GGUF source) is refused below.
        if (!vision_blocks || vision_gemm_blocks || t.packed_panel != 0) {
          target = opt.vision_type;
        } else {
          ++st.vision_kept_float;
        }
      }
    } else if (matrix) {
      target = opt.type;
    } else {
      target = WType::kF32;
    }
    for (size_t p = 0; p < patterns.size(); ++p) {
      if (std::regex_search(t.name, patterns[p])) {
        target = opt.overrides[p].second;
        break;
      }
    }
    st.source_bytes += t.nbytes;
    if (t.packed_panel != 0) {
      // Already in the vision GEMM's layout (a fastvlm GGUF as the source): bit for bit.
      if (kernels::IsBlockType(target) || kernels::PackedTypeFor(target) != stored) {
        return Status::Error("tensor '%s' in %s is stored packed for the vision kernels as %s; "
                             "it can only be copied as it is, not converted to %s: leave out "
                             "--vision-type (or the --tensor-type that matches it), or convert "
                             "from the Hugging Face folder",
                             t.name.c_str(), t.file.c_str(), kernels::WTypeName(stored),
                             kernels::WTypeName(target));
      }
      w.SetI64Array("fastvlm.packed." + t.name, t.shape);
      const int64_t elems = static_cast<int64_t>(t.nbytes) / (stored == WType::kF32 ? 4 : 2);
      ++counts[io::GgmlTypeName(ToGgml(stored)) + std::string(" (packed)")];
      RETURN_IF_ERROR(w.AddTensor(t.name, ToGgml(stored), {elems}, t.data, t.nbytes));
      ++st.tensors;
      continue;
    }
    std::vector<int64_t> out_shape = t.shape;
    if (IsVisionTensor(t.name) && vision_gemm_blocks && kernels::IsBlockType(target)) {
      out_shape = {t.shape[0], t.numel() / t.shape[0]};  // [out, in, 1, 1] -> [out, in]
    }
    const int64_t cols = out_shape.empty() ? 1 : out_shape.back();
    const int64_t rows = t.numel() / std::max<int64_t>(cols, 1);
    if (kernels::IsBlockType(target) && cols % 32 != 0) {
      if (!matrix) target = WType::kF32;  // vectors never quantize
      else
        return Status::Error("tensor '%s' %s: rows of %lld values are not a multiple of the 32-"
                             "value block of %s; keep it in a float type with --tensor-type",
                             t.name.c_str(), t.ShapeString().c_str(), (long long)cols,
                             kernels::WTypeName(target));
    }
    if (kernels::IsBlockType(stored) && kernels::IsBlockType(target) && target != stored) {
      return Status::Error("tensor '%s' in %s is stored as %s; re-quantizing it to %s would "
                           "compound the rounding: keep it with --tensor-type '%s=%s', or "
                           "convert from the unquantized folder",
                           t.name.c_str(), t.file.c_str(), kernels::WTypeName(stored),
                           kernels::WTypeName(target), t.name.c_str(),
                           kernels::WTypeName(stored));
    }
    if (target == stored && !packed.count(t.name)) {  // as stored, bit for bit
      RETURN_IF_ERROR(add_matrix(t.name, target, out_shape, t.data, t.nbytes,
                                 io::GgmlTypeName(ToGgml(target)), nullptr));
      RETURN_IF_ERROR(add_sketch(t.name, target, t.data, out_shape));
      ++st.tensors;
      continue;
    }
    std::vector<uint8_t> out(static_cast<size_t>(rows * kernels::RowBytes(target, cols)));
    row_f32.resize(static_cast<size_t>(cols));
    const size_t src_row_bytes = static_cast<size_t>(kernels::RowBytes(stored, cols));
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = static_cast<const uint8_t*>(t.data) + r * src_row_bytes;
      uint8_t* dst = out.data() + r * kernels::RowBytes(target, cols);
      if (target == stored) {
        std::memcpy(dst, src, src_row_bytes);
        continue;
      }
      if (kernels::IsBlockType(stored)) {
        DequantizeRow(stored, src, cols, row_f32.data());
      } else {
        io::TensorView row = t;
        row.shape = {cols};
        row.data = src;
        row.nbytes = src_row_bytes;
        RETURN_IF_ERROR(io::CopyToF32(row, row_f32.data(), row_f32.size()));
      }
      EncodeRow(target, row_f32.data(), cols, dst);
    }
    if (packed.count(t.name) && !kernels::IsBlockType(target)) {
      // [rows, cols] in `target` -> the packed layout (f16 packs as f32), stored 1-D with its
      // logical shape under fastvlm.packed.<name>.
      // A 1×1 conv [out, in, 1, 1] is the matrix [out, in] (the bytes are contiguous).
      const int64_t n = t.shape[0], kk = t.numel() / n;
      const kernels::Matrix m{target, out.data(), n, kk};
      const WType pt = kernels::PackedTypeFor(target);
      std::vector<uint8_t> bytes(static_cast<size_t>(kernels::PackedMatrixBytes(pt, n, kk)));
      kernels::PackMatrix(m, bytes.data());
      const int64_t elems = static_cast<int64_t>(bytes.size()) / (pt == WType::kF32 ? 4 : 2);
      w.SetI64Array("fastvlm.packed." + t.name, t.shape);
      ++counts[io::GgmlTypeName(ToGgml(pt)) + std::string(" (packed)")];
      RETURN_IF_ERROR(w.AddTensor(t.name, ToGgml(pt), {elems}, std::move(bytes)));
      ++st.tensors;
      continue;
    }
    RETURN_IF_ERROR(add_sketch(t.name, target, out.data(), out_shape));
    if (kernels::IsBlockType(target)) {
      RETURN_IF_ERROR(add_matrix(t.name, target, out_shape, out.data(), out.size(),
                                 io::GgmlTypeName(ToGgml(target)), &out));
    } else {
      ++counts[io::GgmlTypeName(ToGgml(target))];
      RETURN_IF_ERROR(w.AddTensor(t.name, ToGgml(target), out_shape, std::move(out)));
    }
    ++st.tensors;
  }
  if (progress) progress(static_cast<int>(all.size()), static_cast<int>(all.size()), "");
  RETURN_IF_ERROR(w.Write(opt.out_path));
  std::error_code ec;
  st.output_bytes = std::filesystem::file_size(opt.out_path, ec);
  for (const auto& [k, v] : counts) st.type_counts.emplace_back(k, v);
  if (stats) *stats = st;
  return Status::Ok();
}

}  // namespace fastvlm::quant
