#include "quant/export_llm.h"

#include "quant/convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/float16.h"
#include "io/config.h"
#include "io/gguf.h"
#include "io/llamacpp_names.h"
#include "io/safetensors.h"
#include "quant/quant.h"
#include "tokenizer/tokenizer_internal.h"

namespace fastvlm::quant {
namespace {

using kernels::WType;
using Json = nlohmann::json;

// gguf-py TokenType.
enum TokenType : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

// llama.cpp's llama_ftype for general.file_type.
uint32_t FileType(WType t) {
  switch (t) {
    case WType::kF32: return 0;    // LLAMA_FTYPE_ALL_F32
    case WType::kF16: return 1;    // LLAMA_FTYPE_MOSTLY_F16
    case WType::kQ4_0: return 2;   // LLAMA_FTYPE_MOSTLY_Q4_0
    case WType::kQ4_1: return 3;   // LLAMA_FTYPE_MOSTLY_Q4_1
    case WType::kQ8_0: return 7;   // LLAMA_FTYPE_MOSTLY_Q8_0
    case WType::kBF16: return 32;  // LLAMA_FTYPE_MOSTLY_BF16
  }
  return 0;
}

// gguf-py's model_weight_count_rounded_notation(n, min_digits=2): "494M", "1.5B", "36K".
std::string SizeLabel(int64_t n) {
  double scaled;
  const char* suffix;
  if (n > 1e12) scaled = n * 1e-12, suffix = "T";
  else if (n > 1e9) scaled = n * 1e-9, suffix = "B";
  else if (n > 1e6) scaled = n * 1e-6, suffix = "M";
  else scaled = n * 1e-3, suffix = "K";
  std::string rounded = std::to_string(static_cast<long long>(std::nearbyint(scaled)));
  rounded.erase(0, std::min(rounded.find_first_not_of('0'), rounded.size()));
  const int fix = std::max(2 - static_cast<int>(rounded.size()), 0);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f%s", fix, scaled, suffix);
  return buf;
}

// Converter of llama.cpp, does_token_look_special: added tokens spelled <|...|> are control
// tokens even when not marked special.
bool LooksSpecial(const std::string& t) {
  return (t.size() >= 4 && t.rfind("<|", 0) == 0 && t.compare(t.size() - 2, 2, "|>") == 0) ||
         t == "<pad>" || t == "<mask>";
}

// Qwen2's ChatML template (the one Qwen2 / FastVLM tokenizer_config.json files carry): written
// when the checkpoint has none, so llama.cpp's chat tools format prompts as our `generate` does.
constexpr const char* kChatMLTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

Json ParseOrNull(const io::Checkpoint& ckpt, const char* file) {
  if (!ckpt.HasFile(file)) return Json();
  auto text = ckpt.ReadFile(file);
  if (!text.ok()) return Json();
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

// A tokenizer_config.json token entry: "text" or {"content": "text"}.
std::string TokenString(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return "";
}

// config.json id: an integer, or the first of a list (eos_token_id may be [a, b]).
int64_t ConfigId(const Json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_array() && !j.empty() && j[0].is_number_integer()) return j[0].get<int64_t>();
  return -1;
}

}  // namespace

Status ExportLlm(const ExportLlmOptions& opt, ExportLlmStats* stats,
                 const std::function<void(int, int, const std::string&)>& progress) {
  ExportLlmStats st;
  ASSIGN_OR_RETURN(auto ckpt, io::Checkpoint::Open(opt.model_path));
  ASSIGN_OR_RETURN(io::ModelConfig cfg,
                   io::ParseModelConfig(ckpt->config_json(), ckpt->path() + " config.json"));
  const io::Qwen2Config& c = cfg.text;
  const std::string& p = cfg.llm_prefix;
  const io::TensorView* embed = ckpt->Find(p + "embed_tokens.weight");
  if (!embed) {
    return Status::Error("%s has no language model: tensor '%sembed_tokens.weight' not found "
                         "(export-llm needs a Qwen2 / FastVLM checkpoint)",
                         ckpt->path().c_str(), p.c_str());
  }
  if (embed->shape.size() != 2 || embed->shape[1] != c.hidden_size) {
    return Status::Error("%s: %s has shape %s, expected [vocab, %d]", ckpt->path().c_str(),
                         embed->name.c_str(), embed->ShapeString().c_str(), c.hidden_size);
  }
  const int64_t rows = embed->shape[0];

  // ---- Tokenizer ----
  FileSource src;
  const io::Checkpoint* ck = ckpt.get();
  src.label = ck->path();
  src.exists = [ck](const std::string& n) { return ck->HasFile(n); };
  src.read = [ck](const std::string& n) { return ck->ReadFile(n); };
  src.path = [ck](const std::string& n) { return ck->path() + (ck->is_gguf() ? ":" : "/") + n; };
  auto files_or = tokenizer_internal::ReadTokenizerFiles(src);
  if (!files_or.ok()) {
    return Status::Error("%s: the tokenizer is needed for a llama.cpp file: %s",
                         ckpt->path().c_str(), files_or.status().message().c_str());
  }
  tokenizer_internal::TokenizerFiles& tf = *files_or;
  std::vector<std::string> tokens(static_cast<size_t>(rows));
  std::vector<int32_t> types(static_cast<size_t>(rows), 0);
  Status tok_error = Status::Ok();
  tf.vocab.ForEach([&](std::string_view text, int32_t id) {
    if (id < 0 || id >= rows) {
      if (tok_error.ok())
        tok_error = Status::Error("%s: token id %d of the vocabulary is outside the %lld "
                                  "embedding rows",
                                  ckpt->path().c_str(), id, static_cast<long long>(rows));
      return;
    }
    tokens[id] = std::string(text);
    types[id] = kNormal;
  });
  RETURN_IF_ERROR(tok_error);
  for (const auto& a : tf.added) {
    if (a.id < 0 || a.id >= rows) {
      return Status::Error("%s: added token '%s' has id %d, outside the %lld embedding rows",
                           ckpt->path().c_str(), a.content.c_str(), a.id,
                           static_cast<long long>(rows));
    }
    // llama.cpp expects added tokens as text (not byte-level), as the converter writes them.
    tokens[a.id] = a.content;
    types[a.id] = a.special || LooksSpecial(a.content) ? kControl : kUserDefined;
  }
  for (int64_t i = 0; i < rows; ++i) {
    if (types[i] == 0) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = kUnused;
      ++st.padding_tokens;
    } else {
      ++st.vocab_tokens;
    }
  }
  std::vector<std::string> merges;
  merges.reserve(tf.merges.size());
  for (const auto& [a, b] : tf.merges) merges.push_back(a + " " + b);

  // Special ids (gguf-py SpecialVocab: tokenizer_config.json first, then config.json).
  const Json tcfg = ParseOrNull(*ckpt, "tokenizer_config.json");
  const Json gcfg = ParseOrNull(*ckpt, "generation_config.json");
  auto id_of = [&](const std::string& text) -> int64_t {
    if (text.empty()) return -1;
    for (const auto& a : tf.added)
      if (a.content == text) return a.id;
    return tf.vocab.Find(text);
  };
  auto from_tcfg = [&](const char* key) -> int64_t {
    return tcfg.is_object() && tcfg.contains(key) ? id_of(TokenString(tcfg[key])) : -1;
  };
  int64_t eos = from_tcfg("eos_token");
  if (eos < 0 && !c.eos_token_ids.empty()) eos = c.eos_token_ids[0];
  int64_t pad = from_tcfg("pad_token");
  if (pad < 0 && gcfg.is_object() && gcfg.contains("pad_token_id")) pad = ConfigId(gcfg["pad_token_id"]);
  int64_t bos = from_tcfg("bos_token");
  if (bos < 0) bos = c.bos_token_id;
  std::string chat_template;
  if (tcfg.is_object() && tcfg.contains("chat_template")) {
    const Json& t = tcfg["chat_template"];
    if (t.is_string()) chat_template = t.get<std::string>();
    else if (t.is_array())  // [{"name": "default", "template": ...}, ...]
      for (const auto& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
            e["template"].is_string())
          chat_template = e["template"].get<std::string>();
  }
  if (chat_template.empty()) {
    const Json ct = ParseOrNull(*ckpt, "chat_template.json");
    if (ct.is_object() && ct.contains("chat_template") && ct["chat_template"].is_string())
      chat_template = ct["chat_template"].get<std::string>();
  }
  if (chat_template.empty()) chat_template = kChatMLTemplate;

  // ---- Tensors, in llama.cpp's logical order ----
  struct Item {
    std::string hf, gguf;
    bool matrix;
  };
  std::vector<Item> items;
  items.push_back({p + "embed_tokens.weight", "token_embd.weight", true});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string lp = "layers." + std::to_string(l) + ".";
    for (const char* s : {"input_layernorm.weight", "self_attn.q_proj.weight",
                          "self_attn.q_proj.bias", "self_attn.k_proj.weight",
                          "self_attn.k_proj.bias", "self_attn.v_proj.weight",
                          "self_attn.v_proj.bias", "self_attn.o_proj.weight",
                          "post_attention_layernorm.weight", "mlp.gate_proj.weight",
                          "mlp.up_proj.weight", "mlp.down_proj.weight"}) {
      const std::string rel = lp + s;
      const bool matrix = rel.find("_proj.weight") != std::string::npos;
      items.push_back({p + rel, io::HfToLlamaCppName(rel), matrix});
    }
  }
  items.push_back({p + "norm.weight", "output_norm.weight", false});
  st.tied = ckpt->Find("lm_head.weight") == nullptr;
  if (!st.tied) items.push_back({"lm_head.weight", "output.weight", true});

  io::GgufWriter w(opt.alignment);
  std::map<std::string, int> counts;
  std::map<WType, int> matrix_types;
  std::vector<float> row_f32;
  for (size_t k = 0; k < items.size(); ++k) {
    const Item& it = items[k];
    if (progress) progress(static_cast<int>(k), static_cast<int>(items.size()), it.gguf);
    const io::TensorView* t = ckpt->Find(it.hf);
    if (!t) {
      return Status::Error("%s: tensor '%s' (llama.cpp '%s') not found; the checkpoint does not "
                           "match its config.json (num_hidden_layers=%d)",
                           ckpt->path().c_str(), it.hf.c_str(), it.gguf.c_str(),
                           c.num_hidden_layers);
    }
    WType stored;
    if (!StoredWType(t->dtype, &stored)) {
      return Status::Error("tensor '%s' in %s has dtype %s; only float and ggml block types can "
                           "be exported",
                           t->name.c_str(), t->file.c_str(), io::DTypeName(t->dtype));
    }
    const bool matrix = it.matrix && t->shape.size() == 2;
    if (it.matrix != matrix || (!it.matrix && t->shape.size() != 1)) {
      return Status::Error("tensor '%s' in %s has shape %s: expected a %s", t->name.c_str(),
                           t->file.c_str(), t->ShapeString().c_str(),
                           it.matrix ? "matrix" : "vector");
    }
    WType target = matrix ? (opt.type_set ? opt.type : stored) : WType::kF32;
    const int64_t cols = t->shape.back();
    const int64_t nrows = t->numel() / std::max<int64_t>(cols, 1);
    if (kernels::IsBlockType(target) && cols % 32 != 0) {
      return Status::Error("tensor '%s' %s: rows of %lld values are not a multiple of the 32-"
                           "value block of %s; export it in a float type",
                           t->name.c_str(), t->ShapeString().c_str(), (long long)cols,
                           kernels::WTypeName(target));
    }
    if (kernels::IsBlockType(stored) && target != stored && kernels::IsBlockType(target)) {
      return Status::Error("tensor '%s' in %s is stored as %s; re-quantizing it to %s would "
                           "compound the rounding: export it as %s (the default) or a float "
                           "type, or export from the unquantized folder",
                           t->name.c_str(), t->file.c_str(), kernels::WTypeName(stored),
                           kernels::WTypeName(target), kernels::WTypeName(stored));
    }
    if (matrix) ++matrix_types[target];
    st.parameters += t->numel();
    ++counts[io::GgmlTypeName(ToGgml(target))];
    // A matrix stored as decode panels (a GGUF of `fastvlm quantize`) goes out in the standard
    // block layout llama.cpp reads.
    std::vector<uint8_t> std_bytes;
    const void* tdata = StandardBytes(*t, &std_bytes);
    if (target == stored) {  // bit for bit
      if (t->decode_panels) {
        RETURN_IF_ERROR(w.AddTensor(it.gguf, ToGgml(target), t->shape, std::move(std_bytes)));
        ++st.tensors;
        continue;
      }
      RETURN_IF_ERROR(w.AddTensor(it.gguf, ToGgml(target), t->shape, t->data, t->nbytes));
      ++st.tensors;
      continue;
    }
    const size_t out_row = static_cast<size_t>(kernels::RowBytes(target, cols));
    const size_t src_row = static_cast<size_t>(kernels::RowBytes(stored, cols));
    std::vector<uint8_t> out(static_cast<size_t>(nrows) * out_row);
    row_f32.resize(static_cast<size_t>(cols));
    for (int64_t r = 0; r < nrows; ++r) {
      const uint8_t* srow = static_cast<const uint8_t*>(tdata) + r * src_row;
      if (kernels::IsBlockType(stored)) {
        DequantizeRow(stored, srow, cols, row_f32.data());
      } else {
        io::TensorView row = *t;
        row.shape = {cols};
        row.data = srow;
        row.nbytes = src_row;
        RETURN_IF_ERROR(io::CopyToF32(row, row_f32.data(), row_f32.size()));
      }
      EncodeRow(target, row_f32.data(), cols, out.data() + r * out_row);
    }
    RETURN_IF_ERROR(w.AddTensor(it.gguf, ToGgml(target), t->shape, std::move(out)));
    ++st.tensors;
  }
  // general.file_type: the type most matrices have (llama.cpp's "mostly" types).
  WType main_type = WType::kF32;
  int best = -1;
  for (const auto& [t, n] : matrix_types)
    if (n > best) best = n, main_type = t;
  st.file_type = io::GgmlTypeName(ToGgml(main_type));

  // ---- Metadata, in the order llama.cpp's converter writes it ----
  std::string name;
  if (ckpt->is_gguf()) {
    auto g = io::GgufFile::Open(opt.model_path);
    if (g.ok() && (*g)->Find("general.name")) {
      auto n = (*g)->GetString("general.name");
      if (n.ok()) name = *n;
    }
  }
  if (name.empty()) {
    std::filesystem::path mp(opt.model_path);
    name = (mp.has_filename() ? mp.filename() : mp.parent_path().filename()).string();
    if (ckpt->is_gguf()) name = mp.stem().string();
  }
  w.SetString("general.architecture", "qwen2");
  w.SetString("general.type", "model");
  w.SetString("general.name", name);
  w.SetString("general.size_label", SizeLabel(st.parameters));
  w.SetU32("qwen2.block_count", c.num_hidden_layers);
  w.SetU32("qwen2.context_length", c.max_position_embeddings);
  w.SetU32("qwen2.embedding_length", c.hidden_size);
  w.SetU32("qwen2.feed_forward_length", c.intermediate_size);
  w.SetU32("qwen2.attention.head_count", c.num_attention_heads);
  w.SetU32("qwen2.attention.head_count_kv", c.num_key_value_heads);
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {
    w.SetU32("qwen2.attention.key_length", c.head_dim);
    w.SetU32("qwen2.attention.value_length", c.head_dim);
  }
  w.SetF32("qwen2.rope.freq_base", static_cast<float>(c.rope_theta));
  w.SetF32("qwen2.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.SetU32("general.file_type", FileType(main_type));
  w.SetU32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "qwen2");
  w.SetStringArray("tokenizer.ggml.tokens", std::move(tokens));
  w.SetI32Array("tokenizer.ggml.token_type", types);
  w.SetStringArray("tokenizer.ggml.merges", std::move(merges));
  if (eos >= 0 && eos < rows) w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (pad >= 0 && pad < rows)
    w.SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(pad));
  if (bos >= 0 && bos < rows) w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  w.SetBool("tokenizer.ggml.add_bos_token", false);  // Qwen2 prompts start without BOS
  w.SetString("tokenizer.chat_template", chat_template);

  if (progress) progress(static_cast<int>(items.size()), static_cast<int>(items.size()), "");
  RETURN_IF_ERROR(w.Write(opt.out_path));
  std::error_code ec;
  st.output_bytes = std::filesystem::file_size(opt.out_path, ec);
  for (const auto& [k, v] : counts) st.type_counts.emplace_back(k, v);
  if (stats) *stats = st;
  return Status::Ok();
}

}  // namespace fastvlm::quant
