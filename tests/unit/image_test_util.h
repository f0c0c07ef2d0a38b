// Shared by image_decode_test.cc and image_preprocess_test.cc: the fixture index
// (tests/fixtures/images/expected.json, written by tools/reference/make_image_fixtures.py), a
// SHA-256 to compare with it, and a comparison that names the first differing row.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "image/image.h"
#include "util/sha256.h"

namespace fastvlm::image::testing {

inline std::string FixtureDir() {
  return std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/images";
}

inline const nlohmann::json& Expected() {
  static const nlohmann::json j = [] {
    std::ifstream f(FixtureDir() + "/expected.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return j;
}

inline std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  for (const auto& e : Expected()["images"]) names.push_back(e["file"].get<std::string>());
  return names;
}

inline const nlohmann::json& Entry(const std::string& file) {
  for (const auto& e : Expected()["images"]) {
    if (e["file"] == file) return e;
  }
  static const nlohmann::json kNull;
  ADD_FAILURE() << "no fixture entry for " << file;
  return kNull;
}


// Compares an image with a reference summary {width, height, sha256, row_sums}. On a mismatch,
// says which row differs first (and by how much), so a bug is localized without pixel dumps.
inline ::testing::AssertionResult MatchesSummary(const Image& img, const nlohmann::json& want) {
  if (want.is_null()) return ::testing::AssertionFailure() << "no reference summary";
  const int w = want["width"].get<int>(), h = want["height"].get<int>();
  if (img.width != w || img.height != h) {
    return ::testing::AssertionFailure() << "size " << img.width << "x" << img.height
                                         << ", reference " << w << "x" << h;
  }
  if (fastvlm::testing::Sha256Hex(img.rgb.data(), img.rgb.size()) == want["sha256"].get<std::string>()) {
    return ::testing::AssertionSuccess();
  }
  const auto& sums = want["row_sums"];
  int differing = 0, first = -1;
  int64_t first_got = 0, first_want = 0;
  for (int y = 0; y < h; ++y) {
    int64_t s = 0;
    for (int i = 0; i < w * 3; ++i) s += img.rgb[static_cast<size_t>(y) * w * 3 + i];
    const int64_t ws = sums[y].get<int64_t>();
    if (s != ws) {
      if (first < 0) first = y, first_got = s, first_want = ws;
      ++differing;
    }
  }
  auto f = ::testing::AssertionFailure() << "SHA-256 differs from Pillow's; ";
  if (first < 0) return f << "all row sums agree (a permutation within rows?)";
  return f << differing << " of " << h << " rows differ, first row " << first << ": sum "
           << first_got << " vs Pillow " << first_want;
}

}  // namespace fastvlm::image::testing
