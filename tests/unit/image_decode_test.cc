// Decoding parity with Pillow 13 (`Image.open(f).convert('RGB')`) on every fixture image, EXIF
// orientation as PIL.ImageOps.exif_transpose, and clear errors for bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <algorithm>
#include <cctype>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "image/image.h"
#include "image_test_util.h"
#include "util/safetensors_writer.h"

namespace fastvlm::image {
namespace {

using ::fastvlm::image::testing::Entry;
using ::fastvlm::image::testing::Expected;
using ::fastvlm::image::testing::FixtureDir;
using ::fastvlm::image::testing::FixtureNames;
using ::fastvlm::image::testing::MatchesSummary;
using ::fastvlm::testing::TempDir;
using ::fastvlm::testing::WriteBinaryFile;

#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nexpected to contain: " << (needle)

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class DecodeFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeFixture, MatchesPillowConvertRgb) {
  const std::string file = GetParam();
  auto img = DecodeFile(FixtureDir() + "/" + file);
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_TRUE(MatchesSummary(*img, Entry(file)["decode"])) << file << " ("
                                                          << Entry(file)["note"] << ")";
}

TEST_P(DecodeFixture, ExifRotateMatchesExifTranspose) {
  const std::string file = GetParam();
  const auto& e = Entry(file);
  DecodeOptions opt;
  opt.exif_rotate = true;
  auto img = DecodeFile(FixtureDir() + "/" + file, opt);
  ASSERT_TRUE(img.ok()) << img.status().message();
  // Files without an Orientation tag decode the same with and without exif_rotate.
  const auto& want = e.contains("exif_transposed") ? e["exif_transposed"] : e["decode"];
  EXPECT_TRUE(MatchesSummary(*img, want)) << file;
}

std::string ParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Pillow, DecodeFixture, ::testing::ValuesIn(FixtureNames()), ParamName);

TEST(Decode, FixtureSetCoversEveryFormatAndMode) {
  // A guard against the fixture list silently shrinking.
  std::set<std::string> modes;
  for (const auto& e : Expected()["images"]) modes.insert(e["pillow_mode"].get<std::string>());
  for (const char* m : {"RGB", "RGBA", "L", "LA", "P", "1", "I;16", "CMYK"}) {
    EXPECT_TRUE(modes.count(m)) << "no fixture opens in Pillow mode " << m;
  }
  EXPECT_GE(Expected()["images"].size(), 14u);
  int orientations = 0;
  for (const auto& e : Expected()["images"]) orientations += e.contains("exif_orientation");
  EXPECT_GE(orientations, 8);
}

TEST(Decode, MemoryAndFileAgree) {
  const std::string bytes = ReadAll(FixtureDir() + "/baseline_640x480.jpg");
  auto a = DecodeMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  auto b = DecodeFile(FixtureDir() + "/baseline_640x480.jpg");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rgb, b->rgb);
}

TEST(Decode, SniffsContentNotExtension) {
  TempDir dir;
  const std::string path = dir.Join("actually_a_png.jpg");
  ASSERT_TRUE(WriteBinaryFile(path, ReadAll(FixtureDir() + "/odd_333x517.png")).ok());
  auto img = DecodeFile(path);
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_TRUE(MatchesSummary(*img, Entry("odd_333x517.png")["decode"]));
}

// ---------------------------------------------------------------------------------------------
// Bad input: each a clear error naming the file, never a crash.

Status DecodeBytes(const TempDir& dir, const std::string& name, const std::string& bytes,
                   const DecodeOptions& opt = {}) {
  const std::string path = dir.Join(name);
  EXPECT_TRUE(WriteBinaryFile(path, bytes).ok());
  auto r = DecodeFile(path, opt);
  if (r.ok()) return Status::Ok();
  return r.status();
}

TEST(DecodeErrors, MissingFile) {
  auto r = DecodeFile("/nonexistent/dir/photo.jpg");
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "/nonexistent/dir/photo.jpg: no such file");
}

TEST(DecodeErrors, Directory) {
  TempDir dir;
  auto r = DecodeFile(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_HAS(r.status().message(), "is a directory, not an image file");
}

TEST(DecodeErrors, EmptyFile) {
  TempDir dir;
  Status s = DecodeBytes(dir, "empty.png", "");
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "empty.png: file is empty (0 bytes)");
}

TEST(DecodeErrors, RandomBytes) {
  TempDir dir;
  std::mt19937 rng(7);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  bytes[0] = 'x';  // not by chance a BMP ("BM") or JPEG signature
  Status s = DecodeBytes(dir, "noise.jpg", bytes);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "noise.jpg: not a recognized image file");
}

TEST(DecodeErrors, UnsupportedFormatsAreNamed) {
  TempDir dir;
  Status s = DecodeBytes(dir, "x.heic", std::string("\0\0\0\x18" "ftypheic\0\0\0\0", 16));
  EXPECT_HAS(s.message(), "HEIF/HEIC/AVIF images are not supported");
  s = DecodeBytes(dir, "x.tif", std::string("II*\0\x08\0\0\0", 8));
  EXPECT_HAS(s.message(), "TIFF images are not supported");
}

// Every fixture of each format truncated at several points: an error, never garbage or a crash.
// (Cut points stay inside the pixel data; a file cut after its last pixel byte may legitimately
// still decode, as in Pillow.)
TEST(DecodeErrors, TruncatedFilesFail) {
  TempDir dir;
  for (const char* file : {"baseline_640x480.jpg", "progressive_500x375.jpg", "cmyk_200x150.jpg",
                           "odd_333x517.png", "interlaced_255x133.png", "rgb16_160x120.png",
                           "anim_120x90.gif", "trns_interlaced_64x40.gif", "lossy_300x200.webp",
                           "lossless_alpha_150x100.webp", "bmp24_123x77.bmp", "bmp8_97x61.bmp"}) {
    const std::string bytes = ReadAll(FixtureDir() + "/" + file);
    ASSERT_GT(bytes.size(), 100u) << file;
    for (double frac : {0.01, 0.1, 0.5, 0.8}) {
      // The first frame of the 2-frame GIF ends near the middle: a cut after it still decodes
      // (Pillow reads only frame 0 as well).
      if (std::string(file) == "anim_120x90.gif" && frac > 0.3) continue;
      const size_t cut = std::max<size_t>(2, static_cast<size_t>(bytes.size() * frac));
      Status s = DecodeBytes(dir, file, bytes.substr(0, cut));
      ASSERT_FALSE(s.ok()) << file << " cut at " << cut << " of " << bytes.size();
      EXPECT_HAS(s.message(), std::string(file) + ": ");
      if (frac >= 0.1) {
        EXPECT_HAS(s.message(), "truncated");
      }
    }
  }
}

TEST(DecodeErrors, TruncatedJpegMessage) {
  TempDir dir;
  const std::string bytes = ReadAll(FixtureDir() + "/baseline_640x480.jpg");
  Status s = DecodeBytes(dir, "photo.jpg", bytes.substr(0, bytes.size() / 2));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), dir.Join("photo.jpg") + ": truncated JPEG data");
}

TEST(DecodeErrors, CorruptedJpegDoesNotCrash) {
  TempDir dir;
  std::string bytes = ReadAll(FixtureDir() + "/baseline_640x480.jpg");
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::string b = bytes;
    for (int i = 0; i < 30; ++i) b[rng() % b.size()] = static_cast<char>(rng());
    b[0] = '\xFF', b[1] = '\xD8', b[2] = '\xFF';
    (void)DecodeBytes(dir, "c.jpg", b);  // ok or an error; ASan/UBSan catch memory bugs
  }
}

// Crafted headers that claim too many pixels are rejected before any pixel is decoded.
std::string Be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string Le32(uint32_t v) {
  return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 24)};
}
uint32_t Crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

TEST(DecodeErrors, PngHeaderClaimingTooManyPixels) {
  std::string ihdr = "IHDR" + Be32(20000) + Be32(20000) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string png = std::string("\x89PNG\r\n\x1A\n", 8) + Be32(13) + ihdr + Be32(Crc32(ihdr));
  TempDir dir;
  Status s = DecodeBytes(dir, "big.png", png);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(),
             "big.png: 20000x20000 = 400 megapixels exceeds the limit of 100 megapixels");
}

TEST(DecodeErrors, BmpHeaderClaimingTooManyPixels) {
  std::string info = Le32(40) + Le32(30000) + Le32(5000) + std::string("\x01\x00\x18\x00", 4) +
                     std::string(24, '\0');
  const std::string bmp = "BM" + Le32(54) + Le32(0) + Le32(54) + info;
  TempDir dir;
  Status s = DecodeBytes(dir, "big.bmp", bmp);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "30000x5000 = 150 megapixels exceeds the limit");
}

TEST(DecodeErrors, MaxPixelsOptionAppliesToEveryFormat) {
  DecodeOptions opt;
  opt.max_pixels = 1000;
  for (const char* file : {"baseline_640x480.jpg", "odd_333x517.png", "anim_120x90.gif",
                           "lossy_300x200.webp", "bmp24_123x77.bmp"}) {
    auto r = DecodeFile(FixtureDir() + "/" + file, opt);
    ASSERT_FALSE(r.ok()) << file;
    EXPECT_HAS(r.status().message(), "exceeds the limit of 0.001 megapixels");
  }
  opt.max_pixels = 1;
  EXPECT_TRUE(DecodeFile(FixtureDir() + "/tiny_1x1.png", opt).ok());
}

}  // namespace
}  // namespace fastvlm::image
