// Our quantizers against the gguf package (llama.cpp's reference quantizers): identical bytes on
// a fixture with the edge cases (tools/reference/make_quant_fixture.py), identical dequantized
// floats, and the per-element error bound of each format on random data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "base/float16.h"
#include "quant/quant.h"

namespace fastvlm::quant {
namespace {

std::vector<uint8_t> ReadFile(const std::string& name) {
  const std::string path = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/quant/" + name;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing fixture " << path
                        << " (tools/reference/make_quant_fixture.py writes it)";
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::vector<float> ReadF32(const std::string& name) {
  const std::vector<uint8_t> b = ReadFile(name);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

struct Format {
  WType t;
  const char* name;
};
constexpr Format kFormats[] = {{WType::kQ8_0, "q8_0"}, {WType::kQ4_0, "q4_0"}, {WType::kQ4_1, "q4_1"}};

TEST(QuantFormats, BytesMatchGguf) {
  const std::vector<float> x = ReadF32("input.f32");
  const int64_t rows = 2, cols = static_cast<int64_t>(x.size()) / rows;
  ASSERT_EQ(cols, 1024);
  for (const Format& f : kFormats) {
    const std::vector<uint8_t> want = ReadFile(std::string(f.name) + ".bin");
    const int64_t rb = kernels::RowBytes(f.t, cols);
    ASSERT_EQ(static_cast<int64_t>(want.size()), rows * rb) << f.name;
    std::vector<uint8_t> got(rows * rb);
    for (int64_t r = 0; r < rows; ++r) QuantizeRow(f.t, x.data() + r * cols, cols, got.data() + r * rb);
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t bb = kernels::BlockBytes(f.t);
      ASSERT_EQ(got[i], want[i]) << f.name << ": first mismatching byte " << i << " (block "
                                 << i / bb << ", byte " << i % bb << ")";
    }
    // Dequantization of the reference bytes equals gguf.quants.dequantize exactly.
    const std::vector<float> deq = ReadF32(std::string(f.name) + ".deq.f32");
    std::vector<float> ours(rows * cols);
    for (int64_t r = 0; r < rows; ++r) DequantizeRow(f.t, want.data() + r * rb, cols, ours.data() + r * cols);
    for (size_t i = 0; i < ours.size(); ++i)
      ASSERT_EQ(ours[i], deq[i]) << f.name << ": dequantized element " << i;
  }
}

TEST(QuantFormats, ErrorWithinFormatBound) {
  std::mt19937 rng(3);
  for (const Format& f : kFormats) {
    for (float scale : {1e-3f, 0.05f, 1.0f, 300.0f}) {
      const int64_t n = 896 * 4;
      std::normal_distribution<float> dist(0.0f, scale);
      std::vector<float> x(n), back(n);
      for (auto& v : x) v = dist(rng);
      x[7] = 6 * scale;  // outliers: the Q4_0 clamp case and a wide Q4_1 range
      x[40] = -6 * scale;
      std::vector<uint8_t> q(kernels::RowBytes(f.t, n));
      QuantizeRow(f.t, x.data(), n, q.data());
      DequantizeRow(f.t, q.data(), n, back.data());
      const int64_t bb = kernels::BlockBytes(f.t);
      double sq = 0, se = 0;
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* blk = q.data() + (i / 32) * bb;
        uint16_t dh, mh;
        std::memcpy(&dh, blk, 2);
        double bound = ElementErrorBound(f.t, F16ToF32(dh));
        if (f.t == WType::kQ4_1) {
          std::memcpy(&mh, blk + 2, 2);
          bound += std::max(std::fabs(F16ToF32(mh)) * 0x1p-11, 0x1p-25);  // f16 rounding of the min
        }
        ASSERT_LE(std::fabs(x[i] - back[i]), bound * (1 + 1e-6))
            << f.name << " scale " << scale << " at " << i << ": " << x[i] << " -> " << back[i];
        const double e = double(x[i]) - double(back[i]);
        se += e * e;
        sq += double(x[i]) * x[i];
      }
      const ErrorStats s = Compare(x.data(), back.data(), n);
      EXPECT_NEAR(s.nmse, se / sq, 1e-12);
      // Sanity on the typical error (normal data): Q8_0 ~1e-4, Q4 ~1e-2 NMSE.
      EXPECT_LT(s.nmse, f.t == WType::kQ8_0 ? 2e-4 : 3e-2) << f.name;
    }
  }
}

TEST(QuantFormats, ZerosStayZero) {
  std::vector<float> x(64, 0.0f), back(64, 1.0f);
  for (const Format& f : kFormats) {
    std::vector<uint8_t> q(kernels::RowBytes(f.t, 64));
    QuantizeRow(f.t, x.data(), 64, q.data());
    DequantizeRow(f.t, q.data(), 64, back.data());
    for (float v : back) ASSERT_EQ(v, 0.0f) << f.name;
  }
}

}  // namespace
}  // namespace fastvlm::quant
