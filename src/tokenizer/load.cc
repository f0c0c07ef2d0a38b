// Reading the tokenizer files: tokenizer.json, or vocab.json + merges.txt (+ added_tokens.json,
// tokenizer_config.json, special_tokens_map.json).
//
// The big JSON files (vocab.json 2.8 MB, tokenizer.json 4.7 MB) are read with nlohmann's SAX
// interface straight into hash maps: building the DOM first costs ~4x the time (200 ms vs 50 ms).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace tokenizer_internal {
namespace {

using Json = nlohmann::json;

constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool FileExists(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return f.good();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return Status::Error("%s: cannot open (%s)", path.c_str(), std::strerror(errno));
  const std::streamoff size = f.tellg();
  if (size < 0) return Status::Error("%s: cannot read", path.c_str());
  std::string data(static_cast<size_t>(size), '\0');
  f.seekg(0);
  if (!f.read(data.data(), size)) return Status::Error("%s: read error", path.c_str());
  return data;
}

StatusOr<Json> ParseJsonText(const std::string& text, const std::string& path) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return Status::Error("%s: malformed JSON: %s", path.c_str(), e.what());
  }
}

// A SAX handler that knows where it is (the chain of object keys / array markers) and hands every
// scalar to `OnValue` with that path. Subclasses pick out the parts they need.
class PathSax : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return OnValue(Value{Value::kNull}); }
  bool boolean(bool v) override { return OnValue(Value{Value::kBool, v}); }
  bool number_integer(number_integer_t v) override {
    return OnValue(Value{Value::kInt, false, static_cast<int64_t>(v)});
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (v > static_cast<number_unsigned_t>(INT64_MAX)) return OnValue(Value{Value::kOther});
    return OnValue(Value{Value::kInt, false, static_cast<int64_t>(v)});
  }
  bool number_float(number_float_t, const string_t&) override {
    return OnValue(Value{Value::kOther});
  }
  bool string(string_t& v) override { return OnValue(Value{Value::kString, false, 0, &v}); }
  bool binary(binary_t&) override { return OnValue(Value{Value::kOther}); }
  bool start_object(std::size_t) override {
    if (!OnContainer(/*array=*/false)) return false;
    path_.push_back(Frame{false, {}});
    return true;
  }
  bool key(string_t& k) override {
    path_.back().key = std::move(k);
    return true;
  }
  bool end_object() override {
    path_.pop_back();
    return AfterContainer();
  }
  bool start_array(std::size_t) override {
    if (!OnContainer(/*array=*/true)) return false;
    path_.push_back(Frame{true, {}});
    return true;
  }
  bool end_array() override {
    path_.pop_back();
    return AfterContainer();
  }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_ = Status::Error("malformed JSON: %s", e.what());
    return false;
  }

  const Status& error() const { return error_; }

 protected:
  struct Value {
    enum Kind { kNull, kBool, kInt, kString, kOther } kind;
    bool b = false;
    int64_t i = 0;
    std::string* s = nullptr;
  };
  struct Frame {
    bool array;
    std::string key;
  };
  virtual bool OnValue(const Value& v) = 0;
  virtual bool OnContainer(bool array) { return true; }
  virtual bool AfterContainer() { return true; }
  bool Fail(std::string msg) {
    error_ = Status::FromString(std::move(msg));
    return false;
  }
  // Frame i is a container; its `key` is the key being read inside it (objects) and "[]" stands
  // for an array. At(keys): the open containers are exactly `keys` (used around containers).
  // Under(keys): the current value is a direct child of the container reached by `keys`.
  bool At(std::initializer_list<const char*> keys) const {
    return path_.size() == keys.size() && PrefixIs(keys);
  }
  bool Under(std::initializer_list<const char*> keys) const {
    return path_.size() == keys.size() + 1 && PrefixIs(keys);
  }
  bool PrefixIs(std::initializer_list<const char*> keys) const {
    if (path_.size() < keys.size()) return false;
    size_t i = 0;
    for (const char* k : keys) {
      const Frame& f = path_[i++];
      if (std::strcmp(k, "[]") == 0 ? !f.array : (f.array || f.key != k)) return false;
    }
    return true;
  }
  std::vector<Frame> path_;
  Status error_;
};

// vocab.json: {"token": id, ...}
class VocabSax : public PathSax {
 public:
  explicit VocabSax(TokenIndex* vocab) : vocab_(vocab) {}

 protected:
  bool OnContainer(bool array) override {
    if (path_.empty() && !array) return true;
    return Fail("expected an object mapping token strings to integer ids");
  }
  bool OnValue(const Value& v) override {
    if (path_.size() != 1) return Fail("expected an object mapping token strings to integer ids");
    if (v.kind != Value::kInt || v.i < 0 || v.i > INT32_MAX) {
      return Fail("token '" + path_[0].key + "' has no valid id (expected an integer >= 0)");
    }
    if (!vocab_->Insert(path_[0].key, static_cast<int32_t>(v.i))) {
      return Fail("duplicate token '" + path_[0].key + "' in vocabulary");
    }
    return true;
  }

 private:
  TokenIndex* vocab_;
};

// tokenizer.json: model.{type, vocab, merges, ignore_merges, ...}, added_tokens, normalizer,
// pre_tokenizer.
class TokenizerJsonSax : public PathSax {
 public:
  explicit TokenizerJsonSax(TokenizerFiles* files) : files_(files) {}
  bool saw_model_type = false;
  bool saw_vocab = false;
  std::set<std::string> normalizer_types;

 protected:
  bool OnContainer(bool array) override {
    if (At({"model", "merges", "[]"}) && array) pair_parts_.clear();
    if (At({"added_tokens", "[]"}) && !array) current_ = AddedToken{};
    if (At({"model", "vocab"})) saw_vocab = true;
    return true;
  }
  bool AfterContainer() override {
    if (At({"model", "merges", "[]"})) {  // an ["a", "b"] merge just ended
      if (pair_parts_.size() != 2) {
        return Fail(StringPrintf("model.merges[%zu]: expected two tokens", files_->merges.size()));
      }
      AddMerge(std::move(pair_parts_[0]), std::move(pair_parts_[1]));
    }
    if (At({"added_tokens", "[]"})) {
      if (current_.id < 0 || current_.content.empty()) {
        return Fail("added_tokens: an entry lacks \"id\" or \"content\"");
      }
      files_->added.push_back(current_);
    }
    return true;
  }
  bool OnValue(const Value& v) override {
    const std::string& k = path_.back().key;
    if (Under({"model", "vocab"})) {
      if (v.kind != Value::kInt || v.i < 0 || v.i > INT32_MAX) {
        return Fail("model.vocab: token '" + k + "' has no valid id");
      }
      if (!files_->vocab.Insert(k, static_cast<int32_t>(v.i))) {
        return Fail("model.vocab: duplicate token '" + k + "'");
      }
    } else if (Under({"model", "merges"}) && path_.back().array) {
      if (v.kind != Value::kString) return Fail("model.merges: expected strings or pairs");
      const size_t sp = v.s->find(' ');
      if (sp == std::string::npos || v.s->find(' ', sp + 1) != std::string::npos) {
        return Fail(StringPrintf("model.merges[%zu]: expected \"left right\", got '%s'",
                                 files_->merges.size(), v.s->c_str()));
      }
      AddMerge(v.s->substr(0, sp), v.s->substr(sp + 1));
    } else if (Under({"model", "merges", "[]"})) {
      if (v.kind != Value::kString) return Fail("model.merges: expected strings or pairs");
      pair_parts_.push_back(std::move(*v.s));
    } else if (Under({"model"})) {
      if (k == "type") {
        saw_model_type = true;
        if (v.kind != Value::kString || *v.s != "BPE") {
          return Fail("model.type: only \"BPE\" is supported");
        }
      } else if (k == "ignore_merges") {
        files_->ignore_merges = v.kind == Value::kBool && v.b;
      } else if (k == "byte_fallback" && v.kind == Value::kBool && v.b) {
        return Fail("model.byte_fallback = true is not supported (Qwen2 is byte-level BPE)");
      } else if ((k == "continuing_subword_prefix" || k == "end_of_word_suffix") &&
                 v.kind == Value::kString && !v.s->empty()) {
        return Fail("model." + k + " is not supported (Qwen2 uses none)");
      }
    } else if (Under({"added_tokens", "[]"})) {
      if (k == "id" && v.kind == Value::kInt && v.i >= 0 && v.i <= INT32_MAX) {
        current_.id = static_cast<int32_t>(v.i);
      } else if (k == "content" && v.kind == Value::kString) {
        current_.content = *v.s;
      } else if (k == "special" && v.kind == Value::kBool) {
        current_.special = v.b;
      } else if (k == "normalized" && v.kind == Value::kBool) {
        current_.normalized = v.b;
      }
    } else if (PrefixIs({"normalizer"}) && path_.size() > 1 && !path_.back().array &&
               k == "type" && v.kind == Value::kString) {
      normalizer_types.insert(*v.s);
    } else if (PrefixIs({"pre_tokenizer"}) && !path_.back().array && k == "Regex" &&
               v.kind == Value::kString) {
      if (*v.s != kQwen2Pattern) {
        return Fail("pre_tokenizer: unsupported split regex (only Qwen2's is implemented): " +
                    *v.s);
      }
    }
    return true;
  }

 private:
  void AddMerge(std::string a, std::string b) {
    files_->merge_lines.push_back(static_cast<int>(files_->merges.size()));
    files_->merges.emplace_back(std::move(a), std::move(b));
  }
  TokenizerFiles* files_;
  std::vector<std::string> pair_parts_;
  AddedToken current_;
};

Status SaxParseText(const std::string& text, const std::string& path, PathSax* sax) {
  const bool ok = Json::sax_parse(text, sax);
  if (!ok || !sax->error().ok()) {
    return (sax->error().ok() ? Status::Error("malformed JSON") : sax->error()).WithContext(path);
  }
  return Status::Ok();
}

Status ParseMergesTxt(const std::string& text, const std::string& path, TokenizerFiles* files) {
  files->merges.reserve(160000);
  files->merge_lines.reserve(160000);
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // The header ("#version: 0.2") and blank lines carry no merge.
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos) {
      return Status::Error("%s:%d: expected two space-separated tokens, got '%.*s'", path.c_str(),
                           line_no, static_cast<int>(line.size()), line.data());
    }
    files->merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
    files->merge_lines.push_back(line_no);
  }
  return Status::Ok();
}

// tokenizer_config.json's added_tokens_decoder: {"151643": {"content": ..., "special": ...}}.
Status ReadAddedTokensDecoder(const Json& config, const std::string& path,
                              std::vector<AddedToken>* added) {
  auto it = config.find("added_tokens_decoder");
  if (it == config.end()) return Status::Ok();
  if (!it->is_object()) return Status::Error("%s: added_tokens_decoder is not an object", path.c_str());
  for (const auto& [key, value] : it->items()) {
    AddedToken t;
    char* end = nullptr;
    const long id = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX || !value.is_object() ||
        !value.contains("content") || !value["content"].is_string()) {
      return Status::Error("%s: added_tokens_decoder entry '%s' needs an integer id and a "
                           "\"content\" string", path.c_str(), key.c_str());
    }
    t.id = static_cast<int32_t>(id);
    t.content = value["content"].get<std::string>();
    t.special = value.value("special", false);
    t.normalized = value.value("normalized", !t.special);
    added->push_back(std::move(t));
  }
  return Status::Ok();
}

// Adds `t` unless its id is already an added token (the first source read wins).
void MergeAdded(std::vector<AddedToken>* added, AddedToken t) {
  for (const auto& a : *added) {
    if (a.id == t.id) return;
  }
  added->push_back(std::move(t));
}

// Strings listed in special_tokens_map.json (plain or {"content": ...}).
void CollectSpecialStrings(const Json& j, std::set<std::string>* out) {
  if (j.is_string()) {
    out->insert(j.get<std::string>());
  } else if (j.is_array()) {
    for (const auto& e : j) CollectSpecialStrings(e, out);
  } else if (j.is_object()) {
    if (j.contains("content") && j["content"].is_string()) {
      out->insert(j["content"].get<std::string>());
    } else {
      for (const auto& [k, v] : j.items()) CollectSpecialStrings(v, out);
    }
  }
}

}  // namespace

StatusOr<TokenizerFiles> ReadTokenizerFiles(const std::string& dir) {
  const std::string base = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  FileSource src;
  src.label = dir;
  src.exists = [base](const std::string& name) { return FileExists(base + name); };
  src.read = [base](const std::string& name) { return ReadFile(base + name); };
  src.path = [base](const std::string& name) { return base + name; };
  return ReadTokenizerFiles(src);
}

StatusOr<TokenizerFiles> ReadTokenizerFiles(const FileSource& src) {
  TokenizerFiles files;
  files.label = src.label;
  const std::string tokenizer_json = src.path("tokenizer.json");
  const std::string config_path = src.path("tokenizer_config.json");
  if (src.exists("tokenizer.json")) {
    TokenizerJsonSax sax(&files);
    files.vocab.Reserve(160000, 2 << 20);
    files.merges.reserve(160000);
    files.merge_lines.reserve(160000);
    ASSIGN_OR_RETURN(std::string text, src.read("tokenizer.json"));
    RETURN_IF_ERROR(SaxParseText(text, tokenizer_json, &sax));
    if (!sax.saw_model_type || !sax.saw_vocab) {
      return Status::Error("%s: no BPE \"model\" with a \"vocab\"", tokenizer_json.c_str());
    }
    for (const auto& t : sax.normalizer_types) {
      if (t != "NFC" && t != "Sequence") {
        return Status::Error("%s: normalizer '%s' is not supported (Qwen2 uses NFC)",
                             tokenizer_json.c_str(), t.c_str());
      }
    }
    files.nfc = sax.normalizer_types.count("NFC") > 0;
    files.merges_source = tokenizer_json + " model.merges";
  } else {
    const std::string vocab_path = src.path("vocab.json");
    const std::string merges_path = src.path("merges.txt");
    if (!src.exists("vocab.json")) {
      return Status::Error("%s: not found; a tokenizer folder needs tokenizer.json, or vocab.json "
                           "+ merges.txt", vocab_path.c_str());
    }
    if (!src.exists("merges.txt")) {
      return Status::Error("%s: not found; a tokenizer folder needs tokenizer.json, or vocab.json "
                           "+ merges.txt", merges_path.c_str());
    }
    files.vocab.Reserve(160000, 2 << 20);
    VocabSax sax(&files.vocab);
    ASSIGN_OR_RETURN(std::string vocab_text, src.read("vocab.json"));
    RETURN_IF_ERROR(SaxParseText(vocab_text, vocab_path, &sax));
    vocab_text.clear();
    ASSIGN_OR_RETURN(std::string merges_text, src.read("merges.txt"));
    RETURN_IF_ERROR(ParseMergesTxt(merges_text, merges_path, &files));
    files.merges_source = merges_path;
    files.nfc = true;  // transformers' Qwen2Tokenizer always applies NFC
  }

  std::set<std::string> special_strings;
  if (src.exists("tokenizer_config.json")) {
    ASSIGN_OR_RETURN(std::string text, src.read("tokenizer_config.json"));
    ASSIGN_OR_RETURN(Json config, ParseJsonText(text, config_path));
    if (!config.is_object()) return Status::Error("%s: expected a JSON object", config_path.c_str());
    std::vector<AddedToken> from_config;
    RETURN_IF_ERROR(ReadAddedTokensDecoder(config, config_path, &from_config));
    for (auto& t : from_config) MergeAdded(&files.added, std::move(t));
    for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token",
                          "additional_special_tokens"}) {
      if (config.contains(k)) CollectSpecialStrings(config[k], &special_strings);
    }
  }
  const std::string map_path = src.path("special_tokens_map.json");
  if (src.exists("special_tokens_map.json")) {
    ASSIGN_OR_RETURN(std::string text, src.read("special_tokens_map.json"));
    ASSIGN_OR_RETURN(Json map, ParseJsonText(text, map_path));
    CollectSpecialStrings(map, &special_strings);
  }
  const std::string added_path = src.path("added_tokens.json");
  if (src.exists("added_tokens.json")) {
    ASSIGN_OR_RETURN(std::string text, src.read("added_tokens.json"));
    ASSIGN_OR_RETURN(Json added, ParseJsonText(text, added_path));
    if (!added.is_object()) {
      return Status::Error("%s: expected an object mapping token strings to ids",
                           added_path.c_str());
    }
    for (const auto& [content, id] : added.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return Status::Error("%s: token '%s' has no valid id", added_path.c_str(),
                             content.c_str());
      }
      AddedToken t;
      t.id = static_cast<int32_t>(id.get<int64_t>());
      t.content = content;
      t.special = special_strings.count(content) > 0;
      t.normalized = !t.special;
      MergeAdded(&files.added, std::move(t));
    }
  }
  for (auto& t : files.added) {
    if (special_strings.count(t.content)) t.special = true;
    if (t.content.empty()) return Status::Error("%s: an added token is empty", src.label.c_str());
  }
  return files;
}

}  // namespace tokenizer_internal
}  // namespace fastvlm
