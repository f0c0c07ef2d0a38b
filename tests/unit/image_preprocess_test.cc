// Preprocessing parity with the reference: FastVLM's expand2square + PIL BICUBIC resize (pad)
// and transformers' CLIPImageProcessor shortest-edge resize + centre crop (crop), uint8 results
// compared by SHA-256 (first differing row reported), plus the /255 rescale.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>

#include "base/thread_pool.h"
#include "image/image.h"
#include "image_test_util.h"

namespace fastvlm::image {
namespace {

using ::fastvlm::image::testing::Entry;
using ::fastvlm::image::testing::Expected;
using ::fastvlm::image::testing::FixtureDir;
using ::fastvlm::image::testing::FixtureNames;
using ::fastvlm::image::testing::MatchesSummary;

class PreprocessFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(PreprocessFixture, PadAndCropMatchReference) {
  const std::string file = GetParam();
  const auto& e = Entry(file);
  auto img = DecodeFile(FixtureDir() + "/" + file);
  ASSERT_TRUE(img.ok()) << img.status().message();
  for (const auto& [size, want] : e["pad"].items()) {
    EXPECT_TRUE(MatchesSummary(Preprocess(*img, std::stoi(size), Fit::kPadSquare), want))
        << file << " pad " << size;
  }
  for (const auto& [size, want] : e["crop"].items()) {
    EXPECT_TRUE(MatchesSummary(Preprocess(*img, std::stoi(size), Fit::kCenterCrop), want))
        << file << " crop " << size;
  }
  if (e.contains("exif_transposed_pad")) {
    DecodeOptions opt;
    opt.exif_rotate = true;
    auto rot = DecodeFile(FixtureDir() + "/" + file, opt);
    ASSERT_TRUE(rot.ok());
    EXPECT_TRUE(MatchesSummary(Preprocess(*rot, 1024, Fit::kPadSquare),
                               e["exif_transposed_pad"]["1024"]))
        << file << " exif_transpose + pad";
  }
}

std::string ParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Pillow, PreprocessFixture, ::testing::ValuesIn(FixtureNames()),
                         ParamName);

Image Gradient(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[3 * (static_cast<size_t>(y) * w + x)];
      p[0] = static_cast<uint8_t>(x * 7 + y);
      p[1] = static_cast<uint8_t>(y * 3);
      p[2] = static_cast<uint8_t>((x ^ y) & 255);
    }
  }
  return img;
}

TEST(ExpandToSquare, OffsetsAndBlackFill) {
  // expand2square: offset (max - min) // 2 on the short axis, the extra pixel at bottom/right.
  const Image wide = Gradient(5, 2);
  const Image sq = ExpandToSquare(wide);
  ASSERT_EQ(sq.width, 5);
  ASSERT_EQ(sq.height, 5);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 5; ++x) {
      for (int c = 0; c < 3; ++c) {
        const uint8_t got = sq.rgb[3 * (y * 5 + x) + c];
        const uint8_t want = (y >= 1 && y < 3) ? wide.rgb[3 * ((y - 1) * 5 + x) + c] : 0;
        ASSERT_EQ(got, want) << x << "," << y;
      }
    }
  }
  const Image tall = ExpandToSquare(Gradient(2, 5));
  EXPECT_EQ(tall.rgb[3 * (0 * 5 + 1)], Gradient(2, 5).rgb[0]);  // column offset 1
  EXPECT_EQ(tall.rgb[3 * (0 * 5 + 0)], 0);
  EXPECT_EQ(ExpandToSquare(Gradient(3, 3)).rgb, Gradient(3, 3).rgb);
}

TEST(ResizeBicubic, SameSizeIsIdentityAndOneAxisPassesAreSkipped) {
  const Image img = Gradient(37, 23);
  EXPECT_EQ(ResizeBicubic(img, 37, 23).rgb, img.rgb);
  // Only the height changes: every column is resampled independently of its neighbours.
  const Image v = ResizeBicubic(img, 37, 50);
  Image col = Gradient(37, 23);
  for (int y = 0; y < 23; ++y) {
    for (int x = 1; x < 37; ++x) std::memcpy(&col.rgb[3 * (y * 37 + x)], &col.rgb[3 * y * 37], 3);
  }
  const Image vc = ResizeBicubic(col, 37, 50);
  for (int y = 0; y < 50; ++y) {
    ASSERT_EQ(0, std::memcmp(&v.rgb[3 * y * 37], &vc.rgb[3 * y * 37], 3)) << y;
  }
}

TEST(ResizeBicubic, ConstantImageStaysConstant) {
  Image img;
  img.width = 301;
  img.height = 77;
  img.rgb.assign(301 * 77 * 3, 200);
  for (auto [w, h] : {std::pair{1024, 1024}, {64, 64}, {1, 1}, {999, 13}}) {
    const Image r = ResizeBicubic(img, w, h);
    for (uint8_t v : r.rgb) ASSERT_EQ(v, 200) << w << "x" << h;
  }
}

TEST(ToFloat, MatchesTransformersRescale) {
  // expected.json holds float32(v * (1/255)) for every v, as transformers' rescale computes it.
  const auto& hex = Expected()["rescale_u8_to_f32_hex"];
  ASSERT_EQ(hex.size(), 256u);
  Image img;
  img.width = 256;
  img.height = 1;
  for (int v = 0; v < 256; ++v) img.rgb.insert(img.rgb.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
  std::vector<float> out(256 * 3);
  ToFloat(img, out.data());
  for (int v = 0; v < 256; ++v) {
    const uint32_t bits = static_cast<uint32_t>(std::stoul(hex[v].get<std::string>(), nullptr, 16));
    // The hex is the little-endian byte string of the float.
    const uint32_t le = __builtin_bswap32(bits);
    float want;
    std::memcpy(&want, &le, 4);
    ASSERT_EQ(out[3 * v], want) << v;
    ASSERT_EQ(out[3 * v + 2], want) << v;
  }
}

TEST(ResizeBicubic, ThreadPoolGivesTheSamePixels) {
  ThreadPool pool(3);
  const Image img = Gradient(517, 333);
  for (auto [w, h] : {std::pair{1024, 1024}, {100, 333}, {517, 40}, {61, 1000}}) {
    EXPECT_EQ(ResizeBicubic(img, w, h, &pool).rgb, ResizeBicubic(img, w, h).rgb) << w << "x" << h;
  }
  for (Fit fit : {Fit::kPadSquare, Fit::kCenterCrop}) {
    EXPECT_EQ(Preprocess(img, 256, fit, &pool).rgb, Preprocess(img, 256, fit).rgb);
  }
}

TEST(Preprocess, PadEqualsExpandThenResize) {
  // Preprocess resizes the padded canvas without building it; it must equal the literal pipeline,
  // also when one axis keeps its size (a pass skipped) or nothing changes.
  for (auto [w, h, s] : {std::tuple{37, 23, 64}, {23, 37, 64}, {37, 23, 37}, {23, 37, 37},
                         {40, 40, 40}, {1, 9, 5}, {300, 7, 1024}}) {
    const Image img = Gradient(w, h);
    EXPECT_EQ(Preprocess(img, s, Fit::kPadSquare).rgb,
              ResizeBicubic(ExpandToSquare(img), s, s).rgb)
        << w << "x" << h << " -> " << s;
  }
}

TEST(ResizeBicubic, LargeDownscaleIsFast) {
  // 4000x3000 padded to 4000x4000 -> 1024x1024, the FastVLM pipeline on a 12 MP photo.
  auto img = DecodeFile(FixtureDir() + "/large_4000x3000.jpg");
  ASSERT_TRUE(img.ok());
  const auto t0 = std::chrono::steady_clock::now();
  const Image r = Preprocess(*img, 1024, Fit::kPadSquare);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.width, 1024);
  std::printf("[ timing ] pad 4000x3000 -> 4000^2 -> 1024^2: %.1f ms (1 thread)\n", ms);
  ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const auto t1 = std::chrono::steady_clock::now();
  const Image rp = Preprocess(*img, 1024, Fit::kPadSquare, &pool);
  const double ms_pool =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  std::printf("[ timing ] the same on %d threads: %.1f ms\n", pool.size(), ms_pool);
  EXPECT_EQ(rp.rgb, r.rgb);
}

}  // namespace
}  // namespace fastvlm::image
