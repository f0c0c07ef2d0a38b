#include "util/safetensors_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/check.h"
#include "base/float16.h"

namespace fastvlm::testing {
namespace {

using json = nlohmann::json;

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

template <typename T>
void AppendLE(std::vector<uint8_t>* out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // every target is little-endian
  out->insert(out->end(), b, b + sizeof(T));
}

size_t ElementSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  return 1;
}

}  // namespace

std::vector<const SafetensorsWriter::Entry*> SafetensorsWriter::Layout() const {
  // Like the Python writer: widest dtypes first, so that with the header padded to 8 bytes every
  // tensor starts aligned to its element size (model code may rely on that for real files).
  std::vector<const Entry*> order;
  for (const Entry& e : tensors_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return ElementSize(a->dtype) > ElementSize(b->dtype);
  });
  return order;
}

std::vector<uint8_t> EncodeFloats(const std::string& dtype, const std::vector<float>& values) {
  std::vector<uint8_t> out;
  for (float v : values) {
    if (dtype == "F32") {
      AppendLE(&out, v);
    } else if (dtype == "BF16") {
      AppendLE(&out, F32ToBF16(v));
    } else if (dtype == "F16") {
      AppendLE(&out, F32ToF16(v));
    } else {
      CHECK(false && "EncodeFloats: dtype must be F32, BF16 or F16");
    }
  }
  return out;
}

void SafetensorsWriter::AddF32(const std::string& name, std::vector<int64_t> shape,
                               const std::vector<float>& values) {
  CHECK_EQ(Numel(shape), static_cast<int64_t>(values.size()));
  AddRaw(name, "F32", std::move(shape), EncodeFloats("F32", values));
}

void SafetensorsWriter::AddBF16(const std::string& name, std::vector<int64_t> shape,
                                const std::vector<float>& values) {
  CHECK_EQ(Numel(shape), static_cast<int64_t>(values.size()));
  AddRaw(name, "BF16", std::move(shape), EncodeFloats("BF16", values));
}

void SafetensorsWriter::AddF16(const std::string& name, std::vector<int64_t> shape,
                               const std::vector<float>& values) {
  CHECK_EQ(Numel(shape), static_cast<int64_t>(values.size()));
  AddRaw(name, "F16", std::move(shape), EncodeFloats("F16", values));
}

void SafetensorsWriter::AddI64(const std::string& name, std::vector<int64_t> shape,
                               const std::vector<int64_t>& values) {
  CHECK_EQ(Numel(shape), static_cast<int64_t>(values.size()));
  std::vector<uint8_t> bytes;
  for (int64_t v : values) AppendLE(&bytes, v);
  AddRaw(name, "I64", std::move(shape), std::move(bytes));
}

void SafetensorsWriter::AddRaw(const std::string& name, const std::string& dtype,
                               std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  tensors_.push_back({name, dtype, std::move(shape), std::move(bytes)});
}

std::string SafetensorsWriter::HeaderJson() const {
  // ordered_json keeps insertion order, so the header reads like the data layout.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry* e : Layout()) {
    h[e->name] = {{"dtype", e->dtype},
                  {"shape", e->shape},
                  {"data_offsets", {offset, offset + e->bytes.size()}}};
    offset += e->bytes.size();
  }
  return h.dump();
}

std::string SafetensorsWriter::Serialize() const {
  std::string header = HeaderJson();
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::vector<uint8_t> len;
  AppendLE(&len, static_cast<uint64_t>(header.size()));
  std::string out(len.begin(), len.end());
  out += header;
  for (const Entry* e : Layout()) out.append(e->bytes.begin(), e->bytes.end());
  return out;
}

Status SafetensorsWriter::Write(const std::string& path) const {
  return WriteBinaryFile(path, Serialize());
}

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/fastvlm_test_XXXXXX";
  CHECK(::mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Status WriteBinaryFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::FromString("cannot create " + path + ": " + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Status::FromString("error writing " + path);
  return Status::Ok();
}

Status WriteTextFile(const std::string& path, const std::string& text) {
  return WriteBinaryFile(path, text);
}

std::string TinyQwen2ConfigJson(int layers, int hidden, int heads, int kv_heads, int intermediate,
                                int vocab) {
  json c = {
      {"architectures", {"Qwen2ForCausalLM"}},
      {"model_type", "qwen2"},
      {"num_hidden_layers", layers},
      {"hidden_size", hidden},
      {"num_attention_heads", heads},
      {"num_key_value_heads", kv_heads},
      {"intermediate_size", intermediate},
      {"vocab_size", vocab},
      {"hidden_act", "silu"},
      {"max_position_embeddings", 512},
      {"rms_norm_eps", 1e-6},
      {"rope_parameters", {{"rope_theta", 1000000.0}, {"rope_type", "default"}}},
      {"tie_word_embeddings", false},
      {"use_sliding_window", false},
      {"bos_token_id", nullptr},
      {"eos_token_id", nullptr},
  };
  return c.dump(2);
}

Status WriteCheckpoint(const std::string& dir, const std::string& config_json,
                       const SafetensorsWriter& weights) {
  RETURN_IF_ERROR(WriteTextFile(dir + "/config.json", config_json));
  return weights.Write(dir + "/model.safetensors");
}

Status WriteShardedCheckpoint(
    const std::string& dir, const std::string& config_json,
    const std::vector<std::pair<std::string, SafetensorsWriter>>& shards) {
  RETURN_IF_ERROR(WriteTextFile(dir + "/config.json", config_json));
  json weight_map = json::object();
  size_t total = 0;
  for (const auto& [file, writer] : shards) {
    const std::string bytes = writer.Serialize();
    total += bytes.size();
    RETURN_IF_ERROR(WriteBinaryFile(dir + "/" + file, bytes));
    const json header = json::parse(writer.HeaderJson());
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() != "__metadata__") weight_map[it.key()] = file;
    }
  }
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return WriteTextFile(dir + "/model.safetensors.index.json", index.dump(2));
}

}  // namespace fastvlm::testing
