// Memory-mapped safetensors files and checkpoint folders (config.json + one or more shards).
//
// Everything here validates its input: a header that is not JSON, offsets outside the file, a
// shape whose element count disagrees with the byte range, an unknown dtype or a truncated file
// is a Status naming the file and the tensor, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace fastvlm::io {

enum class DType : uint8_t {
  kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool,
  // ggml block types (GGUF files only; 32 values per block, TensorView::nbytes is exact).
  kQ8_0, kQ4_0, kQ4_1,
};

const char* DTypeName(DType t);  // safetensors spelling: "F32", "BF16", ...; ggml's "Q8_0", ...
size_t DTypeSize(DType t);       // bytes per element; 0 for the block types
bool IsBlockDType(DType t);
// Inverse of DTypeName; false for a spelling we do not support (e.g. "F8_E4M3", "U32").
bool ParseDType(std::string_view name, DType* out);
// "F32, F16, BF16, ...": for error messages.
std::string SupportedDTypeList();

// A read-only view of one tensor inside a mapped file.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // points into the mapping
  size_t nbytes = 0;
  std::string file;  // path of the file holding it, for error messages
  // GGUF files of `fastvlm quantize`: a vision weight stored already packed for the vision GEMM
  // (kernels::PackMatrix layout, panels of `packed_panel` outputs). `shape` is the logical shape
  // of the unpacked tensor; `nbytes` the packed size. Only the vision loader reads these.
  int packed_panel = 0;  // 0: a plain row-major tensor
  // GGUF files of `fastvlm quantize`: a Q8_0 / Q4_0 language-model matrix stored as int8 decode
  // panels (kernels::PackDecodePanels; metadata "fastvlm.decode_panels.<name>" = 64). `shape`
  // and `nbytes` are the matrix's own; the bytes are in the panel order.
  bool decode_panels = false;

  int64_t numel() const;
  std::string ShapeString() const;  // "[896, 3072]"
};

// Copies a tensor of any numeric dtype into f32 (bf16/f16 exactly; f64 rounded; integers and bool
// converted by value). `data` may be unaligned inside the file, so these never dereference it as
// a typed pointer. The Status names the tensor and file when `dst_len` != numel.
Status CopyToF32(const TensorView& t, float* dst, size_t dst_len);
StatusOr<std::vector<float>> ToF32Vector(const TensorView& t);
// Integer / bool tensors (e.g. `num_batches_tracked`, an I64 scalar) as int64; float dtypes are
// an error.
StatusOr<std::vector<int64_t>> ToI64Vector(const TensorView& t);
// Ok when `t` has exactly `expected` shape; otherwise an error naming tensor, file and both shapes.
Status CheckShape(const TensorView& t, const std::vector<int64_t>& expected);

// A read-only file mapping (mmap on POSIX). Move-only.
class MappedFile {
 public:
  static StatusOr<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Maps every page of the file now (MADV_POPULATE_READ, or touching one byte per page where
  // the kernel lacks it), so the first forward pass does not pay ~250k page faults.
  void Populate() const;
  // Drops this process's mapping of the whole pages inside [p, p + n) when that range lies in
  // the file (MADV_DONTNEED: the page cache keeps them, a later read maps them again). For
  // weights that are read from a rearranged copy from now on.
  void Release(const void* p, size_t n) const;
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// One .safetensors file.
class SafetensorsFile {
 public:
  // Maps the file and parses its header; tensor bytes are not touched (opening a 1.5 GB file costs
  // an mmap and a JSON parse of a few hundred kB).
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Sorted by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* Find(const std::string& name) const;  // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }
  const MappedFile& file() const { return file_; }

 private:
  MappedFile file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

class GgufFile;

// A Hugging Face model folder: config.json plus model.safetensors or the shards listed in
// model.safetensors.index.json; or one GGUF file written by `fastvlm quantize`, which embeds
// config.json and the tokenizer / processor files (quant/convert.h). Tensor lookup by exact name
// across all shards.
class Checkpoint {
 public:
  // `path`: a model folder, or a .gguf file.
  static StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& path);
  ~Checkpoint();

  const std::string& dir() const { return dir_; }
  // Raw text of config.json (parsed by io/config.h).
  const std::string& config_json() const { return config_json_; }
  const TensorView* Find(const std::string& name) const;
  // Find that reports a missing tensor (naming the folder) or a shape other than `expected` as an
  // error; the usual call from model code: ASSIGN_OR_RETURN(w, ckpt.Get(name, {896, 896})).
  StatusOr<const TensorView*> Get(const std::string& name,
                                  const std::vector<int64_t>& expected) const;
  size_t num_tensors() const { return by_name_.size(); }
  // Paths of the opened .safetensors files, in the order they were opened.
  std::vector<std::string> files() const;
  // All tensors, sorted by name.
  std::vector<const TensorView*> AllTensors() const;
  bool HasFile(const std::string& relative_name) const;  // e.g. "tokenizer.json"
  // The text of such a file (from the folder, or embedded in the GGUF file).
  StatusOr<std::string> ReadFile(const std::string& relative_name) const;
  bool is_gguf() const { return gguf_ != nullptr; }
  // What error messages call this checkpoint: the folder, or the GGUF file.
  const std::string& path() const { return dir_; }
  // MappedFile::Populate on every shard.
  void Populate() const;
  // MappedFile::Release on the file holding [p, p + n), if any.
  void Release(const void* p, size_t n) const;

 private:
  Checkpoint();
  std::string dir_;
  std::string config_json_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> by_name_;
  // GGUF checkpoints.
  static StatusOr<std::unique_ptr<Checkpoint>> OpenGguf(const std::string& path);
  std::unique_ptr<GgufFile> gguf_;
  std::vector<TensorView> gguf_tensors_;
  std::map<std::string, std::string> embedded_files_;
};

}  // namespace fastvlm::io
