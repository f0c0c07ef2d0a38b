#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "base/float16.h"
#include "io/safetensors.h"
#include "util/safetensors_writer.h"

namespace fastvlm::io {
namespace {

using ::fastvlm::testing::SafetensorsWriter;
using ::fastvlm::testing::TempDir;
using ::fastvlm::testing::TinyQwen2ConfigJson;
using ::fastvlm::testing::WriteBinaryFile;
using ::fastvlm::testing::WriteCheckpoint;
using ::fastvlm::testing::WriteShardedCheckpoint;
using ::fastvlm::testing::WriteTextFile;
using json = nlohmann::json;

// gmock is not linked into the unit tests; this is HasSubstr with the full message on failure.
#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nexpected to contain: " << (needle)

std::string LE64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// A file with the given header text (not padded) followed by `data`.
std::string RawFile(const std::string& header, const std::string& data = "") {
  return LE64(header.size()) + header + data;
}

// Writes `bytes` to dir/name and opens it; the test expects failure.
Status OpenBytes(const TempDir& dir, const std::string& bytes,
                 const std::string& name = "t.safetensors") {
  const std::string path = dir.Join(name);
  EXPECT_TRUE(WriteBinaryFile(path, bytes).ok());
  auto f = SafetensorsFile::Open(path);
  if (f.ok()) return Status::Ok();
  return f.status();
}

std::vector<float> Iota(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i) - n / 2.0f) * scale;
  return v;
}

// ---------------------------------------------------------------------------------------------

TEST(DType, NamesSizesAndParsing) {
  const std::pair<DType, size_t> all[] = {
      {DType::kF32, 4}, {DType::kF16, 2}, {DType::kBF16, 2}, {DType::kF64, 8}, {DType::kI64, 8},
      {DType::kI32, 4}, {DType::kI16, 2}, {DType::kI8, 1},   {DType::kU8, 1},  {DType::kBool, 1}};
  for (auto [t, size] : all) {
    EXPECT_EQ(DTypeSize(t), size) << DTypeName(t);
    DType parsed;
    ASSERT_TRUE(ParseDType(DTypeName(t), &parsed)) << DTypeName(t);
    EXPECT_EQ(parsed, t);
  }
  EXPECT_STREQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_STREQ(DTypeName(DType::kBool), "BOOL");
  DType d;
  EXPECT_FALSE(ParseDType("F8_E4M3", &d));
  EXPECT_FALSE(ParseDType("bf16", &d));  // the format spells dtypes in upper case
  EXPECT_FALSE(ParseDType("", &d));
  EXPECT_EQ(SupportedDTypeList(), "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL");
}

TEST(SafetensorsFile, RoundTripFloatDTypes) {
  TempDir dir;
  SafetensorsWriter w;
  // Values exactly representable in each dtype, plus specials, so equality is exact.
  std::vector<float> f32 = Iota(12, 0.37f);
  f32[0] = -0.0f;
  f32[1] = std::numeric_limits<float>::infinity();
  f32[2] = 1e-40f;  // f32 subnormal
  std::vector<float> bf16 = Iota(6, 0.25f);
  bf16[5] = -3.0e38f;
  std::vector<float> f16 = {0.5f, -2.0f, 65504.0f, 5.9604645e-08f /* smallest f16 subnormal */};
  w.AddF32("a.f32", {3, 4}, f32);
  w.AddBF16("a0.odd", {3}, {1, 2, 3});  // 6 bytes: would misalign the f32 added after it
  w.AddBF16("b.bf16", {2, 3}, bf16);
  w.AddF16("c.f16", {4}, f16);
  w.AddF32("d.scalar", {}, {42.5f});
  w.SetMetadata("format", "pt");
  const std::string path = dir.Join("m.safetensors");
  ASSERT_TRUE(w.Write(path).ok());

  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const SafetensorsFile& file = **f;
  EXPECT_EQ(file.path(), path);
  ASSERT_EQ(file.tensors().size(), 5u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  // Sorted by name.
  EXPECT_EQ(file.tensors()[0].name, "a.f32");
  EXPECT_EQ(file.tensors()[4].name, "d.scalar");

  const TensorView* a = file.Find("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(a->ShapeString(), "[3, 4]");
  EXPECT_EQ(a->numel(), 12);
  EXPECT_EQ(a->nbytes, 48u);
  EXPECT_EQ(a->file, path);
  auto av = ToF32Vector(*a);
  ASSERT_TRUE(av.ok());
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(std::memcmp(&av.value()[i], &f32[i], 4), 0) << i;  // bit-exact, -0 included
  }

  const TensorView* b = file.Find("b.bf16");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kBF16);
  EXPECT_EQ(b->nbytes, 12u);
  auto bv = ToF32Vector(*b);
  ASSERT_TRUE(bv.ok());
  for (size_t i = 0; i < bf16.size(); ++i) {
    EXPECT_EQ(bv.value()[i], BF16ToF32(F32ToBF16(bf16[i]))) << i;
  }
  EXPECT_EQ(bv.value()[0], bf16[0]);  // -0.75: exact in bf16

  const TensorView* c = file.Find("c.f16");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, DType::kF16);
  auto cv = ToF32Vector(*c);
  ASSERT_TRUE(cv.ok());
  EXPECT_EQ(cv.value(), f16);  // all exactly representable

  const TensorView* d = file.Find("d.scalar");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->shape.empty());
  EXPECT_EQ(d->numel(), 1);
  EXPECT_EQ(d->ShapeString(), "[]");
  EXPECT_EQ(ToF32Vector(*d).value(), std::vector<float>{42.5f});

  EXPECT_EQ(file.Find("nope"), nullptr);
  EXPECT_EQ(file.Find(""), nullptr);

  // The writer lays tensors out as Python's does: each aligned to its element size, whatever the
  // order they were added in ("a0.odd" came before the f32 "d.scalar").
  for (const TensorView& t : file.tensors()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % DTypeSize(t.dtype), 0u) << t.name;
  }
}

TEST(SafetensorsFile, RoundTripIntegerDTypes) {
  TempDir dir;
  SafetensorsWriter w;
  auto bytes_of = [](const auto& values) {
    std::vector<uint8_t> b(values.size() * sizeof(values[0]));
    std::memcpy(b.data(), values.data(), b.size());
    return b;
  };
  const std::vector<double> f64 = {1.0 / 3.0, -1e300};
  const std::vector<int64_t> i64 = {-1, int64_t{1} << 40, 123456789012};
  const std::vector<int32_t> i32 = {-7, 2147483647};
  const std::vector<int16_t> i16 = {-32768, 5};
  const std::vector<int8_t> i8 = {-128, 127, 0};
  const std::vector<uint8_t> u8 = {0, 255};
  const std::vector<uint8_t> bools = {1, 0, 1};
  w.AddRaw("f64", "F64", {2}, bytes_of(f64));
  w.AddI64("i64", {3}, i64);
  w.AddRaw("i32", "I32", {2}, bytes_of(i32));
  w.AddRaw("i16", "I16", {2}, bytes_of(i16));
  w.AddRaw("i8", "I8", {3}, bytes_of(i8));
  w.AddRaw("u8", "U8", {1, 2}, bytes_of(u8));
  w.AddRaw("bool", "BOOL", {3}, bytes_of(bools));
  const std::string path = dir.Join("ints.safetensors");
  ASSERT_TRUE(w.Write(path).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const SafetensorsFile& file = **f;

  EXPECT_EQ(file.Find("f64")->dtype, DType::kF64);
  EXPECT_EQ(ToF32Vector(*file.Find("f64")).value(),
            (std::vector<float>{static_cast<float>(1.0 / 3.0), -INFINITY}));
  EXPECT_EQ(ToI64Vector(*file.Find("i64")).value(), i64);
  EXPECT_EQ(ToI64Vector(*file.Find("i32")).value(), (std::vector<int64_t>{-7, 2147483647}));
  EXPECT_EQ(ToI64Vector(*file.Find("i16")).value(), (std::vector<int64_t>{-32768, 5}));
  EXPECT_EQ(ToI64Vector(*file.Find("i8")).value(), (std::vector<int64_t>{-128, 127, 0}));
  EXPECT_EQ(ToI64Vector(*file.Find("u8")).value(), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(ToI64Vector(*file.Find("bool")).value(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(ToF32Vector(*file.Find("i8")).value(), (std::vector<float>{-128, 127, 0}));
  EXPECT_EQ(ToF32Vector(*file.Find("bool")).value(), (std::vector<float>{1, 0, 1}));
  EXPECT_EQ(file.Find("bool")->dtype, DType::kBool);

  auto not_int = ToI64Vector(*file.Find("f64"));
  ASSERT_FALSE(not_int.ok());
  EXPECT_HAS(not_int.status().message(), "'f64'");
  EXPECT_HAS(not_int.status().message(), path);
}

TEST(SafetensorsFile, UnpaddedHeaderGivesUnalignedDataThatStillReads) {
  // Headers need not be padded; f32 data may then start at an odd address. Readers must not
  // load it through a float* (UBSan flags that).
  TempDir dir;
  const std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  ASSERT_NE(header.size() % 4, 0u);
  const std::vector<float> v = {1.5f, -2.25f, 3.0f};
  std::string data(12, '\0');
  std::memcpy(data.data(), v.data(), 12);
  const std::string path = dir.Join("u.safetensors");
  ASSERT_TRUE(WriteBinaryFile(path, RawFile(header, data)).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(ToF32Vector((*f)->tensors()[0]).value(), v);
}

TEST(SafetensorsFile, CopyToF32ChecksDestinationLength) {
  TempDir dir;
  SafetensorsWriter w;
  w.AddF32("w", {2, 2}, {1, 2, 3, 4});
  ASSERT_TRUE(w.Write(dir.Join("w.safetensors")).ok());
  auto f = SafetensorsFile::Open(dir.Join("w.safetensors"));
  ASSERT_TRUE(f.ok());
  float buf[5] = {};
  Status s = CopyToF32((*f)->tensors()[0], buf, 5);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "'w'");
  EXPECT_TRUE(CopyToF32((*f)->tensors()[0], buf, 4).ok());
  EXPECT_EQ(buf[3], 4.0f);
}

TEST(SafetensorsFile, EmptyHeaderAndZeroSizeTensors) {
  TempDir dir;
  EXPECT_TRUE(OpenBytes(dir, RawFile("{}")).ok());
  SafetensorsWriter w;
  w.AddF32("empty", {0, 3}, {});
  w.AddF32("one", {1}, {7.0f});
  w.AddF32("empty2", {4, 0}, {});
  ASSERT_TRUE(w.Write(dir.Join("z.safetensors")).ok());
  auto f = SafetensorsFile::Open(dir.Join("z.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->Find("empty")->numel(), 0);
  EXPECT_EQ((*f)->Find("empty")->nbytes, 0u);
  EXPECT_TRUE(ToF32Vector(*(*f)->Find("empty2")).value().empty());
  EXPECT_EQ(ToF32Vector(*(*f)->Find("one")).value(), std::vector<float>{7.0f});
}

// A file written by the Python `safetensors` package (tools/reference/make_config_fixtures.py).
TEST(SafetensorsFile, ReadsFileWrittenByPythonSafetensors) {
  const std::string dir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/io/";
  std::ifstream in(dir + "mixed_expected.json");
  ASSERT_TRUE(in) << "missing fixture; run tools/reference/make_config_fixtures.py";
  const json expected = json::parse(in);
  auto f = SafetensorsFile::Open(dir + "mixed.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  const SafetensorsFile& file = **f;
  EXPECT_EQ(file.metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file.tensors().size(), expected["tensors"].size());
  for (const auto& [name, e] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const TensorView* t = file.Find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_STREQ(DTypeName(t->dtype), e["dtype"].get<std::string>().c_str());
    EXPECT_EQ(t->shape, e["shape"].get<std::vector<int64_t>>());
    if (t->dtype == DType::kI64) {
      EXPECT_EQ(ToI64Vector(*t).value(), e["values"].get<std::vector<int64_t>>());
    } else {
      const auto want = e["values"].get<std::vector<double>>();
      auto got = ToF32Vector(*t);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(got.value().size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(static_cast<double>(got.value()[i]), want[i]) << "index " << i;
      }
    }
  }
  // The BatchNorm counter is an I64 scalar (spec §7.1).
  const TensorView* nbt = file.Find(
      "model.vision_tower.vision_tower.model.network.0.0.convffn.conv.bn.num_batches_tracked");
  ASSERT_NE(nbt, nullptr);
  EXPECT_TRUE(nbt->shape.empty());
  EXPECT_EQ(ToI64Vector(*nbt).value(), std::vector<int64_t>{123456789012});
}

// ---------------------------------------------------------------------------------------------
// MappedFile

TEST(MappedFile, MapsContentsAndMoves) {
  TempDir dir;
  ASSERT_TRUE(WriteTextFile(dir.Join("f"), "hello").ok());
  auto m = MappedFile::Open(dir.Join("f"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  MappedFile a = std::move(m.value());
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(std::memcmp(a.data(), "hello", 5), 0);
  MappedFile b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.path(), dir.Join("f"));
  MappedFile c;
  c = std::move(b);
  EXPECT_EQ(std::memcmp(c.data(), "hello", 5), 0);
  // Assigning over a live mapping releases the old one (ASan/LSan would not see a leaked mmap,
  // but a double munmap would crash here).
  ASSERT_TRUE(WriteTextFile(dir.Join("g"), "xy").ok());
  c = std::move(MappedFile::Open(dir.Join("g")).value());
  EXPECT_EQ(c.size(), 2u);
}

TEST(MappedFile, Errors) {
  TempDir dir;
  auto missing = MappedFile::Open(dir.Join("nope.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.status().message(), dir.Join("nope.safetensors"));
  EXPECT_HAS(missing.status().message(), "No such file");

  auto is_dir = MappedFile::Open(dir.path());
  ASSERT_FALSE(is_dir.ok());
  EXPECT_HAS(is_dir.status().message(), "is a directory");

  ASSERT_TRUE(WriteTextFile(dir.Join("empty"), "").ok());
  auto empty = MappedFile::Open(dir.Join("empty"));
  ASSERT_FALSE(empty.ok());
  EXPECT_HAS(empty.status().message(), "is empty");
  EXPECT_HAS(empty.status().message(), dir.Join("empty"));
}

TEST(MappedFile, PermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can read any file";
  TempDir dir;
  ASSERT_TRUE(WriteTextFile(dir.Join("secret"), "x").ok());
  std::filesystem::permissions(dir.Join("secret"), std::filesystem::perms::none);
  auto m = MappedFile::Open(dir.Join("secret"));
  ASSERT_FALSE(m.ok());
  EXPECT_HAS(m.status().message(), "Permission denied");
  EXPECT_HAS(m.status().message(), dir.Join("secret"));
}

// ---------------------------------------------------------------------------------------------
// Bad safetensors files: each is a Status that names the file (and the tensor where there is one).

struct BadCase {
  const char* what;
  std::string bytes;
  std::vector<std::string> expect_in_message;
};

TEST(SafetensorsFile, RejectsBadFilesWithClearErrors) {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  std::vector<BadCase> cases = {
      {"too small", "abc", {"too small"}},
      {"header length past end", LE64(100) + "{}", {"header length 100", "truncated"}},
      {"absurd header length", LE64(uint64_t{1} << 60) + "{}", {"100 MB"}},
      {"not JSON", RawFile("{\"w\": nonsense}"), {"not valid JSON", "line 1"}},
      {"JSON array", RawFile("[1,2]"), {"expected an object"}},
      {"entry not object", RawFile(R"({"w": 5})"), {"'w'", "not a JSON object"}},
      {"missing dtype",
       RawFile(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", eight),
       {"'w'", "missing 'dtype'"}},
      {"dtype not string",
       RawFile(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight),
       {"'w'", "'dtype'"}},
      {"missing shape",
       RawFile(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", eight),
       {"'w'", "missing 'shape'"}},
      {"shape not array",
       RawFile(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight),
       {"'w'", "'shape'"}},
      {"negative dim",
       RawFile(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
       {"'w'", "-2", "non-negative"}},
      {"float dim",
       RawFile(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight),
       {"'w'", "2.5"}},
      {"missing offsets",
       RawFile(R"({"w":{"dtype":"F32","shape":[2]}})", eight),
       {"'w'", "missing 'data_offsets'"}},
      {"offsets wrong length",
       RawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight),
       {"'w'", "'data_offsets'"}},
      {"negative offset",
       RawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", eight),
       {"'w'", "'data_offsets'"}},
      {"end < begin",
       RawFile(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight),
       {"'w'", "end 0 < begin 8"}},
      {"size mismatch",
       RawFile(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
       {"'w'", "hold 8 bytes", "F32 [3] needs 12"}},
      {"offsets past data",
       RawFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight),
       {"'w'", "truncated"}},
      {"huge offsets",
       RawFile(
           R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}})"),
       {"'w'", "too large"}},
      {"numel overflow",
       RawFile(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})",
               eight),
       {"'w'", "overflow"}},
      {"bytes overflow",
       RawFile(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})",
               eight),
       {"'w'", "overflow"}},
      {"unknown dtype",
       RawFile(R"({"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", eight),
       {"unknown dtype 'F8_E4M3' for tensor 'w' in ",
        "; supported: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL"}},
      {"metadata not object", RawFile(R"({"__metadata__":[1]})"), {"'__metadata__'"}},
      {"metadata value not string",
       RawFile(R"({"__metadata__":{"format":1}})"),
       {"'__metadata__'", "'format'"}},
      {"duplicate tensor", RawFile("{" + ok_entry + "," + ok_entry + "}", eight), {"'w'", "twice"}},
      {"overlap",
       RawFile(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           eight),
       {"'a'", "'b'", "overlap"}},
  };
  TempDir dir;
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string name =
        std::string("bad_") + std::to_string(&c - cases.data()) + ".safetensors";
    Status s = OpenBytes(dir, c.bytes, name);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), dir.Join(name));
    for (const std::string& sub : c.expect_in_message) EXPECT_HAS(s.message(), sub);
  }
  // The same bad header with data that is well-formed otherwise is fine once fixed: guards against
  // the cases above failing for some unrelated reason.
  EXPECT_TRUE(OpenBytes(dir, RawFile("{" + ok_entry + "}", eight)).ok());
}

TEST(SafetensorsFile, EveryTruncationIsAnErrorNotACrash) {
  SafetensorsWriter w;
  w.AddBF16("layer.weight", {4, 4}, Iota(16, 0.1f));
  w.AddF32("layer.bias", {4}, Iota(4, 1.0f));
  const std::string full = w.Serialize();
  TempDir dir;
  ASSERT_TRUE(OpenBytes(dir, full).ok());
  uint64_t header_len;
  std::memcpy(&header_len, full.data(), 8);
  for (size_t n = 0; n < full.size(); ++n) {
    SCOPED_TRACE(n);
    Status s = OpenBytes(dir, full.substr(0, n));
    ASSERT_FALSE(s.ok());
    // Once the header is complete, the error names the tensor whose bytes are cut off.
    if (n >= 8 + header_len) {
      EXPECT_HAS(s.message(), "truncated");
    }
  }
}

TEST(SafetensorsFile, RandomHeaderCorruptionNeverCrashes) {
  SafetensorsWriter w;
  w.AddBF16("a", {3, 5}, Iota(15, 0.5f));
  w.AddF16("b", {2}, {1, 2});
  w.AddI64("c", {}, {9});
  w.SetMetadata("format", "pt");
  const std::string full = w.Serialize();
  uint64_t header_len;
  std::memcpy(&header_len, full.data(), 8);
  std::mt19937 rng(7);
  TempDir dir;
  int failures = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string bytes = full;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      // Mostly the header (where parsing happens), sometimes the length field.
      const size_t pos = rng() % 5 == 0 ? rng() % 8 : 8 + rng() % header_len;
      bytes[pos] = static_cast<char>(rng() & 0xff);
    }
    ASSERT_TRUE(WriteBinaryFile(dir.Join("c.safetensors"), bytes).ok());
    auto f = SafetensorsFile::Open(dir.Join("c.safetensors"));
    if (!f.ok()) {
      ++failures;
      EXPECT_HAS(f.status().message(), dir.Join("c.safetensors"));
      continue;
    }
    // A corruption that still parses must describe tensors that lie inside the file.
    for (const TensorView& t : (*f)->tensors()) {
      EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * DTypeSize(t.dtype));
      (void)ToF32Vector(t);  // reads every byte: ASan catches out-of-range views
    }
  }
  EXPECT_GT(failures, 100);  // the corruption does hit
}

// Opening must cost an mmap and a header parse: the tensor bytes are never read. A 1 GiB sparse
// file has no data pages; after Open none of the mapping's data pages may be resident.
TEST(SafetensorsFile, OpenDoesNotTouchTensorData) {
  TempDir dir;
  const uint64_t big = uint64_t{1} << 30;
  const std::string header =
      R"({"big":{"dtype":"BF16","shape":[536870912],"data_offsets":[0,1073741824]}})";
  std::string padded = header;
  padded.resize((padded.size() + 4095) / 4096 * 4096 - 8, ' ');  // data starts on a page
  const std::string path = dir.Join("big.safetensors");
  ASSERT_TRUE(WriteBinaryFile(path, RawFile(padded)).ok());
  std::filesystem::resize_file(path, 8 + padded.size() + big);  // sparse: no blocks allocated

  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const TensorView& t = (*f)->tensors()[0];
  ASSERT_EQ(t.nbytes, big);
  const long page = ::sysconf(_SC_PAGESIZE);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(t.data) % page, 0u);
  std::vector<unsigned char> resident(big / page);
  ASSERT_EQ(::mincore(const_cast<void*>(t.data), big, resident.data()), 0);
  size_t n = 0;
  for (unsigned char r : resident) n += r & 1;
  EXPECT_EQ(n, 0u) << "Open read " << n << " pages of tensor data";

  // The probe itself can see a read: touch one page and it turns resident.
  volatile uint8_t sink = static_cast<const uint8_t*>(t.data)[5 * page];
  (void)sink;
  ASSERT_EQ(::mincore(const_cast<void*>(t.data), big, resident.data()), 0);
  EXPECT_EQ(resident[5] & 1, 1);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint folders

SafetensorsWriter SmallWeights() {
  SafetensorsWriter w;
  w.AddBF16("model.embed_tokens.weight", {8, 4}, Iota(32, 0.125f));
  w.AddF32("model.norm.weight", {4}, {1, 2, 3, 4});
  w.AddF16("lm_head.weight", {8, 4}, Iota(32, 0.5f));
  return w;
}

TEST(Checkpoint, SingleFile) {
  TempDir dir;
  const std::string config = TinyQwen2ConfigJson();
  ASSERT_TRUE(WriteCheckpoint(dir.path(), config, SmallWeights()).ok());
  ASSERT_TRUE(WriteTextFile(dir.Join("tokenizer.json"), "{}").ok());
  auto c = Checkpoint::Open(dir.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Checkpoint& ck = **c;
  EXPECT_EQ(ck.dir(), dir.path());
  EXPECT_EQ(ck.config_json(), config);
  EXPECT_EQ(ck.num_tensors(), 3u);
  EXPECT_EQ(ck.files(), std::vector<std::string>{dir.Join("model.safetensors")});
  EXPECT_TRUE(ck.HasFile("tokenizer.json"));
  EXPECT_FALSE(ck.HasFile("merges.txt"));
  EXPECT_FALSE(ck.HasFile("."));  // a folder is not a file

  const auto all = ck.AllTensors();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->name, "lm_head.weight");
  EXPECT_EQ(all[1]->name, "model.embed_tokens.weight");
  EXPECT_EQ(all[2]->name, "model.norm.weight");

  const TensorView* norm = ck.Find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(ToF32Vector(*norm).value(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ck.Find("model.norm"), nullptr);

  auto got = ck.Get("model.embed_tokens.weight", {8, 4});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)->dtype, DType::kBF16);
  auto wrong = ck.Get("model.embed_tokens.weight", {4, 8});
  ASSERT_FALSE(wrong.ok());
  EXPECT_HAS(wrong.status().message(), "'model.embed_tokens.weight'");
  EXPECT_HAS(wrong.status().message(), "[8, 4], expected [4, 8]");
  EXPECT_HAS(wrong.status().message(), dir.Join("model.safetensors"));
  auto missing = ck.Get("model.layers.0.mlp.up_proj.weight", {1});
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.status().message(), "'model.layers.0.mlp.up_proj.weight' not found");
  EXPECT_HAS(missing.status().message(), dir.path());
}

TEST(Checkpoint, Sharded) {
  TempDir dir;
  SafetensorsWriter a, b;
  a.AddBF16("model.embed_tokens.weight", {8, 4}, Iota(32, 0.125f));
  a.AddF32("model.layers.0.input_layernorm.weight", {4}, {1, 1, 1, 1});
  b.AddF32("model.norm.weight", {4}, {5, 6, 7, 8});
  b.AddBF16("lm_head.weight", {8, 4}, Iota(32, 0.25f));
  ASSERT_TRUE(WriteShardedCheckpoint(dir.path(), TinyQwen2ConfigJson(),
                                     {{"model-00001-of-00002.safetensors", a},
                                      {"model-00002-of-00002.safetensors", b}})
                  .ok());
  auto c = Checkpoint::Open(dir.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->num_tensors(), 4u);
  EXPECT_EQ((*c)->files().size(), 2u);
  EXPECT_EQ((*c)->Find("model.norm.weight")->file, dir.Join("model-00002-of-00002.safetensors"));
  EXPECT_EQ((*c)->Find("model.embed_tokens.weight")->file,
            dir.Join("model-00001-of-00002.safetensors"));
  EXPECT_EQ(ToF32Vector(*(*c)->Find("model.norm.weight")).value(),
            (std::vector<float>{5, 6, 7, 8}));
  const auto all = (*c)->AllTensors();
  ASSERT_EQ(all.size(), 4u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1]->name, all[i]->name);
}

TEST(Checkpoint, ShardErrors) {
  SafetensorsWriter a, b;
  a.AddF32("x", {1}, {1});
  b.AddF32("y", {1}, {2});
  auto open = [](const TempDir& dir) {
    auto c = Checkpoint::Open(dir.path());
    return c.ok() ? Status::Ok() : c.status();
  };
  const std::string index_name = "model.safetensors.index.json";
  {
    SCOPED_TRACE("missing shard");
    TempDir dir;
    ASSERT_TRUE(
        WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}, {"s2.safetensors", b}})
            .ok());
    std::filesystem::remove(dir.Join("s2.safetensors"));
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), "shard 's2.safetensors'");
    EXPECT_HAS(s.message(), "missing");
    EXPECT_HAS(s.message(), index_name);
  }
  {
    SCOPED_TRACE("duplicate tensor across shards");
    TempDir dir;
    SafetensorsWriter dup;
    dup.AddF32("x", {1}, {3});
    dup.AddF32("y", {1}, {4});
    ASSERT_TRUE(
        WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}, {"s2.safetensors", dup}})
            .ok());
    // The index can name only one home for "x"; both shards are opened because of "y".
    ASSERT_TRUE(WriteTextFile(dir.Join(index_name),
                              R"({"weight_map":{"x":"s1.safetensors","y":"s2.safetensors"}})")
                    .ok());
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), "'x'");
    EXPECT_HAS(s.message(), dir.Join("s1.safetensors"));
    EXPECT_HAS(s.message(), dir.Join("s2.safetensors"));
  }
  {
    SCOPED_TRACE("index places a tensor in the wrong shard");
    TempDir dir;
    ASSERT_TRUE(
        WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}, {"s2.safetensors", b}})
            .ok());
    ASSERT_TRUE(WriteTextFile(dir.Join(index_name),
                              R"({"weight_map":{"x":"s2.safetensors","y":"s1.safetensors"}})")
                    .ok());
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), "places it in");
  }
  {
    SCOPED_TRACE("index lists a tensor no shard has");
    TempDir dir;
    ASSERT_TRUE(WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}}).ok());
    ASSERT_TRUE(WriteTextFile(dir.Join(index_name),
                              R"({"weight_map":{"x":"s1.safetensors","ghost":"s1.safetensors"}})")
                    .ok());
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), "'ghost'");
  }
  const std::pair<const char*, const char*> bad_indexes[] = {
      {"{not json", "not valid JSON"},
      {"[]", "'weight_map'"},
      {R"({"weight_map": 3})", "'weight_map'"},
      {R"({"weight_map": {}})", "empty"},
      {R"({"weight_map": {"x": 1}})", "'x'"},
      {R"({"weight_map": {"x": "../s1.safetensors"}})", "inside the folder"},
      {R"({"weight_map": {"x": "/etc/passwd"}})", "inside the folder"},
  };
  for (auto [text, expect] : bad_indexes) {
    SCOPED_TRACE(text);
    TempDir dir;
    ASSERT_TRUE(WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}}).ok());
    ASSERT_TRUE(WriteTextFile(dir.Join(index_name), text).ok());
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), expect);
    EXPECT_HAS(s.message(), dir.Join(index_name));
  }
  {
    SCOPED_TRACE("bad shard content names the shard");
    TempDir dir;
    ASSERT_TRUE(
        WriteShardedCheckpoint(dir.path(), "{}", {{"s1.safetensors", a}, {"s2.safetensors", b}})
            .ok());
    ASSERT_TRUE(WriteBinaryFile(dir.Join("s2.safetensors"), "garbage!garbage").ok());
    Status s = open(dir);
    ASSERT_FALSE(s.ok());
    EXPECT_HAS(s.message(), dir.Join("s2.safetensors"));
  }
}

TEST(Checkpoint, SingleFileTakesPrecedenceOverIndex) {
  TempDir dir;
  SafetensorsWriter a;
  a.AddF32("x", {1}, {1});
  ASSERT_TRUE(WriteCheckpoint(dir.path(), "{}", a).ok());
  // A stale index naming shards that are gone must not matter when model.safetensors exists.
  ASSERT_TRUE(WriteTextFile(dir.Join("model.safetensors.index.json"),
                            R"({"weight_map":{"x":"gone.safetensors"}})")
                  .ok());
  auto c = Checkpoint::Open(dir.path());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_NE((*c)->Find("x"), nullptr);
}

TEST(Checkpoint, FolderErrors) {
  {
    SCOPED_TRACE("no such folder");
    auto c = Checkpoint::Open("/nonexistent/fastvlm-model");
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), "'/nonexistent/fastvlm-model' does not exist");
  }
  {
    SCOPED_TRACE("no config.json");
    TempDir dir;
    ASSERT_TRUE(SmallWeights().Write(dir.Join("model.safetensors")).ok());
    auto c = Checkpoint::Open(dir.path());
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), "no config.json in '" + dir.path() + "'");
    EXPECT_HAS(c.status().message(), "Hugging Face model folder");
  }
  {
    SCOPED_TRACE("a file given instead of the folder");
    TempDir dir;
    ASSERT_TRUE(WriteCheckpoint(dir.path(), "{}", SmallWeights()).ok());
    auto c = Checkpoint::Open(dir.Join("model.safetensors"));
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), "is a file, not a model folder");
    EXPECT_HAS(c.status().message(), "'" + dir.path() + "'");  // suggests the folder
  }
  {
    SCOPED_TRACE("no weights");
    TempDir dir;
    ASSERT_TRUE(WriteTextFile(dir.Join("config.json"), "{}").ok());
    auto c = Checkpoint::Open(dir.path());
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), "no model.safetensors or model.safetensors.index.json");
    EXPECT_HAS(c.status().message(), dir.path());
    ASSERT_TRUE(WriteTextFile(dir.Join("pytorch_model.bin"), "x").ok());
    c = Checkpoint::Open(dir.path());
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), "pytorch_model.bin");
    EXPECT_HAS(c.status().message(), "convert");
  }
  {
    SCOPED_TRACE("corrupt model.safetensors");
    TempDir dir;
    ASSERT_TRUE(WriteTextFile(dir.Join("config.json"), "{}").ok());
    ASSERT_TRUE(WriteTextFile(dir.Join("model.safetensors"), "").ok());
    auto c = Checkpoint::Open(dir.path());
    ASSERT_FALSE(c.ok());
    EXPECT_HAS(c.status().message(), dir.Join("model.safetensors"));
    EXPECT_HAS(c.status().message(), "empty");
  }
}

}  // namespace
}  // namespace fastvlm::io
