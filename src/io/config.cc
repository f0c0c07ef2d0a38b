// config.json parsing for the three layouts of spec §7. Field names and defaults follow
// transformers (models/qwen2/configuration_qwen2.py, models/fast_vlm/configuration_fast_vlm.py,
// modeling_rope_utils.py) so that a config means the same model here as it does there.
#include "io/config.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

namespace fastvlm::io {
namespace {

using json = nlohmann::json;

constexpr char kSupportedTypes[] = "qwen2, llava_qwen2, fast_vlm";
// FastVlmConfig.image_token_index default (the "<image>" id added by the HF conversion).
constexpr int kFastVlmImageTokenId = 151646;
// RotaryEmbeddingConfigMixin.default_theta: what transformers uses when a config names no theta.
constexpr double kDefaultRopeTheta = 10000.0;

// Reads fields of one JSON object and turns every problem into a Status naming the config file
// and the field (with its "text_config." prefix where it has one).
class FieldReader {
 public:
  FieldReader(const json& obj, std::string path, std::string prefix)
      : obj_(obj), path_(std::move(path)), prefix_(std::move(prefix)) {}

  Status Error(const std::string& field, const std::string& what) const {
    return Status::FromString(path_ + ": '" + prefix_ + field + "' " + what);
  }
  Status Error(const std::string& what) const { return Status::FromString(path_ + ": " + what); }

  // Present and not null (transformers writes unset optional fields as null).
  bool Has(const std::string& field) const {
    auto it = obj_.find(field);
    return it != obj_.end() && !it->is_null();
  }
  const json& Get(const std::string& field) const { return obj_.at(field); }

  // An integer in int range. `required`: absent/null is an error; otherwise `*out` is untouched.
  Status Int(const std::string& field, bool required, int* out) const {
    if (!Has(field)) return required ? Error(field, "is missing") : Status::Ok();
    const json& v = Get(field);
    if (!v.is_number_integer()) return Error(field, "must be an integer, got " + v.dump());
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(kIntMax)
                               : (v.get<int64_t>() > kIntMax || v.get<int64_t>() < kIntMin)) {
      return Error(field, "value " + v.dump() + " is out of range");
    }
    *out = v.get<int>();
    return Status::Ok();
  }

  Status PositiveInt(const std::string& field, bool required, int* out) const {
    RETURN_IF_ERROR(Int(field, required, out));
    if (Has(field) && *out <= 0) return Error(field, "must be positive, got " + Get(field).dump());
    return Status::Ok();
  }

  Status PositiveDouble(const std::string& field, double* out) const {
    if (!Has(field)) return Status::Ok();
    const json& v = Get(field);
    if (!v.is_number()) return Error(field, "must be a number, got " + v.dump());
    const double d = v.get<double>();
    if (!(d > 0)) return Error(field, "must be positive, got " + v.dump());
    *out = d;
    return Status::Ok();
  }

  Status Bool(const std::string& field, bool* out) const {
    if (!Has(field)) return Status::Ok();
    const json& v = Get(field);
    if (!v.is_boolean()) return Error(field, "must be true or false, got " + v.dump());
    *out = v.get<bool>();
    return Status::Ok();
  }

  Status String(const std::string& field, std::string* out) const {
    if (!Has(field)) return Status::Ok();
    const json& v = Get(field);
    if (!v.is_string()) return Error(field, "must be a string, got " + v.dump());
    *out = v.get<std::string>();
    return Status::Ok();
  }

  const std::string& prefix() const { return prefix_; }

 private:
  static constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  static constexpr int64_t kIntMin = std::numeric_limits<int>::min();
  const json& obj_;
  std::string path_;
  std::string prefix_;
};

// RoPE: transformers v5 stores {rope_type, rope_theta, ...} in `rope_parameters`; v4 configs have
// a top-level `rope_theta` and an optional `rope_scaling` dict, which v5 reads as rope_parameters
// (modeling_rope_utils.py convert_rope_params_to_dict). Only plain RoPE is implemented, so any
// other rope_type is refused instead of silently computing different positions.
Status ParseRope(const FieldReader& r, double* theta) {
  double top_theta = kDefaultRopeTheta;
  RETURN_IF_ERROR(r.PositiveDouble("rope_theta", &top_theta));
  *theta = top_theta;
  for (const char* field : {"rope_scaling", "rope_parameters"}) {
    if (!r.Has(field)) continue;
    const json& p = r.Get(field);
    if (!p.is_object()) return r.Error(field, "must be an object or null, got " + p.dump());
    for (auto it = p.begin(); it != p.end(); ++it) {
      if (it->is_object()) {
        return r.Error(field, "holds per-layer-type RoPE parameters ('" + it.key() +
                                  "'), which are not supported");
      }
    }
    std::string type = "default";
    const FieldReader pr(p, "", "");
    for (const char* key : {"type", "rope_type"}) {
      if (pr.Has(key)) {
        if (!p[key].is_string())
          return r.Error(field, "has a non-string '" + std::string(key) + "'");
        type = p[key].get<std::string>();
      }
    }
    if (type != "default") {
      return r.Error(field, "asks for RoPE type '" + type +
                                "', which is not supported (only plain RoPE, rope_type "
                                "\"default\", is implemented)");
    }
    if (pr.Has("rope_theta")) {
      const json& t = p["rope_theta"];
      if (!t.is_number() || !(t.get<double>() > 0)) {
        return r.Error(field, "has rope_theta " + t.dump() + "; expected a positive number");
      }
      *theta = t.get<double>();
    }
  }
  return Status::Ok();
}

Status ParseEos(const FieldReader& r, std::vector<int>* out) {
  if (!r.Has("eos_token_id")) return Status::Ok();
  const json& v = r.Get("eos_token_id");
  auto add = [&](const json& e) {
    if (!e.is_number_integer() || e.get<int64_t>() < 0 ||
        e.get<int64_t>() > std::numeric_limits<int>::max()) {
      return r.Error("eos_token_id", "must be a token id or a list of them, got " + v.dump());
    }
    out->push_back(e.get<int>());
    return Status::Ok();
  };
  if (v.is_array()) {
    for (const json& e : v) RETURN_IF_ERROR(add(e));
    return Status::Ok();
  }
  return add(v);
}

// The Qwen2 fields, read from the top level (qwen2, llava_qwen2) or from text_config (fast_vlm).
Status ParseQwen2(const FieldReader& r, Qwen2Config* c) {
  RETURN_IF_ERROR(r.PositiveInt("num_hidden_layers", true, &c->num_hidden_layers));
  RETURN_IF_ERROR(r.PositiveInt("hidden_size", true, &c->hidden_size));
  RETURN_IF_ERROR(r.PositiveInt("num_attention_heads", true, &c->num_attention_heads));
  RETURN_IF_ERROR(r.PositiveInt("intermediate_size", true, &c->intermediate_size));
  RETURN_IF_ERROR(r.PositiveInt("vocab_size", true, &c->vocab_size));
  // Qwen2Config.__post_init__: num_key_value_heads None -> num_attention_heads.
  c->num_key_value_heads = c->num_attention_heads;
  RETURN_IF_ERROR(r.PositiveInt("num_key_value_heads", false, &c->num_key_value_heads));
  RETURN_IF_ERROR(r.PositiveInt("max_position_embeddings", false, &c->max_position_embeddings));
  RETURN_IF_ERROR(r.PositiveDouble("rms_norm_eps", &c->rms_norm_eps));
  RETURN_IF_ERROR(ParseRope(r, &c->rope_theta));
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c->tie_word_embeddings));
  RETURN_IF_ERROR(r.String("hidden_act", &c->hidden_act));
  RETURN_IF_ERROR(ParseEos(r, &c->eos_token_ids));
  RETURN_IF_ERROR(r.Int("bos_token_id", false, &c->bos_token_id));

  // Qwen2Attention: head_dim = getattr(config, "head_dim", hidden_size // num_attention_heads).
  if (r.Has("head_dim")) {
    RETURN_IF_ERROR(r.PositiveInt("head_dim", true, &c->head_dim));
  } else {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return r.Error(StringPrintf(
          "'%snum_attention_heads' (%d) does not divide '%shidden_size' (%d) and no head_dim "
          "is given",
          r.prefix().c_str(), c->num_attention_heads, r.prefix().c_str(), c->hidden_size));
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  if (c->head_dim % 2 != 0) {
    return r.Error(
        StringPrintf("head_dim %d is odd; RoPE rotates pairs of dimensions", c->head_dim));
  }
  if (c->num_attention_heads % c->num_key_value_heads != 0) {
    return r.Error(StringPrintf(
        "'%snum_key_value_heads' (%d) does not divide '%snum_attention_heads' (%d)",
        r.prefix().c_str(), c->num_key_value_heads, r.prefix().c_str(), c->num_attention_heads));
  }
  // ACT2FN maps both names to SiLU; the MLP is implemented for nothing else.
  if (c->hidden_act == "swish") c->hidden_act = "silu";
  if (c->hidden_act != "silu") {
    return r.Error("hidden_act", "is '" + c->hidden_act + "'; only silu is supported");
  }
  // Sliding-window attention changes which keys a query sees; not implemented, so refuse it.
  bool sliding = false;
  RETURN_IF_ERROR(r.Bool("use_sliding_window", &sliding));
  if (sliding)
    return r.Error("use_sliding_window", "is true; sliding-window attention is not supported");
  if (r.Has("layer_types")) {
    const json& lt = r.Get("layer_types");
    if (!lt.is_array()) return r.Error("layer_types", "must be a list");
    for (const json& t : lt) {
      if (!t.is_string() || t.get<std::string>() != "full_attention") {
        return r.Error("layer_types",
                       "contains " + t.dump() + "; only \"full_attention\" is supported");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const char* LayoutName(Layout l) {
  switch (l) {
    case Layout::kQwen2:
      return "qwen2";
    case Layout::kLlavaQwen2:
      return "llava_qwen2";
    case Layout::kFastVlmHF:
      return "fast_vlm";
  }
  return "?";
}

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& path) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    // e.what() carries "at line L, column C"; e.byte is the offset for editors that want it.
    return Status::FromString(path + ": malformed JSON (byte " + std::to_string(e.byte) +
                              "): " + e.what());
  }
  if (!root.is_object()) {
    return Status::FromString(path + ": expected a JSON object, got " + root.type_name());
  }
  const FieldReader top(root, path, "");
  ModelConfig mc;
  if (!top.Has("model_type")) {
    return top.Error("no 'model_type'; supported model types: " + std::string(kSupportedTypes));
  }
  RETURN_IF_ERROR(top.String("model_type", &mc.model_type));

  // Weights that are not plain floats would be misread as such.
  for (const char* q : {"quantization", "quantization_config"}) {
    if (top.Has(q)) {
      return top.Error(q,
                       "is present: quantized checkpoints (MLX, GPTQ, AWQ, bitsandbytes) are "
                       "not supported; use the original bf16/f16/f32 checkpoint");
    }
  }

  if (mc.model_type == "qwen2" || mc.model_type == "llava_qwen2") {
    // Qwen2Config and Apple's LlavaQwen2Config (a Qwen2Config subclass): default untied.
    mc.layout = mc.model_type == "qwen2" ? Layout::kQwen2 : Layout::kLlavaQwen2;
    mc.llm_prefix = "model.";
    RETURN_IF_ERROR(ParseQwen2(top, &mc.text));
    // llava_qwen2 marks the image with the sentinel id -200 in the token stream, not a vocab id.
    mc.image_token_id = -1;
  } else if (mc.model_type == "fast_vlm") {
    mc.layout = Layout::kFastVlmHF;
    mc.llm_prefix = "model.language_model.";
    if (!top.Has("text_config")) return top.Error("text_config", "is missing");
    const json& tc = top.Get("text_config");
    if (!tc.is_object()) return top.Error("text_config", "must be an object");
    const FieldReader text(tc, path, "text_config.");
    std::string text_type = "qwen2";
    RETURN_IF_ERROR(text.String("model_type", &text_type));
    if (text_type != "qwen2") {
      return text.Error("model_type",
                        "is '" + text_type + "'; only a qwen2 text model is supported");
    }
    RETURN_IF_ERROR(ParseQwen2(text, &mc.text));
    // FastVlmConfig.__post_init__: tied if either the top level or text_config says so.
    bool top_tie = false;
    RETURN_IF_ERROR(top.Bool("tie_word_embeddings", &top_tie));
    mc.text.tie_word_embeddings = mc.text.tie_word_embeddings || top_tie;
    // Token ids are usually in text_config; some exports put them at the top level only.
    if (mc.text.eos_token_ids.empty()) RETURN_IF_ERROR(ParseEos(top, &mc.text.eos_token_ids));
    if (mc.text.bos_token_id < 0)
      RETURN_IF_ERROR(top.Int("bos_token_id", false, &mc.text.bos_token_id));
    // Saved as image_token_index (attribute_map image_token_id -> image_token_index).
    mc.image_token_id = kFastVlmImageTokenId;
    RETURN_IF_ERROR(top.Int("image_token_id", false, &mc.image_token_id));
    RETURN_IF_ERROR(top.Int("image_token_index", false, &mc.image_token_id));
    if (mc.image_token_id < 0 || mc.image_token_id >= mc.text.vocab_size) {
      return top.Error(StringPrintf("image token id %d is outside the vocabulary [0, %d)",
                                    mc.image_token_id, mc.text.vocab_size));
    }
  } else {
    return top.Error("model_type",
                     "is '" + mc.model_type +
                         "', which is not supported; supported model types: " + kSupportedTypes);
  }
  return mc;
}

}  // namespace fastvlm::io
