// Checkpoint over a GGUF file written by `fastvlm quantize` (quant/convert.h): tensors by their
// Hugging Face names, config.json and the tokenizer / processor files from the metadata.
// Also reads llama.cpp `qwen2` GGUF files (e.g. from `fastvlm export-llm` or llama.cpp's
// convert_hf_to_gguf.py): tensor names are mapped back to Qwen2ForCausalLM's, config.json is
// rebuilt from the qwen2.* keys and vocab.json / merges.txt / tokenizer_config.json from
// tokenizer.ggml.*.
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/llamacpp_names.h"
#include "io/safetensors.h"

namespace fastvlm::io {

bool HasGgufMagic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' &&
         magic[3] == 'F';
}

void PopulateGguf(const GgufFile& g) { g.file().Populate(); }
void ReleaseGguf(const GgufFile& g, const void* p, size_t n) { g.file().Release(p, n); }

Checkpoint::Checkpoint() = default;
Checkpoint::~Checkpoint() = default;

namespace {

// Metadata key prefix of a pre-packed vision weight: "fastvlm.packed.<tensor name>" holds its
// logical shape (quant/convert.cc writes it, with "fastvlm.packed_panel").
const std::string kPackedPrefix = "fastvlm.packed.";
// "fastvlm.decode_panels.<tensor name>" = 64: a language-model matrix stored as decode panels.
const std::string kDecodePanelsPrefix = "fastvlm.decode_panels.";
DType FromGgml(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return DType::kF32;
    case GgmlType::kF16: return DType::kF16;
    case GgmlType::kBF16: return DType::kBF16;
    case GgmlType::kQ8_0: return DType::kQ8_0;
    case GgmlType::kQ4_0: return DType::kQ4_0;
    case GgmlType::kQ4_1: return DType::kQ4_1;
  }
  return DType::kF32;
}

// llama.cpp qwen2 file -> config.json text, tokenizer files, and llama.cpp -> HF tensor names.
Status ReadLlamaCppQwen2(const GgufFile& g, std::string* config_json,
                         std::map<std::string, std::string>* files) {
  using Json = nlohmann::json;
  const std::string& path = g.path();
  const GgufFile::Tensor* embd = g.FindTensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2) {
    return Status::Error("%s: a llama.cpp 'qwen2' GGUF file without a 2-D token_embd.weight: "
                         "incomplete or not a language model; write one with `fastvlm "
                         "export-llm`, or convert the Hugging Face folder with `fastvlm quantize`",
                         path.c_str());
  }
  Json cfg;
  cfg["architectures"] = {"Qwen2ForCausalLM"};
  cfg["model_type"] = "qwen2";
  ASSIGN_OR_RETURN(uint32_t layers, g.GetU32("qwen2.block_count"));
  ASSIGN_OR_RETURN(uint32_t d, g.GetU32("qwen2.embedding_length"));
  ASSIGN_OR_RETURN(uint32_t ff, g.GetU32("qwen2.feed_forward_length"));
  ASSIGN_OR_RETURN(uint32_t heads, g.GetU32("qwen2.attention.head_count"));
  cfg["num_hidden_layers"] = layers;
  cfg["hidden_size"] = d;
  cfg["intermediate_size"] = ff;
  cfg["num_attention_heads"] = heads;
  cfg["num_key_value_heads"] = heads;
  if (g.Find("qwen2.attention.head_count_kv")) {
    ASSIGN_OR_RETURN(uint32_t kv, g.GetU32("qwen2.attention.head_count_kv"));
    cfg["num_key_value_heads"] = kv;
  }
  if (g.Find("qwen2.attention.key_length")) {
    ASSIGN_OR_RETURN(uint32_t hd, g.GetU32("qwen2.attention.key_length"));
    cfg["head_dim"] = hd;
  }
  if (g.Find("qwen2.context_length")) {
    ASSIGN_OR_RETURN(uint32_t ctx, g.GetU32("qwen2.context_length"));
    cfg["max_position_embeddings"] = ctx;
  }
  if (g.Find("qwen2.rope.freq_base")) {
    ASSIGN_OR_RETURN(double theta, g.GetF64("qwen2.rope.freq_base"));
    cfg["rope_theta"] = theta;
  }
  if (g.Find("qwen2.attention.layer_norm_rms_epsilon")) {
    // Stored as f32: 1e-6 reads back as 9.99999997e-07, which is what llama.cpp uses too.
    ASSIGN_OR_RETURN(double eps, g.GetF64("qwen2.attention.layer_norm_rms_epsilon"));
    cfg["rms_norm_eps"] = eps;
  }
  cfg["vocab_size"] = embd->shape[0];
  cfg["tie_word_embeddings"] = g.FindTensor("output.weight") == nullptr;
  cfg["hidden_act"] = "silu";
  auto id_key = [&](const char* key) -> int64_t {
    if (!g.Find(key)) return -1;
    auto v = g.GetI64(key);
    return v.ok() ? *v : -1;
  };
  const int64_t bos = id_key("tokenizer.ggml.bos_token_id");
  const int64_t eos = id_key("tokenizer.ggml.eos_token_id");
  const int64_t pad = id_key("tokenizer.ggml.padding_token_id");
  if (bos >= 0) cfg["bos_token_id"] = bos;
  if (eos >= 0) cfg["eos_token_id"] = eos;
  *config_json = cfg.dump();

  // Tokenizer: only the byte-level BPE of Qwen2 (tokenizer.ggml.model "gpt2").
  ASSIGN_OR_RETURN(std::string model, g.GetString("tokenizer.ggml.model"));
  if (model != "gpt2") {
    return Status::Error("%s: tokenizer.ggml.model is '%s'; only the byte-level BPE ('gpt2') of "
                         "Qwen2 is supported",
                         path.c_str(), model.c_str());
  }
  ASSIGN_OR_RETURN(std::vector<std::string> tokens, g.GetStringArray("tokenizer.ggml.tokens"));
  std::vector<int64_t> types(tokens.size(), 1);
  if (g.Find("tokenizer.ggml.token_type")) {
    ASSIGN_OR_RETURN(types, g.GetI64Array("tokenizer.ggml.token_type"));
    if (types.size() != tokens.size()) {
      return Status::Error("%s: tokenizer.ggml.token_type has %zu entries for %zu tokens",
                           path.c_str(), types.size(), tokens.size());
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> merges, g.GetStringArray("tokenizer.ggml.merges"));
  std::string vocab = "{";
  Json added = Json::object();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == 1) {  // NORMAL: byte-level spelling, as in vocab.json
      if (vocab.size() > 1) vocab += ',';
      vocab += Json(tokens[i]).dump(-1, ' ', false, Json::error_handler_t::replace);
      vocab += ':' + std::to_string(i);
    } else if (types[i] == 3 || types[i] == 4) {  // CONTROL / USER_DEFINED: added tokens
      added[std::to_string(i)] = {{"content", tokens[i]},
                                  {"special", types[i] == 3},
                                  {"normalized", false}};
    }  // UNUSED ("[PAD<id>]") rows and others have no text
  }
  vocab += '}';
  (*files)["vocab.json"] = std::move(vocab);
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& m : merges) merges_txt += m + '\n';
  (*files)["merges.txt"] = std::move(merges_txt);
  Json tcfg = {{"added_tokens_decoder", added}};
  auto token_text = [&](int64_t id) -> Json {
    return id >= 0 && id < static_cast<int64_t>(tokens.size()) ? Json(tokens[id]) : Json();
  };
  tcfg["eos_token"] = token_text(eos);
  tcfg["pad_token"] = token_text(pad);
  if (g.Find("tokenizer.chat_template")) {
    ASSIGN_OR_RETURN(std::string t, g.GetString("tokenizer.chat_template"));
    tcfg["chat_template"] = t;
  }
  (*files)["tokenizer_config.json"] = tcfg.dump(-1, ' ', false, Json::error_handler_t::replace);
  return Status::Ok();
}
}  // namespace

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::OpenGguf(const std::string& path) {
  auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir_ = path;
  ASSIGN_OR_RETURN(ckpt->gguf_, GgufFile::Open(path));
  const GgufFile& g = *ckpt->gguf_;
  std::string arch;
  if (g.Find("general.architecture")) {
    auto a = g.GetString("general.architecture");
    if (a.ok()) arch = *a;
  }
  const bool llamacpp = !g.Find("fastvlm.config_json") && arch == "qwen2";
  if (llamacpp) {
    RETURN_IF_ERROR(ReadLlamaCppQwen2(g, &ckpt->config_json_, &ckpt->embedded_files_));
  } else if (!g.Find("fastvlm.config_json")) {
    return Status::FromString(
        path + " is a GGUF file without fastvlm.config_json: it was not written by `fastvlm "
               "quantize` or a llama.cpp 'qwen2' file (general.architecture is '" + arch +
               "'); convert the Hugging Face folder with `fastvlm quantize`)");
  }
  if (!llamacpp) {
    ASSIGN_OR_RETURN(ckpt->config_json_, g.GetString("fastvlm.config_json"));
  }
  const std::string prefix = "fastvlm.file.";
  for (const auto& [key, value] : g.metadata()) {
    if (key.rfind(prefix, 0) != 0) continue;
    ASSIGN_OR_RETURN(std::string text, g.GetString(key));
    ckpt->embedded_files_[key.substr(prefix.size())] = std::move(text);
  }
  ckpt->gguf_tensors_.reserve(g.tensors().size());
  for (const GgufFile::Tensor& t : g.tensors()) {
    TensorView v;
    v.name = t.name;
    if (llamacpp) {
      const std::string hf = LlamaCppToHfName(t.name);
      if (hf.empty()) {
        return Status::Error("%s: tensor '%s' is not part of llama.cpp's qwen2 architecture as "
                             "we read it",
                             path.c_str(), t.name.c_str());
      }
      v.name = hf == "lm_head.weight" ? hf : "model." + hf;
    }
    v.dtype = FromGgml(t.type);
    v.shape = t.shape;
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.file = path;
    // A vision weight written pre-packed (quant/convert.cc): its logical shape is in metadata.
    if (!llamacpp && g.Find(kPackedPrefix + t.name)) {
      ASSIGN_OR_RETURN(v.shape, g.GetI64Array(kPackedPrefix + t.name));
      ASSIGN_OR_RETURN(const uint64_t panel, g.GetU64("fastvlm.packed_panel"));
      if (v.shape.size() < 2 || panel == 0 || panel > 1024 || t.shape.size() != 1) {
        return Status::Error("%s: tensor '%s' is marked packed but its metadata is inconsistent "
                             "(logical rank %zu, panel %llu, stored rank %zu); re-convert the "
                             "model with `fastvlm quantize`",
                             path.c_str(), t.name.c_str(), v.shape.size(),
                             (unsigned long long)panel, t.shape.size());
      }
      for (int64_t d : v.shape) {
        if (d <= 0)
          return Status::Error("%s: tensor '%s' has a non-positive packed dimension", path.c_str(),
                               t.name.c_str());
      }
      v.packed_panel = static_cast<int>(panel);
    }
    if (!llamacpp && g.Find(kDecodePanelsPrefix + t.name)) {
      ASSIGN_OR_RETURN(const uint64_t rows_per_group, g.GetU64(kDecodePanelsPrefix + t.name));
      const bool block = v.dtype == DType::kQ8_0 || v.dtype == DType::kQ4_0;
      if (rows_per_group != 64 || !block || v.shape.size() != 2 || v.shape[0] % 64 != 0 ||
          v.shape[1] % 32 != 0 || v.packed_panel != 0 ||
          reinterpret_cast<uintptr_t>(v.data) % 64 != 0) {
        return Status::Error("%s: tensor '%s' (%s %s) is marked as decode panels of %llu rows, "
                             "which this build cannot read (it writes Q8_0 / Q4_0 matrices of "
                             "[64k, 32j] in groups of 64 rows, 64-byte aligned); re-convert "
                             "the model with `fastvlm quantize`",
                             path.c_str(), t.name.c_str(), DTypeName(v.dtype),
                             v.ShapeString().c_str(), (unsigned long long)rows_per_group);
      }
      v.decode_panels = true;
    }
    ckpt->gguf_tensors_.push_back(std::move(v));
  }
  for (const TensorView& v : ckpt->gguf_tensors_) ckpt->by_name_.emplace(v.name, &v);
  return ckpt;
}

}  // namespace fastvlm::io
