// image/synth.h: determinism, and that each task's ground truth describes what was drawn, checked
// from the pixels alone (never from the generator's variables).
#include "image/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "util/sha256.h"

namespace fastvlm::image {
namespace {

using nlohmann::json;

constexpr int kSeeds = 300;  // per task

// The documented palette (synth.h), written out independently of synth.cc.
const std::map<std::string, std::array<int, 3>>& Palette() {
  static const std::map<std::string, std::array<int, 3>> p = {
      {"red", {230, 25, 25}},    {"green", {30, 160, 50}},  {"blue", {30, 70, 220}},
      {"yellow", {245, 205, 0}}, {"orange", {255, 135, 0}}, {"purple", {130, 50, 180}},
      {"pink", {245, 110, 190}}, {"black", {0, 0, 0}}};
  return p;
}
// Fraction of the bounding box each shape fills, and its bbox width / height.
struct ShapeFacts {
  double fill, aspect;
};
const std::map<std::string, ShapeFacts>& Shapes() {
  static const std::map<std::string, ShapeFacts> s = {
      {"circle", {0.78540, 1.0}},  {"square", {1.0, 1.0}},        {"triangle", {0.5, 1.15470}},
      {"star", {0.32624, 1.05146}}, {"diamond", {0.5, 1.0}},      {"hexagon", {0.75, 0.86603}},
      {"cross", {5.0 / 9.0, 1.0}}};
  return s;
}

struct Box {
  int x0, y0, x1, y1;  // x1, y1 exclusive
  int w() const { return x1 - x0; }
  int h() const { return y1 - y0; }
  bool operator==(const Box& o) const {
    return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1;
  }
};
std::ostream& operator<<(std::ostream& os, const Box& b) {
  return os << "[" << b.x0 << "," << b.y0 << "," << b.x1 << "," << b.y1 << ")";
}
Box ToBox(const json& j) { return {j[0].get<int>(), j[1].get<int>(), j[2].get<int>(), j[3].get<int>()}; }

struct View {
  const Image& img;
  std::array<int, 3> bg;
  const uint8_t* At(int x, int y) const { return &img.rgb[3 * (size_t(y) * img.width + x)]; }
  bool Ink(int x, int y) const {
    const uint8_t* p = At(x, y);
    return p[0] != bg[0] || p[1] != bg[1] || p[2] != bg[2];
  }
  // Bounding box of the non-background pixels inside `within`; x1 < 0 when there are none.
  Box InkBox(const Box& within) const {
    Box b{within.x1, within.y1, -1, -1};
    for (int y = within.y0; y < within.y1; ++y)
      for (int x = within.x0; x < within.x1; ++x)
        if (Ink(x, y)) b = {std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x + 1), std::max(b.y1, y + 1)};
    return b;
  }
  Box All() const { return {0, 0, img.width, img.height}; }
  // The most frequent non-background colour inside `within`.
  std::array<int, 3> Majority(const Box& within) const {
    std::map<std::array<int, 3>, int> hist;
    for (int y = within.y0; y < within.y1; ++y)
      for (int x = within.x0; x < within.x1; ++x)
        if (Ink(x, y)) {
          const uint8_t* p = At(x, y);
          ++hist[{p[0], p[1], p[2]}];
        }
    std::array<int, 3> best{-1, -1, -1};
    int n = 0;
    for (const auto& [c, k] : hist)
      if (k > n) best = c, n = k;
    return best;
  }
  // Sum of per-pixel coverage (estimated from the channel where fg and bg differ most) over `b`,
  // divided by the box area.
  double FillFraction(const Box& b, const std::array<int, 3>& fg) const {
    int c = 0;
    for (int k = 1; k < 3; ++k)
      if (std::abs(fg[k] - bg[k]) > std::abs(fg[c] - bg[c])) c = k;
    double sum = 0;
    for (int y = b.y0; y < b.y1; ++y)
      for (int x = b.x0; x < b.x1; ++x) sum += double(At(x, y)[c] - bg[c]) / (fg[c] - bg[c]);
    return sum / (double(b.w()) * b.h());
  }
  // 8-connected components of non-background pixels: their bounding boxes.
  std::vector<Box> Components() const {
    const int w = img.width, h = img.height;
    std::vector<int> label(size_t(w) * h, -1);
    std::vector<Box> out;
    std::vector<std::pair<int, int>> stack;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (!Ink(x, y) || label[size_t(y) * w + x] >= 0) continue;
        const int id = static_cast<int>(out.size());
        Box b{x, y, x + 1, y + 1};
        stack.push_back({x, y});
        label[size_t(y) * w + x] = id;
        while (!stack.empty()) {
          auto [cx, cy] = stack.back();
          stack.pop_back();
          b = {std::min(b.x0, cx), std::min(b.y0, cy), std::max(b.x1, cx + 1), std::max(b.y1, cy + 1)};
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              const int nx = cx + dx, ny = cy + dy;
              if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
              if (!Ink(nx, ny) || label[size_t(ny) * w + nx] >= 0) continue;
              label[size_t(ny) * w + nx] = id;
              stack.push_back({nx, ny});
            }
        }
        out.push_back(b);
      }
    return out;
  }
};

std::array<int, 3> Rgb(const json& j) { return {j[0].get<int>(), j[1].get<int>(), j[2].get<int>()}; }

struct Parsed {
  SynthSample s;
  json truth;
};
Parsed Make(SynthTask task, uint64_t seed, int size = 256) {
  Parsed p;
  SynthOptions opt;
  opt.size = size;
  const Status st = Synthesize(task, seed, opt, &p.s);
  EXPECT_TRUE(st.ok()) << SynthTaskName(task) << " seed " << seed << ": " << st.message();
  if (!st.ok()) return p;
  p.truth = json::parse(p.s.truth_json);
  EXPECT_EQ(p.truth["task"], SynthTaskName(task));
  EXPECT_EQ(p.truth["seed"].get<uint64_t>(), seed);
  EXPECT_EQ(p.truth["size"].get<int>(), size);
  EXPECT_EQ(p.truth["question"], p.s.question);
  EXPECT_EQ(p.truth["answer"], p.s.answer);
  EXPECT_EQ(p.s.image.width, size);
  EXPECT_EQ(p.s.image.height, size);
  EXPECT_EQ(p.s.image.rgb.size(), size_t(size) * size * 3);
  EXPECT_EQ(p.s.truth_json.find('\n'), std::string::npos);
  const auto bg = Rgb(p.truth["background"]);
  EXPECT_TRUE(bg == (std::array<int, 3>{255, 255, 255}) || bg == (std::array<int, 3>{230, 230, 230}));
  return p;
}

// One drawn object: its listed bbox is exactly the ink there, its colour is the palette colour of
// its name, and its fill fraction and aspect are those of its shape.
void CheckObject(const View& v, const json& o, const std::string& where) {
  SCOPED_TRACE(where + " object " + o.dump());
  const std::string colour = o["colour"], shape = o["shape"];
  ASSERT_TRUE(Palette().count(colour));
  ASSERT_TRUE(Shapes().count(shape));
  EXPECT_EQ(Rgb(o["rgb"]), Palette().at(colour));
  const Box b = ToBox(o["bbox"]);
  ASSERT_TRUE(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= v.img.width && b.y1 <= v.img.height && b.w() > 0 &&
              b.h() > 0);
  // Ink tight in the listed box, grown by 2 px to see ink that the box would have missed.
  const Box grown{std::max(0, b.x0 - 2), std::max(0, b.y0 - 2), std::min(v.img.width, b.x1 + 2),
                  std::min(v.img.height, b.y1 + 2)};
  EXPECT_EQ(v.InkBox(grown), b);
  EXPECT_EQ(v.Majority(b), Palette().at(colour));
  const ShapeFacts& f = Shapes().at(shape);
  const int m = std::min(b.w(), b.h());
  if (m >= 24) {  // below that, pixel rounding dominates the ratios
    // Partial pixels on the border make the pixel box up to ~1 px larger than the shape's box on
    // each axis (and the vertex tables are rounded to 1e-4): the measured worst case over these
    // seeds is about 1.6 * fill / m.
    const double tol_fill = 0.005 + 2.0 * f.fill / m, tol_aspect = 2.0 / m;
    EXPECT_NEAR(v.FillFraction(b, Palette().at(colour)), f.fill, tol_fill) << shape;
    EXPECT_NEAR(double(b.w()) / b.h(), f.aspect, tol_aspect) << shape;
  }
  const int size = v.img.width, extent = std::max(b.w(), b.h());
  if (o["size"] == "large") {
    EXPECT_GE(extent * 100, size * 25 - 100);  // the shape's box is >= 25%; the pixel box ~ it
  } else {
    ASSERT_EQ(o["size"], "small");
    EXPECT_LE(extent * 100, size * 25 + 200);
  }
}

TEST(Synth, TaskNames) {
  const std::vector<SynthTask> all = AllSynthTasks();
  ASSERT_EQ(all.size(), 5u);
  const char* names[] = {"colour", "shape", "count", "text", "describe"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_STREQ(SynthTaskName(all[i]), names[i]);
    SynthTask t;
    ASSERT_TRUE(ParseSynthTask(names[i], &t));
    EXPECT_EQ(t, all[i]);
  }
  SynthTask t = SynthTask::kText;
  EXPECT_TRUE(ParseSynthTask("COLOR", &t));
  EXPECT_EQ(t, SynthTask::kColour);
  EXPECT_TRUE(ParseSynthTask("Describe", &t));
  EXPECT_EQ(t, SynthTask::kDescribe);
  EXPECT_FALSE(ParseSynthTask("colours", &t));
  EXPECT_FALSE(ParseSynthTask("", &t));
}

TEST(Synth, SameSeedSameBytesDifferentSeedsDiffer) {
  const std::string dir = ::testing::TempDir() + "/synth_test_png";
  std::filesystem::create_directories(dir);
  auto read = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  for (SynthTask task : AllSynthTasks()) {
    std::set<std::string> hashes;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      SynthSample a, b;
      ASSERT_TRUE(Synthesize(task, seed, {}, &a).ok());
      ASSERT_TRUE(Synthesize(task, seed, {}, &b).ok());
      ASSERT_EQ(a.image.rgb, b.image.rgb) << SynthTaskName(task) << " seed " << seed;
      ASSERT_EQ(a.truth_json, b.truth_json);
      ASSERT_EQ(a.answer, b.answer);
      hashes.insert(fastvlm::testing::Sha256Hex(a.image.rgb.data(), a.image.rgb.size()));
      if (seed < 3) {
        const std::string pa = dir + "/a.png", pb = dir + "/b.png";
        ASSERT_TRUE(WritePng(a.image, pa).ok());
        ASSERT_TRUE(WritePng(b.image, pb).ok());
        const std::string ba = read(pa), bb = read(pb);
        ASSERT_GT(ba.size(), 100u);
        EXPECT_EQ(ba, bb);
        // The PNG holds exactly the pixels.
        auto dec = DecodeFile(pa);
        ASSERT_TRUE(dec.ok()) << dec.status().message();
        EXPECT_EQ(dec->width, a.image.width);
        EXPECT_EQ(dec->rgb, a.image.rgb);
      }
    }
    EXPECT_EQ(hashes.size(), 40u) << SynthTaskName(task) << ": seeds gave identical images";
  }
  // The same seed gives different images for different tasks.
  SynthSample c, s;
  ASSERT_TRUE(Synthesize(SynthTask::kColour, 7, {}, &c).ok());
  ASSERT_TRUE(Synthesize(SynthTask::kShape, 7, {}, &s).ok());
  EXPECT_NE(c.image.rgb, s.image.rgb);
  std::filesystem::remove_all(dir);
}

// Pins the output so that a change of platform, compiler or code that moves a pixel is seen.
// (The text task also depends on the FreeType release and font file: Debian 12's here.)
TEST(Synth, GoldenHashes) {
  const std::pair<SynthTask, const char*> want[] = {
      {SynthTask::kColour, "2a9c36043a5ff9d16a22d2cd6bb142389c376d762bd89e7aae75439b60ddf24b"},
      {SynthTask::kShape, "affaf27a87d7314cb56ff687b100f3d0281a69104bcc8411f6af9e541078d1f6"},
      {SynthTask::kCount, "4bc0fb35f48ce8349a7c4ef80a8f9c3a80562af53a9393c6a00294e8f33c52a9"},
      {SynthTask::kText, "f7cda91b0fcb379d2eac60681fbd8aad6682ce59fb7d5befac5f95b641d774c2"},
      {SynthTask::kDescribe, "4fce95c278c8398683a7f13b45cfad2f431a660eaf2086bc1d8b0ec1c863b902"}};
  for (const auto& [task, hex] : want) {
    SynthSample s;
    ASSERT_TRUE(Synthesize(task, 12345, {}, &s).ok());
    std::string all(s.image.rgb.begin(), s.image.rgb.end());
    all += s.truth_json;
    const std::string got = fastvlm::testing::Sha256Hex(all.data(), all.size());
    EXPECT_EQ(got, hex) << SynthTaskName(task) << ": " << s.truth_json;
  }
}

TEST(Synth, ColourMatchesPixels) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Parsed p = Make(SynthTask::kColour, seed);
    ASSERT_FALSE(p.truth.is_null());
    EXPECT_EQ(p.s.question, "What colour is the shape?");
    const View v{p.s.image, Rgb(p.truth["background"])};
    ASSERT_EQ(p.truth["objects"].size(), 1u);
    const json& o = p.truth["objects"][0];
    EXPECT_EQ(p.s.answer, o["colour"]);
    // The majority non-background colour of the whole image is the named colour's RGB.
    EXPECT_EQ(v.Majority(v.All()), Palette().at(p.s.answer)) << "seed " << seed;
    EXPECT_EQ(v.InkBox(v.All()), ToBox(o["bbox"]));
    CheckObject(v, o, "colour seed " + std::to_string(seed));
    seen.insert(p.s.answer);
  }
  EXPECT_EQ(seen.size(), Palette().size());
}

TEST(Synth, ShapeMatchesPixels) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Parsed p = Make(SynthTask::kShape, seed);
    ASSERT_FALSE(p.truth.is_null());
    EXPECT_EQ(p.s.question, "What shape is in the image?");
    const View v{p.s.image, Rgb(p.truth["background"])};
    ASSERT_EQ(p.truth["objects"].size(), 1u);
    const json& o = p.truth["objects"][0];
    EXPECT_EQ(p.s.answer, o["shape"]);
    EXPECT_EQ(v.InkBox(v.All()), ToBox(o["bbox"]));  // no ink anywhere else
    EXPECT_EQ(v.Components().size(), 1u) << "shape seed " << seed;
    CheckObject(v, o, "shape seed " + std::to_string(seed));
    seen.insert(p.s.answer);
  }
  EXPECT_EQ(seen.size(), Shapes().size());
}

TEST(Synth, CountMatchesConnectedComponents) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Parsed p = Make(SynthTask::kCount, seed);
    ASSERT_FALSE(p.truth.is_null());
    EXPECT_EQ(p.s.question, "How many objects are in the image?");
    const View v{p.s.image, Rgb(p.truth["background"])};
    const json& objs = p.truth["objects"];
    EXPECT_EQ(p.s.answer, std::to_string(objs.size()));
    std::vector<Box> comps = v.Components();
    ASSERT_EQ(std::to_string(comps.size()), p.s.answer) << "count seed " << seed;
    // Each component is exactly one listed object.
    std::vector<Box> listed;
    for (const json& o : objs) {
      listed.push_back(ToBox(o["bbox"]));
      CheckObject(v, o, "count seed " + std::to_string(seed));
      EXPECT_EQ(o["shape"], objs[0]["shape"]);
    }
    auto key = [](const Box& b) { return std::make_tuple(b.x0, b.y0, b.x1, b.y1); };
    auto less = [&](const Box& a, const Box& b) { return key(a) < key(b); };
    std::sort(comps.begin(), comps.end(), less);
    std::sort(listed.begin(), listed.end(), less);
    EXPECT_EQ(comps, listed) << "count seed " << seed;
    seen.insert(p.s.answer);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"1", "2", "3", "4", "5", "6"}));
}

TEST(Synth, CountRangeOption) {
  SynthOptions opt;
  opt.count_min = opt.count_max = 9;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SynthSample s;
    ASSERT_TRUE(Synthesize(SynthTask::kCount, seed, opt, &s).ok());
    EXPECT_EQ(s.answer, "9");
    const json t = json::parse(s.truth_json);
    EXPECT_EQ(View({s.image, Rgb(t["background"])}).Components().size(), 9u) << "seed " << seed;
  }
  opt.count_min = 3, opt.count_max = 2;
  SynthSample s;
  const Status st = Synthesize(SynthTask::kCount, 1, opt, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("3..2"), std::string::npos) << st.message();
}

TEST(Synth, TextMatchesPixels) {
  std::set<char> letters;
  std::set<size_t> lengths;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Parsed p = Make(SynthTask::kText, seed);
    ASSERT_FALSE(p.truth.is_null());
    const std::string where = "text seed " + std::to_string(seed) + " " + p.s.truth_json;
    EXPECT_EQ(p.s.question, "What text is written in the image?");
    const std::string& text = p.s.answer;
    ASSERT_GE(text.size(), 3u);
    ASSERT_LE(text.size(), 5u);
    for (char c : text) {
      ASSERT_TRUE(c >= 'A' && c <= 'Z') << where;
      letters.insert(c);
    }
    lengths.insert(text.size());
    EXPECT_EQ(p.truth["text"], text);
    EXPECT_EQ(p.truth["objects"].size(), 0u);
    const View v{p.s.image, Rgb(p.truth["background"])};
    const Box b = ToBox(p.truth["bbox"]);
    // All the ink, and only ink, within the bbox: the bbox is the ink's tight box.
    EXPECT_EQ(v.InkBox(v.All()), b) << where;
    // Large and dark: the darkest pixel is near the ink colour, letters at least 10% tall.
    const auto ink = Rgb(p.truth["rgb"]);
    EXPECT_LT(ink[0] + ink[1] + ink[2], 200);
    EXPECT_GE(b.h() * 10, 256) << where;
    // The letters are spaced: the ink's column projection splits into one run per letter, and
    // each run is that letter's listed x-range.
    std::vector<std::pair<int, int>> runs;
    for (int x = b.x0; x < b.x1; ++x) {
      bool any = false;
      for (int y = b.y0; y < b.y1 && !any; ++y) any = v.Ink(x, y);
      if (!any) continue;
      if (!runs.empty() && runs.back().second == x) runs.back().second = x + 1;
      else runs.push_back({x, x + 1});
    }
    ASSERT_EQ(runs.size(), text.size()) << where;
    const json& ls = p.truth["letters"];
    ASSERT_EQ(ls.size(), text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      EXPECT_EQ(ls[i]["char"], std::string(1, text[i]));
      const Box lb = ToBox(ls[i]["bbox"]);
      EXPECT_EQ(lb.x0, runs[i].first) << where;
      EXPECT_EQ(lb.x1, runs[i].second) << where;
      EXPECT_EQ(v.InkBox({runs[i].first, b.y0, runs[i].second, b.y1}), lb) << where;
      // Full-strength ink inside every letter.
      int full = 0;
      for (int y = lb.y0; y < lb.y1; ++y)
        for (int x = lb.x0; x < lb.x1; ++x) {
          const uint8_t* q = v.At(x, y);
          full += q[0] == ink[0] && q[1] == ink[1] && q[2] == ink[2];
        }
      EXPECT_GT(full, 10) << where << " letter " << i;
    }
  }
  EXPECT_EQ(letters.size(), 26u);
  EXPECT_EQ(lengths, (std::set<size_t>{3, 4, 5}));
}

TEST(Synth, DescribeMatchesPixels) {
  std::set<size_t> counts;
  std::set<std::string> sizes;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    Parsed p = Make(SynthTask::kDescribe, seed);
    ASSERT_FALSE(p.truth.is_null());
    const std::string where = "describe seed " + std::to_string(seed);
    EXPECT_EQ(p.s.question, "Describe the image.");
    const View v{p.s.image, Rgb(p.truth["background"])};
    const json& objs = p.truth["objects"];
    ASSERT_GE(objs.size(), 1u);
    ASSERT_LE(objs.size(), 3u);
    counts.insert(objs.size());
    EXPECT_EQ(v.Components().size(), objs.size()) << where;
    std::string sentence;
    int covered = 0;
    for (size_t i = 0; i < objs.size(); ++i) {
      const json& o = objs[i];
      CheckObject(v, o, where);
      sizes.insert(o["size"].get<std::string>());
      if (i > 0) {
        sentence += i + 1 == objs.size() ? " and " : ", ";
        EXPECT_LE(ToBox(objs[i - 1]["bbox"]).x0, ToBox(o["bbox"]).x0) << "left to right";
      }
      sentence += "a " + o["size"].get<std::string>() + " " + o["colour"].get<std::string>() + " " +
                  o["shape"].get<std::string>();
      const Box b = ToBox(o["bbox"]);
      for (int y = b.y0; y < b.y1; ++y)
        for (int x = b.x0; x < b.x1; ++x) covered += v.Ink(x, y);
    }
    EXPECT_EQ(p.s.answer, sentence) << where;
    // No ink outside the listed objects.
    int total = 0;
    for (int y = 0; y < 256; ++y)
      for (int x = 0; x < 256; ++x) total += v.Ink(x, y);
    EXPECT_EQ(covered, total) << where;
  }
  EXPECT_EQ(counts, (std::set<size_t>{1, 2, 3}));
  EXPECT_EQ(sizes, (std::set<std::string>{"small", "large"}));
}

TEST(Synth, OtherSizes) {
  for (int size : {32, 48, 100, 333, 1024}) {
    for (SynthTask task : AllSynthTasks()) {
      for (uint64_t seed = 0; seed < (size > 500 ? 2u : 20u); ++seed) {
        Parsed p = Make(task, seed, size);
        ASSERT_FALSE(p.truth.is_null()) << size;
        const View v{p.s.image, Rgb(p.truth["background"])};
        const json& objs = p.truth["objects"];
        if (task == SynthTask::kText) {
          EXPECT_EQ(v.InkBox(v.All()), ToBox(p.truth["bbox"]));
        } else {
          EXPECT_EQ(v.Components().size(), objs.size()) << SynthTaskName(task) << " " << size;
          for (const json& o : objs) {
            const Box b = ToBox(o["bbox"]);
            EXPECT_EQ(v.InkBox(b), b);
            // Tiny objects may have no pixel fully inside.
            if (std::min(b.w(), b.h()) >= 12) {
              EXPECT_EQ(v.Majority(b), Rgb(o["rgb"])) << size;
            }
          }
        }
      }
    }
  }
}

TEST(Synth, BadOptions) {
  SynthSample s;
  SynthOptions opt;
  opt.size = 31;
  Status st = Synthesize(SynthTask::kShape, 1, opt, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("31"), std::string::npos) << st.message();
  opt.size = 4097;
  EXPECT_FALSE(Synthesize(SynthTask::kShape, 1, opt, &s).ok());
}

TEST(Synth, BadFontIsAClearError) {
  SynthSample s;
  SynthOptions opt;
  opt.font_path = "/no/such/dir/NoFont.ttf";
  Status st = Synthesize(SynthTask::kText, 1, opt, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/no/such/dir/NoFont.ttf"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("fonts-dejavu-core"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--font"), std::string::npos) << st.message();
  EXPECT_FALSE(CheckSynthFont(opt).ok());
  // Other tasks do not need the font.
  EXPECT_TRUE(Synthesize(SynthTask::kShape, 1, opt, &s).ok());
  // A file that is not a font.
  const std::string junk = ::testing::TempDir() + "/synth_not_a_font.ttf";
  {
    std::ofstream f(junk, std::ios::binary);
    f << "this is not a font file, just some text that FreeType must refuse";
  }
  opt.font_path = junk;
  st = Synthesize(SynthTask::kText, 1, opt, &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(junk), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("cannot read"), std::string::npos) << st.message();
  std::remove(junk.c_str());
  // The default font is installed here (scripts/setup.sh).
  EXPECT_TRUE(CheckSynthFont({}).ok()) << CheckSynthFont({}).message();
}

TEST(Synth, WritePngErrorsNameThePath) {
  SynthSample s;
  ASSERT_TRUE(Synthesize(SynthTask::kShape, 1, {}, &s).ok());
  const std::string bad = "/no/such/dir/out.png";
  const Status st = WritePng(s.image, bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(bad), std::string::npos) << st.message();
  Image empty;
  EXPECT_FALSE(WritePng(empty, ::testing::TempDir() + "/synth_empty.png").ok());
}

}  // namespace
}  // namespace fastvlm::image
