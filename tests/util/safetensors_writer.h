// A small safetensors writer for tests: builds files and model folders (config.json + weights,
// single file or sharded) in a temp dir, so loader and model tests need no Python at test time.
// It depends only on base/ and nlohmann_json, never on io/, so a bug in the reader cannot hide
// itself by being mirrored in the writer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace fastvlm::testing {

class SafetensorsWriter {
 public:
  // Values are given as f32 and stored in the named dtype (bf16/f16 round to nearest even).
  // numel(shape) must equal values.size() (checked; a mismatch is a test bug).
  void AddF32(const std::string& name, std::vector<int64_t> shape,
              const std::vector<float>& values);
  void AddBF16(const std::string& name, std::vector<int64_t> shape,
               const std::vector<float>& values);
  void AddF16(const std::string& name, std::vector<int64_t> shape,
              const std::vector<float>& values);
  void AddI64(const std::string& name, std::vector<int64_t> shape,
              const std::vector<int64_t>& values);
  // Any dtype string and any bytes, unchecked: for files that must be wrong in a chosen way.
  void AddRaw(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
              std::vector<uint8_t> bytes);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // The header JSON as written. Tensors are laid out back to back, widest dtype first (stable),
  // as the Python `safetensors` package does, so each starts aligned to its element size.
  std::string HeaderJson() const;
  // The whole file: u64 LE header length, header padded with spaces to a multiple of 8 (as the
  // Python writer does), then the data.
  std::string Serialize() const;
  Status Write(const std::string& path) const;

  size_t num_tensors() const { return tensors_.size(); }

 private:
  struct Entry {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<const Entry*> Layout() const;

  std::vector<Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The bytes of `values` in the given float dtype ("F32", "BF16", "F16"), little-endian.
std::vector<uint8_t> EncodeFloats(const std::string& dtype, const std::vector<float>& values);

// A fresh empty directory under $TEST_TMPDIR (or /tmp), removed with everything in it on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

Status WriteTextFile(const std::string& path, const std::string& text);
Status WriteBinaryFile(const std::string& path, const std::string& bytes);

// config.json of a tiny plain Qwen2 model (model_type "qwen2", transformers v5 field names).
std::string TinyQwen2ConfigJson(int layers = 2, int hidden = 64, int heads = 4, int kv_heads = 2,
                                int intermediate = 128, int vocab = 256);

// A model folder: config.json + model.safetensors.
Status WriteCheckpoint(const std::string& dir, const std::string& config_json,
                       const SafetensorsWriter& weights);
// A sharded model folder: config.json + the given shards + model.safetensors.index.json whose
// weight_map lists every tensor of every shard.
Status WriteShardedCheckpoint(const std::string& dir, const std::string& config_json,
                              const std::vector<std::pair<std::string, SafetensorsWriter>>& shards);

}  // namespace fastvlm::testing
