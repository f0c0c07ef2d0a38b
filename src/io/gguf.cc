// GGUF v3 reader and writer. Format facts from ggml's gguf.h / gguf.cpp and the Python `gguf`
// package (constants.py, gguf_reader.py, gguf_writer.py); see gguf.h for the layout.
#include "io/gguf.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace fastvlm::io {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kDefaultAlignment = 32;  // ggml's GGUF_DEFAULT_ALIGNMENT
constexpr char kAlignmentKey[] = "general.alignment";
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
// Nested arrays are legal but nobody writes more than one level; the limit keeps a hostile file
// from recursing deep enough to overflow the stack.
constexpr int kMaxArrayDepth = 8;
// Upper bound on up-front reservations driven by counts read from the file.
constexpr size_t kMaxReserve = size_t{1} << 16;

// Smallest encodings, to reject counts that cannot fit in the bytes left before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;             // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;
  int64_t block_size;
  int64_t block_bytes;
};
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {GgmlType::kF32, "F32", 1, 4},     {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", 32, 18}, {GgmlType::kQ4_1, "Q4_1", 32, 20},
    {GgmlType::kQ8_0, "Q8_0", 32, 34}, {GgmlType::kBF16, "BF16", 1, 2},
};

const GgmlTypeInfo* FindGgmlType(uint32_t t) {
  for (const GgmlTypeInfo& i : kGgmlTypes) {
    if (static_cast<uint32_t>(i.type) == t) return &i;
  }
  return nullptr;
}

std::string SupportedGgmlTypes() {
  std::string s;
  for (const GgmlTypeInfo& i : kGgmlTypes) {
    if (!s.empty()) s += ", ";
    s += StringPrintf("%s=%u", i.name, static_cast<unsigned>(i.type));
  }
  return s;
}

bool ValueTypeKnown(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kF64); }

// Encoded size of a scalar type; 0 for string and array.
uint64_t ScalarBytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16:
      return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32:
      return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsUnsigned(GgufValueType t) {
  return t == GgufValueType::kU8 || t == GgufValueType::kU16 || t == GgufValueType::kU32 ||
         t == GgufValueType::kU64 || t == GgufValueType::kBool;
}
bool IsSigned(GgufValueType t) {
  return t == GgufValueType::kI8 || t == GgufValueType::kI16 || t == GgufValueType::kI32 ||
         t == GgufValueType::kI64;
}
bool IsFloat(GgufValueType t) { return t == GgufValueType::kF32 || t == GgufValueType::kF64; }

uint64_t UnsignedMax(GgufValueType t) {
  switch (t) {
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU8:
      return 0xff;
    case GgufValueType::kU16:
      return 0xffff;
    case GgufValueType::kU32:
      return 0xffffffffu;
    default:
      return std::numeric_limits<uint64_t>::max();
  }
}
std::pair<int64_t, int64_t> SignedRange(GgufValueType t) {
  switch (t) {
    case GgufValueType::kI8:
      return {-128, 127};
    case GgufValueType::kI16:
      return {-32768, 32767};
    case GgufValueType::kI32:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default:
      return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

using ull = unsigned long long;

// Checks a tensor's shape (row-major) and type and computes its byte size. `what` names the
// tensor (and file) for messages.
Status TensorBytes(const std::string& what, GgmlType type, const std::vector<int64_t>& shape,
                   uint64_t* nbytes) {
  if (shape.empty() || shape.size() > kMaxDims) {
    return Status::FromString(StringPrintf("%s has %zu dimensions (expected 1 to %u)",
                                           what.c_str(), shape.size(), kMaxDims));
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d <= 0) {
      return Status::FromString(what + " has a non-positive dimension in shape " +
                                ShapeToString(shape));
    }
    if (__builtin_mul_overflow(numel, d, &numel)) {
      return Status::FromString(what + ": shape " + ShapeToString(shape) +
                                " overflows the element count");
    }
  }
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  if (!info) {
    return Status::FromString(StringPrintf("%s has unsupported ggml type %u", what.c_str(),
                                           static_cast<unsigned>(type)));
  }
  const int64_t row = shape.back();
  if (row % info->block_size != 0) {
    return Status::FromString(StringPrintf(
        "%s: row length %lld (shape %s) is not a multiple of the %s block size %lld",
        what.c_str(), (long long)row, ShapeToString(shape).c_str(), info->name,
        (long long)info->block_size));
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel / info->block_size, info->block_bytes, &bytes)) {
    return Status::FromString(what + ": shape " + ShapeToString(shape) +
                              " overflows the byte count");
  }
  *nbytes = static_cast<uint64_t>(bytes);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reading

// Bounds-checked sequential reads from the mapping; every error names the file and the offset.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, const std::string& path)
      : base_(base), size_(size), path_(path) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status Err(const std::string& what) const {
    return Status::FromString(path_ + ": " + what);
  }
  Status Truncated(const std::string& what, uint64_t need) const {
    return Err(StringPrintf("%s at offset %llu needs %llu bytes but the %llu-byte file ends "
                            "first; truncated file?",
                            what.c_str(), (ull)pos_, (ull)need, (ull)size_));
  }

  template <typename T>
  Status Read(T* v, const std::string& what) {
    if (remaining() < sizeof(T)) return Truncated(what, sizeof(T));
    std::memcpy(v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string* s, const std::string& what) {
    uint64_t len = 0;
    RETURN_IF_ERROR(Read(&len, what + " length"));
    if (len > remaining()) {
      return Err(StringPrintf("%s at offset %llu has length %llu, past the end of the %llu-byte "
                              "file; truncated or corrupt file?",
                              what.c_str(), (ull)(pos_ - 8), (ull)len, (ull)size_));
    }
    s->assign(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

// Reads one scalar of type t into the widened fields of `v`.
Status ReadScalar(Cursor& c, GgufValueType t, const std::string& what, uint64_t* u, int64_t* i,
                  double* f) {
  switch (t) {
    case GgufValueType::kU8: {
      uint8_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *u = x;
      return Status::Ok();
    }
    case GgufValueType::kBool: {
      uint8_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      if (x > 1) {
        return c.Err(StringPrintf("%s at offset %llu is a bool with byte value %u (expected 0 or "
                                  "1)",
                                  what.c_str(), (ull)(c.pos() - 1), static_cast<unsigned>(x)));
      }
      *u = x;
      return Status::Ok();
    }
    case GgufValueType::kI8: {
      int8_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *i = x;
      return Status::Ok();
    }
    case GgufValueType::kU16: {
      uint16_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *u = x;
      return Status::Ok();
    }
    case GgufValueType::kI16: {
      int16_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *i = x;
      return Status::Ok();
    }
    case GgufValueType::kU32: {
      uint32_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *u = x;
      return Status::Ok();
    }
    case GgufValueType::kI32: {
      int32_t x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *i = x;
      return Status::Ok();
    }
    case GgufValueType::kF32: {
      float x = 0;
      RETURN_IF_ERROR(c.Read(&x, what));
      *f = x;
      return Status::Ok();
    }
    case GgufValueType::kU64:
      return c.Read(u, what);
    case GgufValueType::kI64:
      return c.Read(i, what);
    case GgufValueType::kF64:
      return c.Read(f, what);
    case GgufValueType::kString:
    case GgufValueType::kArray:
      break;
  }
  return c.Err(what + ": internal error: not a scalar type");
}

Status ReadValue(Cursor& c, GgufValueType type, int depth, const std::string& what,
                 GgufValue* v);

Status ReadArray(Cursor& c, int depth, const std::string& what, GgufValue* v) {
  if (depth >= kMaxArrayDepth) {
    return c.Err(StringPrintf("%s: arrays nested more than %d deep", what.c_str(),
                              kMaxArrayDepth));
  }
  uint32_t et = 0;
  RETURN_IF_ERROR(c.Read(&et, what + " element type"));
  if (!ValueTypeKnown(et)) {
    return c.Err(StringPrintf("%s: unknown array element type %u at offset %llu (expected 0..12)",
                              what.c_str(), et, (ull)(c.pos() - 4)));
  }
  const auto elem = static_cast<GgufValueType>(et);
  uint64_t count = 0;
  RETURN_IF_ERROR(c.Read(&count, what + " element count"));
  uint64_t min_bytes = ScalarBytes(elem);
  if (elem == GgufValueType::kString) min_bytes = 8;
  if (elem == GgufValueType::kArray) min_bytes = 4 + 8;
  if (count > c.remaining() / min_bytes) {
    return c.Err(StringPrintf("%s: array of %llu %s elements at offset %llu cannot fit in the "
                              "%llu bytes left in the file; truncated or corrupt file?",
                              what.c_str(), (ull)count, GgufValueTypeName(elem),
                              (ull)(c.pos() - 12), (ull)c.remaining()));
  }
  v->type = GgufValueType::kArray;
  v->array_type = elem;
  // Grow as elements are parsed rather than trusting the count: a corrupt count that still
  // "fits" the file would otherwise allocate several times the file size before failing.
  const size_t n = static_cast<size_t>(count);
  const size_t reserve = std::min<size_t>(n, kMaxReserve);
  if (elem == GgufValueType::kString) {
    v->strs.reserve(reserve);
    for (size_t k = 0; k < n; ++k) {
      RETURN_IF_ERROR(c.ReadString(&v->strs.emplace_back(), what + " element"));
    }
  } else if (elem == GgufValueType::kArray) {
    v->arrays.reserve(reserve);
    for (size_t k = 0; k < n; ++k) {
      RETURN_IF_ERROR(ReadArray(c, depth + 1, what + " element", &v->arrays.emplace_back()));
    }
  } else {
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    if (IsFloat(elem)) v->fs.reserve(reserve);
    if (IsSigned(elem)) v->is.reserve(reserve);
    if (IsUnsigned(elem)) v->us.reserve(reserve);
    for (size_t k = 0; k < n; ++k) {
      RETURN_IF_ERROR(ReadScalar(c, elem, what, &u, &i, &f));
      if (IsFloat(elem)) {
        v->fs.push_back(f);
      } else if (IsSigned(elem)) {
        v->is.push_back(i);
      } else {
        v->us.push_back(u);
      }
    }
  }
  return Status::Ok();
}

Status ReadValue(Cursor& c, GgufValueType type, int depth, const std::string& what,
                 GgufValue* v) {
  v->type = type;
  if (type == GgufValueType::kString) return c.ReadString(&v->str, what);
  if (type == GgufValueType::kArray) return ReadArray(c, depth, what, v);
  return ReadScalar(c, type, what, &v->u, &v->i, &v->f);
}

// ---------------------------------------------------------------------------------------------
// Writing

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

void PutString(std::string* out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

// Checks that a value's tags and vectors agree and that every number fits its stored width, so
// Serialize never writes a file that reads back differently.
Status CheckValue(const std::string& key, const GgufValue& v, int depth) {
  auto err = [&](const std::string& what) {
    return Status::FromString("metadata key '" + key + "': " + what);
  };
  if (!ValueTypeKnown(static_cast<uint32_t>(v.type))) return err("unknown value type");
  auto check_scalar = [&](GgufValueType t, uint64_t u, int64_t i) -> Status {
    if (IsUnsigned(t) && u > UnsignedMax(t)) {
      return err(StringPrintf("%llu does not fit %s", (ull)u, GgufValueTypeName(t)));
    }
    if (IsSigned(t)) {
      const auto [lo, hi] = SignedRange(t);
      if (i < lo || i > hi) {
        return err(StringPrintf("%lld does not fit %s", (long long)i, GgufValueTypeName(t)));
      }
    }
    return Status::Ok();
  };
  if (v.type != GgufValueType::kArray) return check_scalar(v.type, v.u, v.i);
  if (depth >= kMaxArrayDepth) return err("arrays nested too deep");
  const GgufValueType et = v.array_type;
  if (!ValueTypeKnown(static_cast<uint32_t>(et))) return err("unknown array element type");
  const size_t filled = (v.us.empty() ? 0 : 1) + (v.is.empty() ? 0 : 1) +
                        (v.fs.empty() ? 0 : 1) + (v.strs.empty() ? 0 : 1) +
                        (v.arrays.empty() ? 0 : 1);
  const bool right_vector =
      et == GgufValueType::kString   ? v.strs.size() == v.array_size()
      : et == GgufValueType::kArray  ? v.arrays.size() == v.array_size()
      : IsFloat(et)                  ? v.fs.size() == v.array_size()
      : IsSigned(et)                 ? v.is.size() == v.array_size()
                                     : v.us.size() == v.array_size();
  if (filled > 1 || !right_vector) {
    return err(std::string("array of ") + GgufValueTypeName(et) +
               " has elements in the vector of another type");
  }
  for (uint64_t u : v.us) RETURN_IF_ERROR(check_scalar(et, u, 0));
  for (int64_t i : v.is) RETURN_IF_ERROR(check_scalar(et, 0, i));
  for (const GgufValue& a : v.arrays) {
    if (a.type != GgufValueType::kArray) return err("element of a nested array is not an array");
    RETURN_IF_ERROR(CheckValue(key, a, depth + 1));
  }
  return Status::Ok();
}

void PutScalar(std::string* out, GgufValueType t, uint64_t u, int64_t i, double f) {
  switch (t) {
    case GgufValueType::kU8:
    case GgufValueType::kBool:
      Put<uint8_t>(out, static_cast<uint8_t>(u));
      break;
    case GgufValueType::kI8:
      Put<int8_t>(out, static_cast<int8_t>(i));
      break;
    case GgufValueType::kU16:
      Put<uint16_t>(out, static_cast<uint16_t>(u));
      break;
    case GgufValueType::kI16:
      Put<int16_t>(out, static_cast<int16_t>(i));
      break;
    case GgufValueType::kU32:
      Put<uint32_t>(out, static_cast<uint32_t>(u));
      break;
    case GgufValueType::kI32:
      Put<int32_t>(out, static_cast<int32_t>(i));
      break;
    case GgufValueType::kF32:
      Put<float>(out, static_cast<float>(f));
      break;
    case GgufValueType::kU64:
      Put<uint64_t>(out, u);
      break;
    case GgufValueType::kI64:
      Put<int64_t>(out, i);
      break;
    case GgufValueType::kF64:
      Put<double>(out, f);
      break;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      break;
  }
}

// Value without its type tag (the caller writes the tag; array elements carry none).
void PutValue(std::string* out, const GgufValue& v) {
  if (v.type == GgufValueType::kString) {
    PutString(out, v.str);
  } else if (v.type == GgufValueType::kArray) {
    Put<uint32_t>(out, static_cast<uint32_t>(v.array_type));
    Put<uint64_t>(out, v.array_size());
    for (const std::string& s : v.strs) PutString(out, s);
    for (const GgufValue& a : v.arrays) PutValue(out, a);
    for (uint64_t u : v.us) PutScalar(out, v.array_type, u, 0, 0);
    for (int64_t i : v.is) PutScalar(out, v.array_type, 0, i, 0);
    for (double f : v.fs) PutScalar(out, v.array_type, 0, 0, f);
  } else {
    PutScalar(out, v.type, v.u, v.i, v.f);
  }
}

// write(2) until done; EINTR-safe.
bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Types

const char* GgmlTypeName(GgmlType t) {
  const GgmlTypeInfo* i = FindGgmlType(static_cast<uint32_t>(t));
  return i ? i->name : "?";
}
bool GgmlTypeKnown(uint32_t t) { return FindGgmlType(t) != nullptr; }
int64_t GgmlBlockSize(GgmlType t) {
  const GgmlTypeInfo* i = FindGgmlType(static_cast<uint32_t>(t));
  return i ? i->block_size : 1;
}
int64_t GgmlBlockBytes(GgmlType t) {
  const GgmlTypeInfo* i = FindGgmlType(static_cast<uint32_t>(t));
  return i ? i->block_bytes : 0;
}
int64_t GgmlRowBytes(GgmlType t, int64_t row_len) {
  return row_len / GgmlBlockSize(t) * GgmlBlockBytes(t);
}

const char* GgufValueTypeName(GgufValueType t) {
  static const char* const kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

size_t GgufValue::array_size() const {
  if (type != GgufValueType::kArray) return 0;
  return us.size() + is.size() + fs.size() + strs.size() + arrays.size();
}

GgufValue GgufValue::Scalar(GgufValueType t, uint64_t u, int64_t i, double f) {
  GgufValue v;
  v.type = t;
  v.u = u;
  v.i = i;
  v.f = f;
  return v;
}

std::string GgufValue::DebugString() const {
  auto scalar = [](GgufValueType t, uint64_t u, int64_t i, double f) -> std::string {
    if (t == GgufValueType::kBool) return u ? "true" : "false";
    if (IsUnsigned(t)) return std::to_string(u);
    if (IsSigned(t)) return std::to_string(i);
    return StringPrintf("%.9g", f);
  };
  if (type == GgufValueType::kString) return "\"" + str + "\"";
  if (type != GgufValueType::kArray) return scalar(type, u, i, f);
  constexpr size_t kShown = 8;
  std::string s = StringPrintf("[%s x %zu:", GgufValueTypeName(array_type), array_size());
  const size_t n = std::min(array_size(), kShown);
  for (size_t k = 0; k < n; ++k) {
    s += k ? ", " : " ";
    if (!strs.empty()) {
      s += "\"" + strs[k] + "\"";
    } else if (!arrays.empty()) {
      s += arrays[k].DebugString();
    } else if (!us.empty()) {
      s += scalar(array_type, us[k], 0, 0);
    } else if (!is.empty()) {
      s += scalar(array_type, 0, is[k], 0);
    } else {
      s += scalar(array_type, 0, 0, fs[k]);
    }
  }
  if (array_size() > n) s += ", ...";
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// GgufWriter

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  // First in the file, as readers need it before the tensor infos.
  kvs_.emplace_back(kAlignmentKey, GgufValue::Scalar(GgufValueType::kU32, alignment, 0, 0));
  kv_index_[kAlignmentKey] = 0;
}

void GgufWriter::Set(const std::string& key, GgufValue v) {
  if (key == kAlignmentKey) return;
  auto it = kv_index_.find(key);
  if (it != kv_index_.end()) {
    kvs_[it->second].second = std::move(v);
    return;
  }
  kv_index_[key] = kvs_.size();
  kvs_.emplace_back(key, std::move(v));
}

void GgufWriter::SetU8(const std::string& k, uint8_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kU8, v, 0, 0));
}
void GgufWriter::SetI8(const std::string& k, int8_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kI8, 0, v, 0));
}
void GgufWriter::SetU16(const std::string& k, uint16_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kU16, v, 0, 0));
}
void GgufWriter::SetI16(const std::string& k, int16_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kI16, 0, v, 0));
}
void GgufWriter::SetU32(const std::string& k, uint32_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kU32, v, 0, 0));
}
void GgufWriter::SetI32(const std::string& k, int32_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kI32, 0, v, 0));
}
void GgufWriter::SetU64(const std::string& k, uint64_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kU64, v, 0, 0));
}
void GgufWriter::SetI64(const std::string& k, int64_t v) {
  Set(k, GgufValue::Scalar(GgufValueType::kI64, 0, v, 0));
}
void GgufWriter::SetF32(const std::string& k, float v) {
  Set(k, GgufValue::Scalar(GgufValueType::kF32, 0, 0, v));
}
void GgufWriter::SetF64(const std::string& k, double v) {
  Set(k, GgufValue::Scalar(GgufValueType::kF64, 0, 0, v));
}
void GgufWriter::SetBool(const std::string& k, bool v) {
  Set(k, GgufValue::Scalar(GgufValueType::kBool, v ? 1 : 0, 0, 0));
}
void GgufWriter::SetString(const std::string& k, std::string v) {
  GgufValue g;
  g.type = GgufValueType::kString;
  g.str = std::move(v);
  Set(k, std::move(g));
}
void GgufWriter::SetStringArray(const std::string& k, std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kString;
  g.strs = std::move(v);
  Set(k, std::move(g));
}
void GgufWriter::SetI32Array(const std::string& k, const std::vector<int32_t>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kI32;
  g.is.assign(v.begin(), v.end());
  Set(k, std::move(g));
}
void GgufWriter::SetU32Array(const std::string& k, const std::vector<uint32_t>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kU32;
  g.us.assign(v.begin(), v.end());
  Set(k, std::move(g));
}
void GgufWriter::SetI64Array(const std::string& k, const std::vector<int64_t>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kI64;
  g.is = v;
  Set(k, std::move(g));
}
void GgufWriter::SetF32Array(const std::string& k, const std::vector<float>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kF32;
  g.fs.assign(v.begin(), v.end());
  Set(k, std::move(g));
}

Status GgufWriter::AddTensor(const std::string& name, GgmlType type,
                             const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
  const std::string what = "tensor '" + name + "'";
  if (name.empty()) return Status::FromString("GGUF writer: tensor name is empty");
  if (tensor_index_.count(name)) {
    return Status::FromString("GGUF writer: " + what + " added twice");
  }
  uint64_t expected = 0;
  RETURN_IF_ERROR(TensorBytes(what, type, shape, &expected).WithContext("GGUF writer"));
  if (nbytes != expected) {
    return Status::FromString(StringPrintf(
        "GGUF writer: %s: %zu bytes given but %s %s needs %llu", what.c_str(), nbytes,
        GgmlTypeName(type), ShapeToString(shape).c_str(), (ull)expected));
  }
  if (!data) return Status::FromString("GGUF writer: " + what + " has no data");
  tensor_index_[name] = tensors_.size();
  tensors_.push_back({name, type, shape, data, nbytes, nullptr});
  return Status::Ok();
}

Status GgufWriter::AddTensor(const std::string& name, GgmlType type,
                             const std::vector<int64_t>& shape, std::vector<uint8_t> bytes) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  RETURN_IF_ERROR(AddTensor(name, type, shape, owned->data(), owned->size()));
  tensors_.back().owned = std::move(owned);
  return Status::Ok();
}

StatusOr<std::string> GgufWriter::BuildHeader(std::vector<uint64_t>* offsets,
                                              uint64_t* total) const {
  if (!IsPowerOfTwo(alignment_)) {
    return Status::FromString(
        StringPrintf("GGUF writer: alignment %u is not a power of two", alignment_));
  }
  std::string h;
  Put<uint32_t>(&h, kMagic);
  Put<uint32_t>(&h, 3);
  Put<uint64_t>(&h, tensors_.size());
  Put<uint64_t>(&h, kvs_.size());
  for (const auto& [key, v] : kvs_) {
    RETURN_IF_ERROR(CheckValue(key, v, 0).WithContext("GGUF writer"));
    PutString(&h, key);
    Put<uint32_t>(&h, static_cast<uint32_t>(v.type));
    PutValue(&h, v);
  }
  offsets->clear();
  uint64_t off = 0;
  for (const PendingTensor& t : tensors_) {
    PutString(&h, t.name);
    Put<uint32_t>(&h, static_cast<uint32_t>(t.shape.size()));
    // ggml order: innermost dimension first.
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) Put<uint64_t>(&h, *d);
    Put<uint32_t>(&h, static_cast<uint32_t>(t.type));
    Put<uint64_t>(&h, off);
    offsets->push_back(off);
    off += AlignUp(t.nbytes, alignment_);
  }
  h.resize(AlignUp(h.size(), alignment_), '\0');
  *total = h.size() + off;
  return h;
}

StatusOr<std::string> GgufWriter::Serialize() const {
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  ASSIGN_OR_RETURN(std::string out, BuildHeader(&offsets, &total));
  const size_t base = out.size();
  out.resize(static_cast<size_t>(total), '\0');
  for (size_t k = 0; k < tensors_.size(); ++k) {
    std::memcpy(out.data() + base + offsets[k], tensors_[k].data, tensors_[k].nbytes);
  }
  return out;
}

Status GgufWriter::Write(const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress) const {
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  ASSIGN_OR_RETURN(const std::string header, BuildHeader(&offsets, &total));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::FromString("cannot create '" + tmp + "': " + std::strerror(errno));
  }
  auto fail = [&](const std::string& what, int e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::FromString(what + " '" + tmp + "': " + std::strerror(e) +
                              (e == ENOSPC ? " (disk full?)" : ""));
  };
  if (!WriteAll(fd, header.data(), header.size())) return fail("cannot write", errno);
  uint64_t written = header.size();
  if (progress) progress(written, total);
  static const char kZeros[256] = {};
  for (const PendingTensor& t : tensors_) {
    if (!WriteAll(fd, t.data, t.nbytes)) return fail("cannot write", errno);
    uint64_t pad = AlignUp(t.nbytes, alignment_) - t.nbytes;
    written += t.nbytes + pad;
    while (pad > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(kZeros)));
      if (!WriteAll(fd, kZeros, n)) return fail("cannot write", errno);
      pad -= n;
    }
    if (progress) progress(written, total);
  }
  // Data on disk before the rename makes it visible under the final name.
  if (::fsync(fd) != 0) return fail("cannot fsync", errno);
  // Written pages sit in the page cache as small folios, and a later mmap of them maps 4 KB pages,
  // through which decode reads the weights ~10% slower than through 2 MB ones. Dropping them
  // (they are on disk now) lets the next load read the file back into 2 MB folios (the loader's
  // MADV_HUGEPAGE): one cold load instead of a warm one, then full speed for every run after.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Status::FromString("cannot close '" + tmp + "': " + std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Status::FromString("cannot rename '" + tmp + "' to '" + path +
                              "': " + std::strerror(e));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// GgufFile

int64_t GgufFile::Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked on Open
  return n;
}

std::string GgufFile::Tensor::ShapeString() const { return ShapeToString(shape); }

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  auto f = std::unique_ptr<GgufFile>(new GgufFile());
  ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  const uint64_t size = f->file_.size();
  Cursor c(f->file_.data(), size, path);

  uint32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, f->file_.data(), 4);
  if (magic != kMagic) {
    std::string got;
    for (uint64_t k = 0; k < std::min<uint64_t>(size, 4); ++k) {
      const char ch = static_cast<char>(f->file_.data()[k]);
      got += (ch >= 0x20 && ch < 0x7f) ? std::string(1, ch) : StringPrintf("\\x%02x", ch & 0xff);
    }
    return c.Err("not a GGUF file (first bytes are \"" + got + "\", expected \"GGUF\")");
  }
  RETURN_IF_ERROR(c.Read(&magic, "magic"));
  RETURN_IF_ERROR(c.Read(&f->version_, "version"));
  if (f->version_ != 2 && f->version_ != 3) {
    std::string hint = "; this reader supports versions 2 and 3";
    if (f->version_ == 0x03000000 || f->version_ == 0x02000000) {
      hint = "; the file looks big-endian, which this reader does not support";
    } else if (f->version_ == 1) {
      hint = "; version 1 is obsolete: re-convert the model";
    }
    return c.Err(StringPrintf("unsupported GGUF version %u", f->version_) + hint);
  }
  uint64_t tensor_count = 0, kv_count = 0;
  RETURN_IF_ERROR(c.Read(&tensor_count, "tensor count"));
  RETURN_IF_ERROR(c.Read(&kv_count, "metadata count"));
  if (tensor_count > c.remaining() / kMinTensorInfoBytes) {
    return c.Err(StringPrintf("tensor count %llu cannot fit in the %llu-byte file; truncated or "
                              "corrupt file?",
                              (ull)tensor_count, (ull)size));
  }
  if (kv_count > c.remaining() / kMinKvBytes) {
    return c.Err(StringPrintf("metadata count %llu cannot fit in the %llu-byte file; truncated "
                              "or corrupt file?",
                              (ull)kv_count, (ull)size));
  }

  f->kvs_.reserve(std::min<size_t>(static_cast<size_t>(kv_count), kMaxReserve));
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key;
    const std::string which = StringPrintf("metadata entry %llu", (ull)k);
    RETURN_IF_ERROR(c.ReadString(&key, which + " key"));
    const std::string what = "metadata key '" + key + "'";
    uint32_t type = 0;
    RETURN_IF_ERROR(c.Read(&type, what + " type"));
    if (!ValueTypeKnown(type)) {
      return c.Err(StringPrintf("%s has unknown value type %u at offset %llu (expected 0..12)",
                                what.c_str(), type, (ull)(c.pos() - 4)));
    }
    GgufValue v;
    RETURN_IF_ERROR(ReadValue(c, static_cast<GgufValueType>(type), 0, what, &v));
    if (!f->kv_index_.emplace(key, f->kvs_.size()).second) {
      return c.Err(what + " appears twice");
    }
    f->kvs_.emplace_back(std::move(key), std::move(v));
  }

  f->alignment_ = kDefaultAlignment;
  if (const GgufValue* a = f->Find(kAlignmentKey)) {
    if (a->type != GgufValueType::kU32) {
      return c.Err(std::string(kAlignmentKey) + " is " + GgufValueTypeName(a->type) +
                   ", expected u32");
    }
    if (!IsPowerOfTwo(a->u)) {
      return c.Err(StringPrintf("%s is %llu, not a power of two", kAlignmentKey, (ull)a->u));
    }
    f->alignment_ = static_cast<uint32_t>(a->u);
  }

  if (tensor_count > c.remaining() / kMinTensorInfoBytes) {
    return c.Err(StringPrintf("tensor count %llu cannot fit in the %llu bytes after the "
                              "metadata; truncated or corrupt file?",
                              (ull)tensor_count, (ull)c.remaining()));
  }
  f->tensors_.reserve(std::min<size_t>(static_cast<size_t>(tensor_count), kMaxReserve));
  for (uint64_t k = 0; k < tensor_count; ++k) {
    Tensor t;
    RETURN_IF_ERROR(c.ReadString(&t.name, StringPrintf("tensor %llu name", (ull)k)));
    const std::string what = "tensor '" + t.name + "'";
    uint32_t n_dims = 0;
    RETURN_IF_ERROR(c.Read(&n_dims, what + " dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return c.Err(StringPrintf("%s has %u dimensions (expected 1 to %u)", what.c_str(), n_dims,
                                kMaxDims));
    }
    t.shape.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      RETURN_IF_ERROR(c.Read(&dim, what + " dimension"));
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return c.Err(StringPrintf("%s has dimension %u = %lld (expected a positive size)",
                                  what.c_str(), d, (long long)dim));
      }
      t.shape[n_dims - 1 - d] = static_cast<int64_t>(dim);  // file is innermost-first
    }
    uint32_t type = 0;
    RETURN_IF_ERROR(c.Read(&type, what + " type"));
    if (!GgmlTypeKnown(type)) {
      return c.Err(StringPrintf("%s has ggml type %u, which this reader does not support "
                                "(supported: %s); re-convert or re-quantize the model",
                                what.c_str(), type, SupportedGgmlTypes().c_str()));
    }
    t.type = static_cast<GgmlType>(type);
    uint64_t nbytes = 0;
    RETURN_IF_ERROR(TensorBytes(what, t.type, t.shape, &nbytes).WithContext(path));
    if (nbytes > std::numeric_limits<size_t>::max()) {
      return c.Err(what + " is too large for this machine");
    }
    t.nbytes = static_cast<size_t>(nbytes);
    RETURN_IF_ERROR(c.Read(&t.offset, what + " offset"));
    if (t.offset % f->alignment_ != 0) {
      return c.Err(StringPrintf("%s has data offset %llu, not a multiple of the alignment %u",
                                what.c_str(), (ull)t.offset, f->alignment_));
    }
    if (!f->tensor_index_.emplace(t.name, f->tensors_.size()).second) {
      return c.Err(what + " appears twice");
    }
    f->tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment (ggml pads even when there are
  // no tensors, but a tensor-less file truncated inside that padding holds nothing we need).
  f->data_offset_ = AlignUp(c.pos(), f->alignment_);
  if (!f->tensors_.empty() && f->data_offset_ > size) {
    return c.Err(StringPrintf("data section would start at offset %llu, past the end of the "
                              "%llu-byte file; truncated file?",
                              (ull)f->data_offset_, (ull)size));
  }
  const uint64_t data_size = f->tensors_.empty() ? 0 : size - f->data_offset_;
  for (Tensor& t : f->tensors_) {
    uint64_t end = 0;
    if (__builtin_add_overflow(t.offset, static_cast<uint64_t>(t.nbytes), &end) ||
        end > data_size) {
      return c.Err(StringPrintf(
          "tensor '%s' (%s %s, %zu bytes at data offset %llu) runs past the end of the data "
          "section (%llu bytes); truncated file?",
          t.name.c_str(), GgmlTypeName(t.type), t.ShapeString().c_str(), t.nbytes,
          (ull)t.offset, (ull)data_size));
    }
    t.data = f->file_.data() + f->data_offset_ + t.offset;
  }

  // Writers lay tensors out back to back; shared bytes mean corrupt offsets.
  std::vector<const Tensor*> by_offset;
  by_offset.reserve(f->tensors_.size());
  for (const Tensor& t : f->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Tensor* a, const Tensor* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const Tensor& a = *by_offset[k - 1];
    const Tensor& b = *by_offset[k];
    if (b.offset < a.offset + a.nbytes) {
      return c.Err(StringPrintf("tensors '%s' (data [%llu, %llu)) and '%s' (data [%llu, %llu)) "
                                "overlap",
                                a.name.c_str(), (ull)a.offset, (ull)(a.offset + a.nbytes),
                                b.name.c_str(), (ull)b.offset, (ull)(b.offset + b.nbytes)));
    }
  }
  return f;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

const GgufFile::Tensor* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

StatusOr<const GgufValue*> GgufFile::Need(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (!v) {
    return Status::FromString(path() + ": metadata key '" + key +
                              "' is missing (file written by an older or different converter?)");
  }
  return v;
}

Status GgufFile::TypeError(const std::string& key, const GgufValue& v, const char* want) const {
  std::string got = GgufValueTypeName(v.type);
  if (v.type == GgufValueType::kArray) got += std::string(" of ") + GgufValueTypeName(v.array_type);
  return Status::FromString(path() + ": metadata key '" + key + "' is " + got + " " +
                            v.DebugString() + ", expected " + want);
}

namespace {

// An integer value as int64 / uint64 with range checks; false when it is not an integer or out
// of [lo, hi].
bool IntInRange(const GgufValue& v, int64_t lo, uint64_t hi, int64_t* si, uint64_t* ui) {
  if (IsUnsigned(v.type) && v.type != GgufValueType::kBool) {
    if (v.u > hi) return false;
    *ui = v.u;
    *si = static_cast<int64_t>(v.u);  // only used when hi <= INT64_MAX
    return true;
  }
  if (IsSigned(v.type)) {
    if (v.i < lo) return false;
    if (v.i >= 0 && static_cast<uint64_t>(v.i) > hi) return false;
    *si = v.i;
    *ui = static_cast<uint64_t>(v.i);
    return true;
  }
  return false;
}

}  // namespace

#define FVLM_GGUF_INT_GETTER(Name, T)                                                        \
  StatusOr<T> GgufFile::Name(const std::string& key) const {                                 \
    ASSIGN_OR_RETURN(const GgufValue* v, Need(key));                                         \
    int64_t si = 0;                                                                          \
    uint64_t ui = 0;                                                                         \
    if (!IntInRange(*v, std::numeric_limits<T>::min(),                                       \
                    static_cast<uint64_t>(std::numeric_limits<T>::max()), &si, &ui)) {       \
      return TypeError(key, *v, "an integer that fits " #T);                                 \
    }                                                                                        \
    return std::numeric_limits<T>::is_signed ? static_cast<T>(si) : static_cast<T>(ui);      \
  }
FVLM_GGUF_INT_GETTER(GetU32, uint32_t)
FVLM_GGUF_INT_GETTER(GetI32, int32_t)
FVLM_GGUF_INT_GETTER(GetU64, uint64_t)
FVLM_GGUF_INT_GETTER(GetI64, int64_t)
#undef FVLM_GGUF_INT_GETTER

StatusOr<std::string> GgufFile::GetString(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (v->type != GgufValueType::kString) return TypeError(key, *v, "a string");
  return v->str;
}

StatusOr<float> GgufFile::GetF32(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (!IsFloat(v->type)) return TypeError(key, *v, "f32 or f64");
  return static_cast<float>(v->f);
}

StatusOr<double> GgufFile::GetF64(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (!IsFloat(v->type)) return TypeError(key, *v, "f32 or f64");
  return v->f;
}

StatusOr<bool> GgufFile::GetBool(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (v->type != GgufValueType::kBool) return TypeError(key, *v, "a bool");
  return v->u != 0;
}

StatusOr<std::vector<std::string>> GgufFile::GetStringArray(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (v->type != GgufValueType::kArray || v->array_type != GgufValueType::kString) {
    return TypeError(key, *v, "an array of strings");
  }
  return v->strs;
}

StatusOr<std::vector<int64_t>> GgufFile::GetI64Array(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (v->type != GgufValueType::kArray ||
      !(IsSigned(v->array_type) || IsUnsigned(v->array_type)) ||
      v->array_type == GgufValueType::kBool) {
    return TypeError(key, *v, "an array of integers");
  }
  if (IsSigned(v->array_type)) return v->is;
  std::vector<int64_t> out;
  out.reserve(v->us.size());
  for (uint64_t u : v->us) {
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TypeError(key, *v, "an array of integers that fit int64");
    }
    out.push_back(static_cast<int64_t>(u));
  }
  return out;
}

StatusOr<std::vector<float>> GgufFile::GetF32Array(const std::string& key) const {
  ASSIGN_OR_RETURN(const GgufValue* v, Need(key));
  if (v->type != GgufValueType::kArray || !IsFloat(v->array_type)) {
    return TypeError(key, *v, "an array of f32 or f64");
  }
  return std::vector<float>(v->fs.begin(), v->fs.end());
}

}  // namespace fastvlm::io
