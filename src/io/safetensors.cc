// safetensors format: https://github.com/huggingface/safetensors (README "Format"):
//   [u64 little-endian N][N bytes of JSON header][data]
// The header maps tensor name -> {dtype, shape, data_offsets: [begin, end)} with offsets relative
// to the start of the data area, plus an optional "__metadata__" string->string map.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "base/float16.h"

namespace fastvlm::io {
// checkpoint_gguf.cc
bool HasGgufMagic(const std::string& path);
void PopulateGguf(const GgufFile& g);
void ReleaseGguf(const GgufFile& g, const void* p, size_t n);

namespace {

using json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real FastVLM header is ~100 kB.
// Anything larger is a corrupt length field, and we must not hand it to the JSON parser.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4},   {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kF64, "F64", 8},   {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

const DTypeInfo& Info(DType t) {
  for (const DTypeInfo& i : kDTypes) {
    if (i.dtype == t) return i;
  }
  return kDTypes[0];  // unreachable: every enumerator is in the table
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Reads an unaligned little-endian value of type T from `p` (host is little-endian on every
// platform we target: x86-64, ARM64).
template <typename T>
T LoadUnaligned(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// A non-negative JSON integer as uint64; false for floats, negatives and non-numbers.
bool AsNonNegativeInt(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

// Parses one tensor entry of the header into `t` (everything but `data`, which needs the base).
// `begin`/`end` receive the data offsets.
Status ParseTensorEntry(const std::string& path, const std::string& name, const json& entry,
                        uint64_t data_size, TensorView* t, uint64_t* begin, uint64_t* end) {
  auto err = [&](const std::string& what) {
    return Status::FromString("tensor '" + name + "' in " + path + ": " + what);
  };
  if (!entry.is_object()) return err("header entry is not a JSON object");

  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) return err("missing 'dtype'");
  if (!dtype_it->is_string()) return err("'dtype' is not a string");
  const std::string dtype_name = dtype_it->get<std::string>();
  if (!ParseDType(dtype_name, &t->dtype)) {
    return Status::FromString("unknown dtype '" + dtype_name + "' for tensor '" + name + "' in " +
                              path + "; supported: " + SupportedDTypeList());
  }

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) return err("missing 'shape'");
  if (!shape_it->is_array()) return err("'shape' is not an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& d : *shape_it) {
    uint64_t dim;
    if (!AsNonNegativeInt(d, &dim))
      return err("'shape' " + d.dump() + " is not a non-negative integer");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return err("dimension " + d.dump() + " is too large");
    }
    t->shape.push_back(static_cast<int64_t>(dim));
    if (__builtin_mul_overflow(numel, dim, &numel)) overflow = true;
  }
  uint64_t expected_bytes = 0;
  if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      __builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(t->dtype)), &expected_bytes)) {
    return err("shape " + t->ShapeString() + " overflows the element count");
  }

  const auto off_it = entry.find("data_offsets");
  if (off_it == entry.end()) return err("missing 'data_offsets'");
  if (!off_it->is_array() || off_it->size() != 2 || !AsNonNegativeInt((*off_it)[0], begin) ||
      !AsNonNegativeInt((*off_it)[1], end)) {
    return err("'data_offsets' " + off_it->dump() +
               " is not [begin, end] of non-negative integers");
  }
  if (*end < *begin) {
    return err(StringPrintf("data_offsets end %llu < begin %llu", (unsigned long long)*end,
                            (unsigned long long)*begin));
  }
  if (*end - *begin != expected_bytes) {
    return err(StringPrintf("data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
                            (unsigned long long)*begin, (unsigned long long)*end,
                            (unsigned long long)(*end - *begin), DTypeName(t->dtype),
                            t->ShapeString().c_str(), (unsigned long long)expected_bytes));
  }
  if (*end > data_size) {
    return err(StringPrintf(
        "data_offsets [%llu, %llu] run past the %llu bytes of data in the file (truncated "
        "download?)",
        (unsigned long long)*begin, (unsigned long long)*end, (unsigned long long)data_size));
  }
  t->nbytes = static_cast<size_t>(expected_bytes);
  t->file = path;
  t->name = name;
  return Status::Ok();
}

StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromString("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::FromString("error while reading " + path);
  return ss.str();
}

}  // namespace

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
    case DType::kQ4_1: return "Q4_1";
    default: return Info(t).name;
  }
}
size_t DTypeSize(DType t) { return IsBlockDType(t) ? 0 : Info(t).size; }
bool IsBlockDType(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0 || t == DType::kQ4_1; }

bool ParseDType(std::string_view name, DType* out) {
  for (const DTypeInfo& i : kDTypes) {
    if (name == i.name) {
      *out = i.dtype;
      return true;
    }
  }
  return false;
}

std::string SupportedDTypeList() {
  std::string s;
  for (const DTypeInfo& i : kDTypes) {
    if (!s.empty()) s += ", ";
    s += i.name;
  }
  return s;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when the header was parsed
  return n;
}

std::string TensorView::ShapeString() const { return ShapeToString(shape); }

Status CopyToF32(const TensorView& t, float* dst, size_t dst_len) {
  const size_t n = static_cast<size_t>(t.numel());
  if (dst_len != n) {
    return Status::FromString(StringPrintf("tensor '%s' in %s has %zu elements, destination %zu",
                                           t.name.c_str(), t.file.c_str(), n, dst_len));
  }
  if (IsBlockDType(t.dtype)) {
    return Status::FromString(StringPrintf(
        "tensor '%s' in %s is %s-quantized; this tensor must be stored as F32, BF16 or F16",
        t.name.c_str(), t.file.c_str(), DTypeName(t.dtype)));
  }
  if (t.packed_panel != 0) {
    return Status::FromString(StringPrintf(
        "tensor '%s' in %s is stored packed for the vision kernels, not row-major",
        t.name.c_str(), t.file.c_str()));
  }
  const uint8_t* p = static_cast<const uint8_t*>(t.data);
  const size_t es = DTypeSize(t.dtype);
  for (size_t i = 0; i < n; ++i, p += es) {
    switch (t.dtype) {
      case DType::kF32:
        dst[i] = LoadUnaligned<float>(p);
        break;
      case DType::kF16:
        dst[i] = F16ToF32(LoadUnaligned<uint16_t>(p));
        break;
      case DType::kBF16:
        dst[i] = BF16ToF32(LoadUnaligned<uint16_t>(p));
        break;
      case DType::kF64:
        dst[i] = static_cast<float>(LoadUnaligned<double>(p));
        break;
      case DType::kI64:
        dst[i] = static_cast<float>(LoadUnaligned<int64_t>(p));
        break;
      case DType::kI32:
        dst[i] = static_cast<float>(LoadUnaligned<int32_t>(p));
        break;
      case DType::kI16:
        dst[i] = static_cast<float>(LoadUnaligned<int16_t>(p));
        break;
      case DType::kI8:
        dst[i] = static_cast<float>(LoadUnaligned<int8_t>(p));
        break;
      case DType::kU8:
        dst[i] = static_cast<float>(*p);
        break;
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_1:  // rejected above
      case DType::kBool:
        dst[i] = *p ? 1.0f : 0.0f;
        break;
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<float>> ToF32Vector(const TensorView& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  RETURN_IF_ERROR(CopyToF32(t, v.data(), v.size()));
  return v;
}

StatusOr<std::vector<int64_t>> ToI64Vector(const TensorView& t) {
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<int64_t> v(n);
  const uint8_t* p = static_cast<const uint8_t*>(t.data);
  const size_t es = DTypeSize(t.dtype);
  for (size_t i = 0; i < n; ++i, p += es) {
    switch (t.dtype) {
      case DType::kI64:
        v[i] = LoadUnaligned<int64_t>(p);
        break;
      case DType::kI32:
        v[i] = LoadUnaligned<int32_t>(p);
        break;
      case DType::kI16:
        v[i] = LoadUnaligned<int16_t>(p);
        break;
      case DType::kI8:
        v[i] = LoadUnaligned<int8_t>(p);
        break;
      case DType::kU8:
        v[i] = *p;
        break;
      case DType::kBool:
        v[i] = *p ? 1 : 0;
        break;
      default:
        return Status::FromString("tensor '" + t.name + "' in " + t.file + " is " +
                                  DTypeName(t.dtype) + ", expected an integer dtype");
    }
  }
  return v;
}

Status CheckShape(const TensorView& t, const std::vector<int64_t>& expected) {
  if (t.shape == expected) return Status::Ok();
  return Status::FromString("tensor '" + t.name + "' in " + t.file + " has shape " +
                            t.ShapeString() + ", expected " + ShapeToString(expected) +
                            " (checkpoint does not match config.json?)");
}

// ---------------------------------------------------------------------------------------------
// MappedFile

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status::FromString("cannot open '" + path + "': " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::FromString("'" + path + "' is a directory, expected a file");
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FromString("'" + path + "' is not a regular file");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromString("cannot open '" + path + "': " + std::strerror(errno));
  // Size from the open descriptor, not the earlier stat: the file may have been replaced between.
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::FromString("cannot stat '" + path + "': " + std::strerror(e));
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status::FromString("'" + path + "' is empty (0 bytes; interrupted download?)");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) {
    return Status::FromString("cannot mmap '" + path + "': " + std::strerror(e));
  }
#ifdef MADV_HUGEPAGE
  // Where the file is not cached yet, its pages are then read into 2 MB page-cache folios and
  // mapped as such (Linux 6.x file THP), for this and every later load: decode streams the
  // weights every token, and 4 KB pages read ~9% slower. A file already cached in small folios
  // (just written or copied) keeps them. Advice only.
  ::madvise(p, size, MADV_HUGEPAGE);
#endif
  MappedFile f;
  f.data_ = static_cast<const uint8_t*>(p);
  f.size_ = size;
  f.path_ = path;
  return f;
}

void MappedFile::Populate() const {
  if (!data_ || size_ == 0) return;
#ifdef MADV_POPULATE_READ
  if (::madvise(const_cast<uint8_t*>(data_), size_, MADV_POPULATE_READ) == 0) return;
#endif
  ::madvise(const_cast<uint8_t*>(data_), size_, MADV_WILLNEED);
  const long page = ::sysconf(_SC_PAGESIZE);
  volatile uint8_t sink = 0;
  for (size_t off = 0; off < size_; off += static_cast<size_t>(page)) sink = sink ^ data_[off];
  (void)sink;
}

void Checkpoint::Populate() const {
  for (const auto& f : files_) f->file().Populate();
  if (gguf_) PopulateGguf(*gguf_);
}

void MappedFile::Release(const void* p, size_t n) const {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  if (!data_ || b < data_ || n > size_ || b - data_ > static_cast<ptrdiff_t>(size_ - n)) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(b) + n) / page * page;
  if (lo < hi) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

void Checkpoint::Release(const void* p, size_t n) const {
  for (const auto& f : files_) f->file().Release(p, n);
  if (gguf_) ReleaseGguf(*gguf_, p, n);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      path_(std::move(o.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    path_ = std::move(o.path_);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  auto f = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  const uint8_t* base = f->file_.data();
  const uint64_t file_size = f->file_.size();
  if (file_size < 8) {
    return Status::FromString(StringPrintf(
        "%s: %llu bytes is too small for a safetensors file (8-byte header length missing)",
        path.c_str(), (unsigned long long)file_size));
  }
  const uint64_t header_len = LoadUnaligned<uint64_t>(base);
  if (header_len > kMaxHeaderBytes) {
    return Status::FromString(StringPrintf(
        "%s: header length %llu is larger than the 100 MB limit; not a safetensors file, or "
        "corrupt",
        path.c_str(), (unsigned long long)header_len));
  }
  if (header_len > file_size - 8) {
    return Status::FromString(StringPrintf(
        "%s: header length %llu runs past the end of the %llu-byte file (truncated, or not a "
        "safetensors file)",
        path.c_str(), (unsigned long long)header_len, (unsigned long long)file_size));
  }
  const char* hbegin = reinterpret_cast<const char*>(base + 8);
  const char* hend = hbegin + header_len;

  // JSON allows duplicate keys and nlohmann keeps the last one; two entries for one tensor name
  // means the header is corrupt, so catch them while parsing (depth 1 = top-level keys).
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && duplicate.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second) duplicate = k;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(hbegin, hend, on_event);
  } catch (const json::exception& e) {
    return Status::FromString(path + ": safetensors header is not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) {
    return Status::FromString(path + ": tensor '" + duplicate + "' appears twice in the header");
  }
  if (!header.is_object()) {
    return Status::FromString(path + ": safetensors header is JSON " + header.type_name() +
                              ", expected an object");
  }

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  struct Range {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object()) {
        return Status::FromString(path + ": '__metadata__' is not a JSON object");
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return Status::FromString(path + ": '__metadata__' value for '" + m.key() +
                                    "' is not a string");
        }
        f->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorView t;
    uint64_t begin = 0, end = 0;
    RETURN_IF_ERROR(ParseTensorEntry(path, it.key(), *it, data_size, &t, &begin, &end));
    t.data = base + data_start + begin;
    ranges.push_back({begin, end, f->tensors_.size()});
    f->tensors_.push_back(std::move(t));
  }

  // Two tensors sharing bytes means the offsets are corrupt (writers lay tensors out back to
  // back). Zero-size tensors occupy no bytes and may sit anywhere.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  const Range* prev = nullptr;
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;
    if (prev && r.begin < prev->end) {
      return Status::FromString(path + ": tensors '" + f->tensors_[prev->index].name + "' and '" +
                                f->tensors_[r.index].name + "' overlap in the data area");
    }
    prev = &r;
  }

  std::sort(f->tensors_.begin(), f->tensors_.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  return f;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& t, const std::string& n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {

namespace fs = std::filesystem;

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

std::string Join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// Hints for a folder with config.json but no safetensors weights in the expected names.
std::string WeightsHint(const std::string& dir) {
  std::vector<std::string> safetensors, other;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".safetensors") safetensors.push_back(name);
    if (e.path().extension() == ".bin" || e.path().extension() == ".pt" ||
        e.path().extension() == ".gguf") {
      other.push_back(name);
    }
  }
  std::string hint;
  if (!safetensors.empty()) {
    std::sort(safetensors.begin(), safetensors.end());
    hint +=
        "; found " + safetensors.front() +
        (safetensors.size() > 1 ? " and " + std::to_string(safetensors.size() - 1) + " more" : "") +
        " but no index naming them";
  }
  if (!other.empty()) {
    hint += "; found " + other.front() +
            ", a format this loader does not read (convert the weights to safetensors)";
  }
  return hint;
}

}  // namespace

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::FromString("cannot access model folder '" + dir + "': " + ec.message());
  }
  if (!fs::exists(st)) {
    return Status::FromString("model folder '" + dir + "' does not exist");
  }
  if (fs::is_regular_file(st) && HasGgufMagic(dir)) return OpenGguf(dir);
  if (!fs::is_directory(st)) {
    const fs::path parent = fs::path(dir).parent_path();
    return Status::FromString(
        "'" + dir + "' is a file, not a model folder; pass the folder that holds it" +
        (parent.empty() ? "" : ", '" + parent.string() + "',") +
        " which should contain config.json and model.safetensors (a Hugging Face model folder)");
  }
  auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir_ = dir;

  const std::string config_path = Join(dir, "config.json");
  if (!IsRegularFile(config_path)) {
    return Status::FromString("no config.json in '" + dir +
                              "': expected a Hugging Face model folder (config.json plus "
                              "model.safetensors or model.safetensors.index.json and its shards)");
  }
  ASSIGN_OR_RETURN(ckpt->config_json_, ReadTextFile(config_path));

  // The single file wins over an index, as in transformers' loading order.
  std::vector<std::string> shard_names;
  json weight_map;
  const std::string index_path = Join(dir, kIndexFile);
  if (IsRegularFile(Join(dir, kSingleFile))) {
    shard_names.push_back(kSingleFile);
  } else if (IsRegularFile(index_path)) {
    ASSIGN_OR_RETURN(const std::string index_text, ReadTextFile(index_path));
    json index;
    try {
      index = json::parse(index_text);
    } catch (const json::exception& e) {
      return Status::FromString(index_path + ": not valid JSON: " + e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return Status::FromString(index_path + ": expected an object with a 'weight_map' object");
    }
    weight_map = index["weight_map"];
    std::set<std::string> unique;
    for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
      if (!it->is_string()) {
        return Status::FromString(index_path + ": weight_map entry for '" + it.key() +
                                  "' is not a file name");
      }
      const std::string shard = it->get<std::string>();
      // Shards live beside the index; refuse paths that would escape the folder.
      const fs::path sp(shard);
      if (shard.empty() || sp.is_absolute() ||
          std::any_of(sp.begin(), sp.end(), [](const fs::path& c) { return c == ".."; })) {
        return Status::FromString(index_path + ": shard name '" + shard + "' for tensor '" +
                                  it.key() + "' is not a file name inside the folder");
      }
      unique.insert(shard);
    }
    if (unique.empty()) return Status::FromString(index_path + ": weight_map is empty");
    for (const std::string& s : unique) {
      if (!IsRegularFile(Join(dir, s))) {
        return Status::FromString("shard '" + s + "' listed in " + index_path +
                                  " is missing from '" + dir + "' (incomplete download?)");
      }
      shard_names.push_back(s);
    }
  } else {
    return Status::FromString("no " + std::string(kSingleFile) + " or " + kIndexFile + " in '" +
                              dir + "'" + WeightsHint(dir));
  }

  for (const std::string& s : shard_names) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(Join(dir, s)));
    for (const TensorView& t : file->tensors()) {
      auto [it, inserted] = ckpt->by_name_.emplace(t.name, &t);
      if (!inserted) {
        return Status::FromString("tensor '" + t.name + "' is in both " + it->second->file +
                                  " and " + t.file);
      }
    }
    ckpt->files_.push_back(std::move(file));
  }

  // The index is a promise about where each tensor lives; a tensor it lists that no shard holds
  // (or that sits in a different shard) means the files and the index disagree.
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    const TensorView* t = ckpt->Find(it.key());
    const std::string want = Join(dir, it->get<std::string>());
    if (!t) {
      return Status::FromString("tensor '" + it.key() + "' listed in " + index_path +
                                " is not in " + want);
    }
    if (t->file != want) {
      return Status::FromString("tensor '" + it.key() + "' is in " + t->file + " but " +
                                index_path + " places it in " + want);
    }
  }
  return ckpt;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

StatusOr<const TensorView*> Checkpoint::Get(const std::string& name,
                                            const std::vector<int64_t>& expected) const {
  const TensorView* t = Find(name);
  if (!t) {
    return Status::FromString("tensor '" + name + "' not found in the checkpoint at '" + dir_ +
                              "' (" + std::to_string(by_name_.size()) + " tensors)");
  }
  RETURN_IF_ERROR(CheckShape(*t, expected));
  return t;
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  if (gguf_) out.push_back(dir_);
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

std::vector<const TensorView*> Checkpoint::AllTensors() const {
  std::vector<const TensorView*> out;
  out.reserve(by_name_.size());
  for (const auto& [name, t] : by_name_) out.push_back(t);
  return out;
}

bool Checkpoint::HasFile(const std::string& relative_name) const {
  if (gguf_) return embedded_files_.count(relative_name) > 0;
  return IsRegularFile(Join(dir_, relative_name));
}

StatusOr<std::string> Checkpoint::ReadFile(const std::string& relative_name) const {
  if (gguf_) {
    auto it = embedded_files_.find(relative_name);
    if (it == embedded_files_.end()) {
      return Status::FromString(dir_ + " does not embed " + relative_name);
    }
    return it->second;
  }
  return ReadTextFile(Join(dir_, relative_name));
}

}  // namespace fastvlm::io
