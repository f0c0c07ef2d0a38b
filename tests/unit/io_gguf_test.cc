#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/gguf.h"
#include "util/safetensors_writer.h"
#include "util/sha256.h"

namespace fastvlm::io {
namespace {

using ::fastvlm::testing::TempDir;
using ::fastvlm::testing::WriteBinaryFile;
using json = nlohmann::json;
namespace fs = std::filesystem;

// gmock is not linked into the unit tests; this is HasSubstr with the full message on failure.
#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nexpected to contain: " << (needle)

// The value of a StatusOr that the test expects to be ok (a default value on failure).
template <typename T>
T V(StatusOr<T> s) {
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s).value() : T{};
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes `bytes` and opens them; returns the error (Ok when the open succeeded).
Status OpenBytes(const TempDir& dir, const std::string& bytes, const std::string& name = "t.gguf") {
  const std::string path = dir.Join(name);
  EXPECT_TRUE(WriteBinaryFile(path, bytes).ok());
  auto f = GgufFile::Open(path);
  return f.ok() ? Status::Ok() : f.status();
}

// Deterministic bytes for tensor data.
std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = 2463534242u + seed;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    v[i] = static_cast<uint8_t>(x);
  }
  return v;
}

using fastvlm::testing::Sha256Hex;

TEST(Sha256, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// ---------------------------------------------------------------------------------------------
// Hand-built files, independent of GgufWriter, for the corruption tests.

class Bytes {
 public:
  Bytes& U8(uint8_t v) { return Raw(&v, 1); }
  Bytes& U32(uint32_t v) { return Raw(&v, 4); }
  Bytes& U64(uint64_t v) { return Raw(&v, 8); }
  Bytes& Str(const std::string& s) {
    U64(s.size());
    s_ += s;
    return *this;
  }
  Bytes& Raw(const void* p, size_t n) {
    s_.append(static_cast<const char*>(p), n);
    return *this;
  }
  // One tensor info; dims in file (ggml) order.
  Bytes& Tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
                uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  // Pads to `align` and appends `data_bytes` zero bytes of data section.
  Bytes& Data(uint64_t align, size_t data_bytes) {
    s_.resize((s_.size() + align - 1) / align * align, '\0');
    s_.append(data_bytes, '\0');
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

Bytes Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.Raw("GGUF", 4).U32(version).U64(n_tensors).U64(n_kv);
  return b;
}

// ---------------------------------------------------------------------------------------------

TEST(GgmlType, NamesAndSizes) {
  EXPECT_STREQ(GgmlTypeName(GgmlType::kF32), "F32");
  EXPECT_STREQ(GgmlTypeName(GgmlType::kQ8_0), "Q8_0");
  EXPECT_STREQ(GgmlTypeName(GgmlType::kBF16), "BF16");
  EXPECT_TRUE(GgmlTypeKnown(30));
  EXPECT_TRUE(GgmlTypeKnown(3));
  EXPECT_FALSE(GgmlTypeKnown(6));  // Q5_0: not ours
  EXPECT_FALSE(GgmlTypeKnown(31));
  EXPECT_EQ(GgmlBlockSize(GgmlType::kQ4_0), 32);
  EXPECT_EQ(GgmlBlockBytes(GgmlType::kQ4_0), 18);
  EXPECT_EQ(GgmlBlockBytes(GgmlType::kQ4_1), 20);
  EXPECT_EQ(GgmlBlockBytes(GgmlType::kQ8_0), 34);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ8_0, 896), 28 * 34);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kF16, 7), 14);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kF32, 7), 28);
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<TensorSpec> AllTypeTensors() {
  std::vector<TensorSpec> specs = {
      {"f32.1d", GgmlType::kF32, {5}, {}},
      {"f16.2d", GgmlType::kF16, {3, 7}, {}},
      {"bf16.3d", GgmlType::kBF16, {2, 3, 5}, {}},
      {"q8_0.2d", GgmlType::kQ8_0, {3, 64}, {}},
      {"q4_0.2d", GgmlType::kQ4_0, {2, 32}, {}},
      {"q4_1.3d", GgmlType::kQ4_1, {1, 2, 96}, {}},
      {"f32.4d", GgmlType::kF32, {2, 1, 3, 1}, {}},
  };
  uint8_t seed = 1;
  for (TensorSpec& s : specs) {
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < s.shape.size(); ++i) rows *= s.shape[i];
    s.bytes = Pattern(static_cast<size_t>(rows * GgmlRowBytes(s.type, s.shape.back())), seed++);
  }
  return specs;
}

// A writer holding every metadata type and every tensor type.
void FillWriter(GgufWriter& w, const std::vector<TensorSpec>& specs) {
  w.SetString("general.architecture", "fastvlm");
  w.SetU8("t.u8", 250);
  w.SetI8("t.i8", -128);
  w.SetU16("t.u16", 65535);
  w.SetI16("t.i16", -32768);
  w.SetU32("t.u32", 4000000000u);
  w.SetI32("t.i32", -7);
  w.SetU64("t.u64", std::numeric_limits<uint64_t>::max());
  w.SetI64("t.i64", std::numeric_limits<int64_t>::min());
  w.SetF32("t.f32", 0.1f);
  w.SetF64("t.f64", 1e300);
  w.SetBool("t.bool", true);
  w.SetBool("t.bool_false", false);
  w.SetString("t.string", std::string("nul\0inside", 10));
  w.SetString("t.empty", "");
  w.SetStringArray("t.strings", {"a", "", "ü", "<|im_start|>"});
  w.SetI32Array("t.i32s", {1, -2, std::numeric_limits<int32_t>::min()});
  w.SetU32Array("t.u32s", {0, 4294967295u});
  w.SetI64Array("t.i64s", {});
  w.SetF32Array("t.f32s", {0.5f, -2.25f, 1e-8f});
  GgufValue nested;
  nested.type = GgufValueType::kArray;
  nested.array_type = GgufValueType::kArray;
  GgufValue inner;
  inner.type = GgufValueType::kArray;
  inner.array_type = GgufValueType::kU8;
  inner.us = {1, 2, 255};
  nested.arrays = {inner, inner};
  nested.arrays[1].us = {};
  w.Set("t.nested", nested);
  w.SetU32("t.replaced", 1);
  w.SetU32("t.replaced", 2);   // later value wins, position kept
  w.SetU32("general.alignment", 8);  // ignored: the writer owns it
  for (const TensorSpec& s : specs) {
    ASSERT_TRUE(w.AddTensor(s.name, s.type, s.shape, s.bytes.data(), s.bytes.size()).ok())
        << s.name;
  }
}

TEST(Gguf, RoundTripEveryTypeAndAlignment) {
  TempDir dir;
  const std::vector<TensorSpec> specs = AllTypeTensors();
  GgufWriter w;
  FillWriter(w, specs);
  const std::string path = dir.Join("m.gguf");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ASSERT_TRUE(w.Write(path, [&](uint64_t done, uint64_t total) {
                 calls.emplace_back(done, total);
               }).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().first, fs::file_size(path));
  EXPECT_EQ(calls.back().second, fs::file_size(path));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i].first, calls[i - 1].first);
  auto serialized = w.Serialize();
  ASSERT_TRUE(serialized.ok());
  EXPECT_EQ(*serialized, ReadFile(path));

  auto fo = GgufFile::Open(path);
  ASSERT_TRUE(fo.ok()) << fo.status().message();
  const GgufFile& f = **fo;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(V(f.GetU32("general.alignment")), 64u);
  EXPECT_EQ(f.metadata().front().first, "general.alignment");

  EXPECT_EQ(V(f.GetString("general.architecture")), "fastvlm");
  EXPECT_EQ(f.Find("t.u8")->type, GgufValueType::kU8);
  EXPECT_EQ(V(f.GetU32("t.u8")), 250u);
  EXPECT_EQ(f.Find("t.i8")->type, GgufValueType::kI8);
  EXPECT_EQ(V(f.GetI32("t.i8")), -128);
  EXPECT_EQ(V(f.GetU32("t.u16")), 65535u);
  EXPECT_EQ(V(f.GetI32("t.i16")), -32768);
  EXPECT_EQ(V(f.GetU32("t.u32")), 4000000000u);
  EXPECT_EQ(V(f.GetI32("t.i32")), -7);
  EXPECT_EQ(V(f.GetU64("t.u64")), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(V(f.GetI64("t.i64")), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.Find("t.f32")->type, GgufValueType::kF32);
  EXPECT_EQ(V(f.GetF32("t.f32")), 0.1f);
  EXPECT_EQ(V(f.GetF64("t.f64")), 1e300);
  EXPECT_TRUE(V(f.GetBool("t.bool")));
  EXPECT_FALSE(V(f.GetBool("t.bool_false")));
  EXPECT_EQ(V(f.GetString("t.string")), std::string("nul\0inside", 10));
  EXPECT_EQ(V(f.GetString("t.empty")), "");
  EXPECT_EQ(V(f.GetStringArray("t.strings")),
            (std::vector<std::string>{"a", "", "ü", "<|im_start|>"}));
  EXPECT_EQ(f.Find("t.i32s")->array_type, GgufValueType::kI32);
  EXPECT_EQ(V(f.GetI64Array("t.i32s")),
            (std::vector<int64_t>{1, -2, std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(V(f.GetI64Array("t.u32s")), (std::vector<int64_t>{0, 4294967295}));
  EXPECT_TRUE(f.GetI64Array("t.i64s")->empty());
  EXPECT_EQ(f.Find("t.i64s")->array_type, GgufValueType::kI64);
  EXPECT_EQ(V(f.GetF32Array("t.f32s")), (std::vector<float>{0.5f, -2.25f, 1e-8f}));
  const GgufValue* nested = f.Find("t.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->array_size(), 2u);
  EXPECT_EQ(nested->arrays[0].array_type, GgufValueType::kU8);
  EXPECT_EQ(nested->arrays[0].us, (std::vector<uint64_t>{1, 2, 255}));
  EXPECT_EQ(nested->arrays[1].array_size(), 0u);
  EXPECT_EQ(V(f.GetU32("t.replaced")), 2u);
  EXPECT_EQ(f.Find("absent"), nullptr);
  // Key order is insertion order, the replaced key keeping its first position.
  std::vector<std::string> keys;
  for (const auto& kv : f.metadata()) keys.push_back(kv.first);
  EXPECT_EQ(keys.back(), "t.replaced");
  EXPECT_EQ(keys.size(), 23u);

  ASSERT_EQ(f.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const GgufFile::Tensor& t = f.tensors()[i];
    SCOPED_TRACE(specs[i].name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.shape, specs[i].shape);
    ASSERT_EQ(t.nbytes, specs[i].bytes.size());
    EXPECT_EQ(std::memcmp(t.data, specs[i].bytes.data(), t.nbytes), 0);
    const auto rel = static_cast<const uint8_t*>(t.data) - f.file().data();
    EXPECT_EQ(rel % 64, 0);
    EXPECT_EQ(f.FindTensor(t.name), &t);
  }
  EXPECT_EQ(f.FindTensor("absent"), nullptr);
  EXPECT_EQ(f.FindTensor("bf16.3d")->ShapeString(), "[2, 3, 5]");
  EXPECT_EQ(f.FindTensor("bf16.3d")->numel(), 30);
}

TEST(Gguf, FileStoresDimsInnermostFirst) {
  GgufWriter w(32);
  std::vector<uint8_t> data(3 * 5 * 4);
  ASSERT_TRUE(w.AddTensor("w", GgmlType::kF32, {3, 5}, data.data(), data.size()).ok());
  auto s = w.Serialize();
  ASSERT_TRUE(s.ok());
  Bytes want = Header(1, 1);
  want.Str("general.alignment").U32(4).U32(32);
  want.Tensor("w", {5, 3}, 0, 0).Data(32, 3 * 5 * 4).Data(32, 0);
  EXPECT_EQ(*s, want.str());
}

TEST(Gguf, OwningAddTensorAndEmptyFile) {
  TempDir dir;
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("x", GgmlType::kF16, {4}, std::vector<uint8_t>(8, 7)).ok());
  ASSERT_TRUE(w.Write(dir.Join("a.gguf")).ok());
  auto f = GgufFile::Open(dir.Join("a.gguf"));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(static_cast<const uint8_t*>((*f)->tensors()[0].data)[7], 7);

  GgufWriter empty;
  ASSERT_TRUE(empty.Write(dir.Join("e.gguf")).ok());
  auto e = GgufFile::Open(dir.Join("e.gguf"));
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_TRUE((*e)->tensors().empty());
}

TEST(Gguf, GettersNameKeyAndFile) {
  TempDir dir;
  GgufWriter w;
  w.SetString("s", "x");
  w.SetI32("neg", -1);
  w.SetU64("big", 1ull << 40);
  w.SetF32Array("fa", {1});
  const std::string path = dir.Join("g.gguf");
  ASSERT_TRUE(w.Write(path).ok());
  auto fo = GgufFile::Open(path);
  ASSERT_TRUE(fo.ok());
  const GgufFile& f = **fo;
  auto missing = f.GetString("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.status().message(), path);
  EXPECT_HAS(missing.status().message(), "'nope' is missing");
  auto wrong = f.GetU32("s");
  ASSERT_FALSE(wrong.ok());
  EXPECT_HAS(wrong.status().message(), "'s' is string \"x\", expected an integer");
  EXPECT_FALSE(f.GetU32("neg").ok());  // negative into unsigned
  EXPECT_FALSE(f.GetU64("neg").ok());
  EXPECT_EQ(V(f.GetI64("neg")), -1);
  EXPECT_FALSE(f.GetU32("big").ok());  // does not fit
  EXPECT_FALSE(f.GetI32("big").ok());
  EXPECT_EQ(V(f.GetI64("big")), 1ll << 40);
  EXPECT_FALSE(f.GetF32("neg").ok());
  EXPECT_FALSE(f.GetBool("neg").ok());
  EXPECT_FALSE(f.GetStringArray("fa").ok());
  EXPECT_HAS(f.GetI64Array("fa").status().message(), "array of f32");
  EXPECT_FALSE(f.GetF32Array("s").ok());
}

// ---------------------------------------------------------------------------------------------
// Writer errors

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter w;
  std::vector<uint8_t> b(4096);
  EXPECT_HAS(w.AddTensor("", GgmlType::kF32, {1}, b.data(), 4).message(), "name is empty");
  ASSERT_TRUE(w.AddTensor("a", GgmlType::kF32, {1}, b.data(), 4).ok());
  EXPECT_HAS(w.AddTensor("a", GgmlType::kF32, {1}, b.data(), 4).message(), "added twice");
  EXPECT_HAS(w.AddTensor("b", GgmlType::kF32, {2}, b.data(), 4).message(),
             "4 bytes given but F32 [2] needs 8");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {}, b.data(), 4).message(), "0 dimensions");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {1, 1, 1, 1, 1}, b.data(), 4).message(),
             "5 dimensions");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {2, 0}, b.data(), 0).message(), "non-positive");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {-1}, b.data(), 4).message(), "non-positive");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kQ8_0, {32, 31}, b.data(), 34).message(),
             "row length 31");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {1ll << 40, 1ll << 40}, b.data(), 4).message(),
             "overflows");
  EXPECT_HAS(w.AddTensor("c", static_cast<GgmlType>(6), {32}, b.data(), 4).message(),
             "unsupported ggml type 6");
  EXPECT_HAS(w.AddTensor("c", GgmlType::kF32, {1}, nullptr, 4).message(), "no data");
  EXPECT_EQ(w.num_tensors(), 1u);
}

TEST(GgufWriter, RejectsValuesThatDisagreeWithTheirTags) {
  GgufWriter w;
  GgufValue v = GgufValue::Scalar(GgufValueType::kU8, 300, 0, 0);
  w.Set("k", v);
  EXPECT_HAS(w.Serialize().status().message(), "300 does not fit u8");
  GgufValue a;
  a.type = GgufValueType::kArray;
  a.array_type = GgufValueType::kString;
  a.us = {1};
  w.Set("k", a);
  EXPECT_HAS(w.Serialize().status().message(), "vector of another type");
}

TEST(GgufWriter, FailureLeavesNoTmpAndKeepsExistingFile) {
  TempDir dir;
  const std::string path = dir.Join("keep.gguf");
  ASSERT_TRUE(WriteBinaryFile(path, "old contents").ok());
  GgufWriter bad(48);  // not a power of two
  Status s = bad.Write(path);
  EXPECT_HAS(s.message(), "alignment 48 is not a power of two");
  EXPECT_EQ(ReadFile(path), "old contents");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // The rename fails (the target is a non-empty directory): the .tmp must be cleaned up.
  const std::string dir_target = dir.Join("adir");
  fs::create_directory(dir_target);
  ASSERT_TRUE(WriteBinaryFile(dir_target + "/inside", "x").ok());
  GgufWriter ok;
  s = ok.Write(dir_target);
  EXPECT_HAS(s.message(), "cannot rename");
  EXPECT_FALSE(fs::exists(dir_target + ".tmp"));
  EXPECT_TRUE(fs::is_directory(dir_target));

  // The .tmp cannot be created.
  s = ok.Write(dir.Join("no/such/dir/x.gguf"));
  EXPECT_HAS(s.message(), "cannot create");

  // A successful write replaces the old file.
  ASSERT_TRUE(ok.Write(path).ok());
  EXPECT_TRUE(GgufFile::Open(path).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// ---------------------------------------------------------------------------------------------
// Reader errors

TEST(GgufFile, EveryTruncationIsAnError) {
  TempDir dir;
  const std::vector<TensorSpec> specs = AllTypeTensors();
  GgufWriter w;
  FillWriter(w, specs);
  auto full = w.Serialize();
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(OpenBytes(dir, *full).ok());
  // The writer pads after the last tensor; cutting only that padding leaves a valid file.
  size_t needed = 0;
  {
    ASSERT_TRUE(WriteBinaryFile(dir.Join("full.gguf"), *full).ok());
    auto f = GgufFile::Open(dir.Join("full.gguf"));
    ASSERT_TRUE(f.ok());
    for (const auto& t : (*f)->tensors()) {
      needed = std::max<size_t>(needed, (*f)->data_offset() + t.offset + t.nbytes);
    }
  }
  for (size_t len = 0; len < full->size(); ++len) {
    const Status s = OpenBytes(dir, full->substr(0, len));
    if (len < needed) {
      EXPECT_FALSE(s.ok()) << "truncated to " << len << " of " << full->size();
    } else {
      EXPECT_TRUE(s.ok()) << len << ": " << s.message();
    }
  }
  EXPECT_HAS(OpenBytes(dir, full->substr(0, 20)).message(), "truncated");
  EXPECT_HAS(OpenBytes(dir, full->substr(0, needed - 1)).message(), "runs past the end");
}

TEST(GgufFile, SingleByteCorruptionsNeverCrash) {
  // Not every flipped byte is detectable (it may sit in tensor data), but none may crash or trip
  // the sanitizers.
  TempDir dir;
  const std::vector<TensorSpec> specs = AllTypeTensors();
  GgufWriter w;
  FillWriter(w, specs);
  auto full = w.Serialize();
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(WriteBinaryFile(dir.Join("f.gguf"), *full).ok());
  auto f = GgufFile::Open(dir.Join("f.gguf"));
  ASSERT_TRUE(f.ok());
  const size_t header = (*f)->data_offset();
  int errors = 0;
  for (size_t i = 0; i < header; ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::string b = *full;
      b[i] = static_cast<char>(b[i] ^ x);
      errors += OpenBytes(dir, b).ok() ? 0 : 1;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(GgufFile, RandomMultiByteCorruptionsNeverCrash) {
  // Overwrites 1-4 header bytes with random values (often producing huge counts and lengths),
  // sometimes also truncating; the sanitizer build is the real check.
  TempDir dir;
  const std::vector<TensorSpec> specs = AllTypeTensors();
  GgufWriter w;
  FillWriter(w, specs);
  auto full = w.Serialize();
  ASSERT_TRUE(full.ok());
  uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  ASSERT_TRUE(WriteBinaryFile(dir.Join("f.gguf"), *full).ok());
  auto f = GgufFile::Open(dir.Join("f.gguf"));
  ASSERT_TRUE(f.ok());
  const size_t header = (*f)->data_offset();
  for (int iter = 0; iter < 1500; ++iter) {
    std::string b = *full;
    const int n = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < n; ++k) b[next() % header] = static_cast<char>(next());
    if (next() % 4 == 0) b.resize(next() % b.size());
    (void)OpenBytes(dir, b);
  }
}

TEST(GgufFile, BadMagicAndVersion) {
  TempDir dir;
  Bytes ok = Header(0, 0);
  ASSERT_TRUE(OpenBytes(dir, ok.str()).ok());
  std::string b = ok.str();
  b[0] = 'X';
  EXPECT_HAS(OpenBytes(dir, b).message(), "not a GGUF file (first bytes are \"XGUF\"");
  EXPECT_HAS(OpenBytes(dir, "\x89PNG").message(), "not a GGUF file (first bytes are \"\\x89PNG\"");
  EXPECT_HAS(OpenBytes(dir, "GG").message(), "not a GGUF file");
  EXPECT_HAS(OpenBytes(dir, "").message(), "empty");
  EXPECT_HAS(OpenBytes(dir, Header(0, 0, 1).str()).message(), "unsupported GGUF version 1");
  EXPECT_HAS(OpenBytes(dir, Header(0, 0, 4).str()).message(), "unsupported GGUF version 4");
  EXPECT_HAS(OpenBytes(dir, Header(0, 0, 0x03000000).str()).message(), "big-endian");
  EXPECT_TRUE(OpenBytes(dir, Header(0, 0, 2).str()).ok());  // v2 has the same layout
  const std::string path = dir.Join("t.gguf");
  EXPECT_HAS(OpenBytes(dir, b).message(), path + ": ");
}

TEST(GgufFile, CountsThatCannotFit) {
  TempDir dir;
  EXPECT_HAS(OpenBytes(dir, Header(1ull << 60, 0).str()).message(),
             "tensor count 1152921504606846976 cannot fit");
  EXPECT_HAS(OpenBytes(dir, Header(0, ~0ull).str()).message(), "metadata count");
  EXPECT_HAS(OpenBytes(dir, Header(1, 0).str()).message(), "tensor count 1 cannot fit");
}

TEST(GgufFile, MalformedMetadata) {
  TempDir dir;
  auto one_kv = [](const std::string& key, uint32_t type) {
    Bytes b = Header(0, 1);
    b.Str(key).U32(type);
    return b;
  };
  // String length past the end.
  {
    Bytes b = one_kv("k", 8);
    b.U64(1000).Raw("abc", 3);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "metadata key 'k' at offset");
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "has length 1000, past the end");
  }
  // Key length past the end.
  {
    Bytes b = Header(0, 1);
    b.U64(~0ull).U32(0).U8(0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "metadata entry 0 key");
  }
  // Unknown value type.
  {
    Bytes b = one_kv("k", 13);
    b.U64(0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "metadata key 'k' has unknown value type 13");
  }
  // Array: unknown element type, count past the end, nesting too deep.
  {
    Bytes b = one_kv("arr", 9);
    b.U32(77).U64(0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "unknown array element type 77");
  }
  {
    Bytes b = one_kv("arr", 9);
    b.U32(4).U64(1ull << 62).U32(1);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "array of 4611686018427387904 u32 elements");
  }
  {
    Bytes b = one_kv("arr", 9);
    b.U32(8).U64(2).Str("a").U64(100).Raw("xy", 2);  // second string runs past the end
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "'arr' element at offset 60 has length 100");
  }
  {
    Bytes b = one_kv("deep", 9);
    for (int i = 0; i < 20; ++i) b.U32(9).U64(1);
    b.U32(0).U64(0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "nested more than 8 deep");
  }
  {
    Bytes b = one_kv("deep_ok", 9);
    for (int i = 0; i < 3; ++i) b.U32(9).U64(1);
    b.U32(0).U64(2).U8(1).U8(2);
    EXPECT_TRUE(OpenBytes(dir, b.str()).ok());
  }
  // Bool that is neither 0 nor 1.
  {
    Bytes b = one_kv("flag", 7);
    b.U8(2);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "bool with byte value 2");
  }
  // Scalar cut short.
  {
    Bytes b = one_kv("k", 10);
    b.U32(0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "metadata key 'k' at offset");
  }
  // Duplicate key.
  {
    Bytes b = Header(0, 2);
    b.Str("k").U32(4).U32(1).Str("k").U32(4).U32(2);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "metadata key 'k' appears twice");
  }
}

TEST(GgufFile, BadAlignment) {
  TempDir dir;
  for (uint32_t a : {0u, 48u, 3u}) {
    Bytes b = Header(0, 1);
    b.Str("general.alignment").U32(4).U32(a);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "not a power of two");
  }
  Bytes b = Header(0, 1);
  b.Str("general.alignment").U32(10).U64(64);
  EXPECT_HAS(OpenBytes(dir, b.str()).message(), "general.alignment is u64, expected u32");
  // Absent: 32 by default.
  Bytes d = Header(1, 0);
  d.Tensor("t", {8}, 0, 0).Data(32, 32);
  auto path = dir.Join("d.gguf");
  ASSERT_TRUE(WriteBinaryFile(path, d.str()).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->alignment(), 32u);
  EXPECT_EQ((*f)->data_offset() % 32, 0u);
}

// One tensor, 64-byte alignment, with `data_bytes` of data.
std::string OneTensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
                      uint64_t offset, size_t data_bytes) {
  Bytes b = Header(1, 1);
  b.Str("general.alignment").U32(4).U32(64);
  b.Tensor(name, dims, type, offset).Data(64, data_bytes);
  return b.str();
}

TEST(GgufFile, MalformedTensorInfos) {
  TempDir dir;
  EXPECT_TRUE(OpenBytes(dir, OneTensor("w", {4, 2}, 0, 0, 32)).ok());
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {}, 0, 0, 32)).message(),
             "tensor 'w' has 0 dimensions (expected 1 to 4)");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {1, 1, 1, 1, 1}, 0, 0, 32)).message(),
             "tensor 'w' has 5 dimensions");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {4, 0}, 0, 0, 32)).message(),
             "tensor 'w' has dimension 1 = 0");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {~0ull}, 0, 0, 32)).message(),
             "expected a positive size");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {1ull << 32, 1ull << 32}, 0, 0, 32)).message(),
             "overflows the element count");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {1ull << 62}, 0, 0, 32)).message(),
             "overflows the byte count");
  const std::string unknown = OpenBytes(dir, OneTensor("blk.0.w", {32}, 6, 0, 32)).message();
  EXPECT_HAS(unknown, "tensor 'blk.0.w' has ggml type 6");
  EXPECT_HAS(unknown, "Q8_0=8");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {32}, 99, 0, 32)).message(), "ggml type 99");
  EXPECT_HAS(OpenBytes(dir, OneTensor("q", {31, 2}, 8, 0, 128)).message(),
             "row length 31 (shape [2, 31]) is not a multiple of the Q8_0 block size 32");
  EXPECT_HAS(OpenBytes(dir, OneTensor("q", {48}, 2, 0, 128)).message(), "Q4_0 block size 32");
  EXPECT_TRUE(OpenBytes(dir, OneTensor("q", {64, 2}, 8, 0, 4 * 34)).ok());
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {8}, 0, 32, 128)).message(),
             "tensor 'w' has data offset 32, not a multiple of the alignment 64");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {8}, 0, 0, 31)).message(),
             "tensor 'w' (F32 [8], 32 bytes at data offset 0) runs past the end of the data "
             "section (31 bytes); truncated file?");
  EXPECT_HAS(OpenBytes(dir, OneTensor("w", {8}, 0, ~0ull - 63, 64)).message(),
             "runs past the end");
  // Name running past the end.
  {
    Bytes b = Header(1, 0);
    b.U64(1ull << 40).Raw("abc", 3).Data(32, 64);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "tensor 0 name");
  }
  // Tensor infos fine but the data section padding itself is cut off.
  {
    Bytes b = Header(1, 0);
    b.Tensor("w", {1}, 0, 0);
    EXPECT_HAS(OpenBytes(dir, b.str()).message(), "data section would start at offset 64");
  }
}

TEST(GgufFile, OverlapsAndDuplicates) {
  TempDir dir;
  auto two = [](const std::string& n1, uint64_t off1, const std::string& n2, uint64_t off2) {
    Bytes b = Header(2, 0);
    b.Tensor(n1, {16}, 0, off1).Tensor(n2, {8}, 0, off2).Data(32, 128);
    return b.str();
  };
  EXPECT_TRUE(OpenBytes(dir, two("a", 0, "b", 64)).ok());
  EXPECT_HAS(OpenBytes(dir, two("a", 0, "b", 32)).message(),
             "tensors 'a' (data [0, 64)) and 'b' (data [32, 64)) overlap");
  EXPECT_HAS(OpenBytes(dir, two("a", 64, "b", 64)).message(), "overlap");
  EXPECT_HAS(OpenBytes(dir, two("a", 0, "a", 64)).message(), "tensor 'a' appears twice");
}

// ---------------------------------------------------------------------------------------------
// Compatibility: a file written by the Python `gguf` package (make_gguf_fixture.py).

TEST(GgufFile, ReadsReferenceFixture) {
  const std::string dir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/gguf/";
  const json want = json::parse(ReadFile(dir + "reference.json"));
  auto fo = GgufFile::Open(dir + "reference.gguf");
  ASSERT_TRUE(fo.ok()) << fo.status().message();
  const GgufFile& f = **fo;
  EXPECT_EQ(f.file().size(), want["file_size"].get<uint64_t>());
  EXPECT_EQ(f.alignment(), want["alignment"].get<uint32_t>());
  EXPECT_EQ(f.Find("general.alignment"), nullptr);

  const std::map<std::string, GgufValueType> types = {
      {"uint8", GgufValueType::kU8},     {"int8", GgufValueType::kI8},
      {"uint16", GgufValueType::kU16},   {"int16", GgufValueType::kI16},
      {"uint32", GgufValueType::kU32},   {"int32", GgufValueType::kI32},
      {"float32", GgufValueType::kF32},  {"bool", GgufValueType::kBool},
      {"string", GgufValueType::kString}, {"array", GgufValueType::kArray},
      {"uint64", GgufValueType::kU64},   {"int64", GgufValueType::kI64},
      {"float64", GgufValueType::kF64}};
  ASSERT_EQ(f.metadata().size(), want["metadata"].size());
  size_t i = 0;
  for (const json& kv : want["metadata"]) {
    const std::string key = kv["key"];
    SCOPED_TRACE(key);
    EXPECT_EQ(f.metadata()[i++].first, key);  // file order
    const GgufValue* v = f.Find(key);
    ASSERT_NE(v, nullptr);
    ASSERT_EQ(v->type, types.at(kv["type"].get<std::string>()));
    const json& val = kv["value"];
    switch (v->type) {
      case GgufValueType::kString:
        EXPECT_EQ(v->str, val.get<std::string>());
        break;
      case GgufValueType::kBool:
        EXPECT_EQ(v->u != 0, val.get<bool>());
        break;
      case GgufValueType::kF32:
      case GgufValueType::kF64:
        EXPECT_EQ(v->f, val.get<double>());
        break;
      case GgufValueType::kU64:
        EXPECT_EQ(std::to_string(v->u), val.get<std::string>());
        break;
      case GgufValueType::kArray: {
        const GgufValueType et = types.at(kv["element_type"].get<std::string>());
        ASSERT_EQ(v->array_type, et);
        ASSERT_EQ(v->array_size(), val.size());
        if (et == GgufValueType::kString) {
          EXPECT_EQ(v->strs, val.get<std::vector<std::string>>());
        } else if (et == GgufValueType::kF32) {
          EXPECT_EQ(v->fs, val.get<std::vector<double>>());
        } else {
          EXPECT_EQ(V(f.GetI64Array(key)), val.get<std::vector<int64_t>>());
        }
        break;
      }
      default:
        if (v->type == GgufValueType::kU8 || v->type == GgufValueType::kU16 ||
            v->type == GgufValueType::kU32) {
          EXPECT_EQ(v->u, val.get<uint64_t>());
        } else {
          EXPECT_EQ(v->i, val.get<int64_t>());
        }
    }
  }

  ASSERT_EQ(f.tensors().size(), want["tensors"].size());
  i = 0;
  for (const json& wt : want["tensors"]) {
    const GgufFile::Tensor& t = f.tensors()[i++];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, wt["name"].get<std::string>());
    EXPECT_STREQ(GgmlTypeName(t.type), wt["type"].get<std::string>().c_str());
    EXPECT_EQ(static_cast<uint32_t>(t.type), wt["type_id"].get<uint32_t>());
    EXPECT_EQ(t.shape, wt["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.nbytes, wt["nbytes"].get<size_t>());
    EXPECT_EQ(t.offset, wt["offset"].get<uint64_t>());
    EXPECT_EQ(Sha256Hex(t.data, t.nbytes), wt["sha256"].get<std::string>());
    EXPECT_EQ((static_cast<const uint8_t*>(t.data) - f.file().data()) % 32, 0);
  }
}

}  // namespace
}  // namespace fastvlm::io
