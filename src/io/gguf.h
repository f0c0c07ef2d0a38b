// GGUF v3 files (the format of llama.cpp / ggml and the Python `gguf` package): our converted and
// quantized weights. A file is self-describing (metadata key/value pairs) and mmap-able: tensor
// data sits at offsets aligned to `general.alignment`, so a loader points into the mapping.
//
// Layout (little-endian):
//   "GGUF" u32 version=3 u64 tensor_count u64 kv_count
//   kv_count x { string key, u32 value_type, value }
//   tensor_count x { string name, u32 n_dims, n_dims x u64 dims, u32 ggml_type, u64 offset }
//   padding to the alignment, then the data section (offsets are relative to its start).
// A string is u64 length + bytes (no NUL); an array is u32 element type + u64 count + elements.
// dims[0] is the innermost (contiguous) dimension: the reverse of our row-major shapes.
//
// Like safetensors.h, reading validates everything: a malformed file is a Status naming the file
// and the problem, never a crash or undefined behaviour.
//
// Compatibility: GgufWriter lays tensors out as the Python `gguf` writer does (back to back in
// AddTensor order, each padded to the alignment), which is also the exact layout llama.cpp's
// gguf_init_from_file insists on; files it writes open there and in gguf.GGUFReader. Two things
// the format allows but llama.cpp rejects, so a converter that wants its files usable there must
// avoid them: nested arrays (GgufWriter::Set with an array of arrays) and tensor names of 64 bytes
// or more (GGML_MAX_NAME). Our reader accepts both, and is more lenient than llama.cpp about
// offsets (any aligned, in-bounds, non-overlapping layout) and accepts version 2 (same layout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"  // MappedFile

namespace fastvlm::io {

// Tensor element types we read and write (ggml's numbering).
enum class GgmlType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 8, kBF16 = 30 };

const char* GgmlTypeName(GgmlType t);  // "F32", "Q8_0", ...
bool GgmlTypeKnown(uint32_t t);        // one of the enumerators above
int64_t GgmlBlockSize(GgmlType t);     // elements per block: 1 for float types, 32 for Q*
int64_t GgmlBlockBytes(GgmlType t);    // bytes per block
// Bytes of a row of `row_len` elements; the caller checks row_len % GgmlBlockSize == 0.
int64_t GgmlRowBytes(GgmlType t, int64_t row_len);

// Metadata value types (GGUF numbering).
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* GgufValueTypeName(GgufValueType t);  // "u32", "string", "array", ...

// One metadata value. Scalars are widened into u64 / i64 / f64 (the tag keeps the stored width,
// so a value round-trips exactly); arrays keep their elements in the typed vector that matches
// `array_type`, so a 150k-entry token list costs one vector, not 150k tagged values.
struct GgufValue {
  GgufValueType type = GgufValueType::kU32;
  GgufValueType array_type = GgufValueType::kU32;  // element type when type == kArray

  uint64_t u = 0;  // kU8, kU16, kU32, kU64, kBool (0 / 1)
  int64_t i = 0;   // kI8, kI16, kI32, kI64
  double f = 0;    // kF32, kF64
  std::string str;  // kString

  std::vector<uint64_t> us;       // array of kU8 / kU16 / kU32 / kU64 / kBool
  std::vector<int64_t> is;        // array of kI8 / kI16 / kI32 / kI64
  std::vector<double> fs;         // array of kF32 / kF64
  std::vector<std::string> strs;  // array of kString
  std::vector<GgufValue> arrays;  // array of kArray (nested; each element is itself an array)

  size_t array_size() const;  // element count of an array; 0 for a scalar
  // Short human-readable form for messages and `fastvlm inspect`: 3, -1.5, "text",
  // [u32 x 4: 1, 2, 3, 4], long arrays elided.
  std::string DebugString() const;

  static GgufValue Scalar(GgufValueType t, uint64_t u, int64_t i, double f);
};

// Builds a GGUF file in memory (metadata and tensor descriptions) and writes it in one pass.
class GgufWriter {
 public:
  // `alignment` (a power of two) is written as the u32 key general.alignment.
  explicit GgufWriter(uint32_t alignment = 64);

  // Later calls with the same key replace the earlier value (keeping its position in the file).
  // general.alignment is owned by the writer: setting it is ignored.
  void SetU8(const std::string& key, uint8_t v);
  void SetI8(const std::string& key, int8_t v);
  void SetU16(const std::string& key, uint16_t v);
  void SetI16(const std::string& key, int16_t v);
  void SetU32(const std::string& key, uint32_t v);
  void SetI32(const std::string& key, int32_t v);
  void SetU64(const std::string& key, uint64_t v);
  void SetI64(const std::string& key, int64_t v);
  void SetF32(const std::string& key, float v);
  void SetF64(const std::string& key, double v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, std::string v);
  void SetStringArray(const std::string& key, std::vector<std::string> v);
  void SetI32Array(const std::string& key, const std::vector<int32_t>& v);
  void SetU32Array(const std::string& key, const std::vector<uint32_t>& v);
  void SetI64Array(const std::string& key, const std::vector<int64_t>& v);
  void SetF32Array(const std::string& key, const std::vector<float>& v);
  // Any value, e.g. a nested array or an array of u8; the caller fills the vector that matches
  // the type. Write rejects a value whose vectors disagree with its tags.
  void Set(const std::string& key, GgufValue v);

  // `shape` is in our row-major order (outermost first, e.g. [rows, cols]) and is stored reversed.
  // Checks the name (non-empty, unique), the shape (1..4 positive dims, row length a multiple of
  // the block size) and that nbytes is exactly what type and shape need.
  // The pointer form does not copy: `data` must stay valid until Write returns.
  Status AddTensor(const std::string& name, GgmlType type, const std::vector<int64_t>& shape,
                   const void* data, size_t nbytes);
  // Owning form, for bytes the caller produced just for this file (e.g. quantized weights).
  Status AddTensor(const std::string& name, GgmlType type, const std::vector<int64_t>& shape,
                   std::vector<uint8_t> bytes);

  // Writes path + ".tmp", fsyncs it and renames it to `path`, so a crash or error never leaves a
  // half-written file under the final name and never clobbers an existing one; on error the
  // .tmp is removed. progress(bytes_written, total_bytes) is called after the header and after
  // each tensor (may be null).
  Status Write(const std::string& path,
               const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const;
  // The whole file in memory (small files and tests).
  StatusOr<std::string> Serialize() const;

  size_t num_tensors() const { return tensors_.size(); }

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
    std::shared_ptr<std::vector<uint8_t>> owned;
  };
  // Header bytes (everything before the data section, padding included) and the data offset of
  // each tensor.
  StatusOr<std::string> BuildHeader(std::vector<uint64_t>* offsets, uint64_t* total) const;

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::map<std::string, size_t> kv_index_;
  std::vector<PendingTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// A GGUF file opened by mmap and fully validated. Tensor bytes are never copied or touched.
class GgufFile {
 public:
  struct Tensor {
    std::string name;
    GgmlType type = GgmlType::kF32;
    std::vector<int64_t> shape;  // row-major: outermost first (the file's dims reversed)
    const void* data = nullptr;  // into the mapping; aligned to alignment() from the file start
    size_t nbytes = 0;
    uint64_t offset = 0;  // relative to the data section, as stored

    int64_t numel() const;
    std::string ShapeString() const;  // "[896, 3072]"
  };

  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file
  const MappedFile& file() const { return file_; }
  const std::string& path() const { return file_.path(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kvs_; }
  const GgufValue* Find(const std::string& key) const;  // nullptr when absent
  // Typed getters: an error naming the key and the file when the key is absent or its value has
  // another type. Integer getters accept any integer type whose value fits the result; float
  // getters accept f32 and f64.
  StatusOr<std::string> GetString(const std::string& key) const;
  StatusOr<uint32_t> GetU32(const std::string& key) const;
  StatusOr<int32_t> GetI32(const std::string& key) const;
  StatusOr<uint64_t> GetU64(const std::string& key) const;
  StatusOr<int64_t> GetI64(const std::string& key) const;
  StatusOr<float> GetF32(const std::string& key) const;
  StatusOr<double> GetF64(const std::string& key) const;
  StatusOr<bool> GetBool(const std::string& key) const;
  StatusOr<std::vector<std::string>> GetStringArray(const std::string& key) const;
  StatusOr<std::vector<int64_t>> GetI64Array(const std::string& key) const;  // any integer array
  StatusOr<std::vector<float>> GetF32Array(const std::string& key) const;    // f32 / f64 arrays

  // Tensors in file order.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const Tensor* FindTensor(const std::string& name) const;  // nullptr when absent

 private:
  GgufFile() = default;
  StatusOr<const GgufValue*> Need(const std::string& key) const;
  Status TypeError(const std::string& key, const GgufValue& v, const char* want) const;

  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::map<std::string, size_t> kv_index_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace fastvlm::io
