// Synthetic benchmark images: see synth.h for the tasks, palette, shapes and truth format.
// Everything that decides a pixel is integer arithmetic (the one sqrt is corrected to the exact
// integer square root), so x86-64 and aarch64 give identical images.
#include "image/synth.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

namespace fastvlm::image {

const char* const kDefaultFontPaths[2] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                                          "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"};

namespace {

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64 (Steele, Lea, Flood 2014). Uniform integers by modulo: the bias (< n / 2^64)
// is irrelevant here and the result is the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive).
  int Range(int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t s_;
};

uint64_t Mix(uint64_t x) { return Rng(x).Next(); }

// ---------------------------------------------------------------------------------------------
// Colours and shapes.
struct Rgb {
  uint8_t r, g, b;
};
struct NamedColour {
  const char* name;
  Rgb rgb;
};
constexpr NamedColour kPalette[] = {
    {"red", {230, 25, 25}},     {"green", {30, 160, 50}},   {"blue", {30, 70, 220}},
    {"yellow", {245, 205, 0}},  {"orange", {255, 135, 0}},  {"purple", {130, 50, 180}},
    {"pink", {245, 110, 190}},  {"black", {0, 0, 0}},
};
constexpr int kNumColours = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr NamedColour kBackgrounds[] = {{"white", {255, 255, 255}}, {"light grey", {230, 230, 230}}};
constexpr NamedColour kInks[] = {{"black", {0, 0, 0}}, {"navy", {20, 30, 110}},
                                 {"dark red", {120, 20, 20}}};

enum class Shape { kCircle, kSquare, kTriangle, kStar, kDiamond, kHexagon, kCross };
constexpr const char* kShapeNames[] = {"circle", "square", "triangle", "star",
                                       "diamond", "hexagon", "cross"};
constexpr int kNumShapes = 7;

// Polygon vertices in units of 1/10000 of the shape's extent (the side of its square box), the
// shape centred in the box and touching it on its longer axis. The star and hexagon coordinates
// are round(10000 * (cos, sin)) of their regular angles, computed once offline.
struct Pt {
  int64_t x, y;
};
constexpr Pt kSquareVerts[] = {{0, 0}, {10000, 0}, {10000, 10000}, {0, 10000}};
constexpr Pt kTriangleVerts[] = {{5000, 670}, {10000, 9330}, {0, 9330}};  // equilateral
constexpr Pt kStarVerts[] = {{5000, 245},  {6180, 3877}, {10000, 3877}, {6910, 6123},
                             {8090, 9755}, {5000, 7510}, {1910, 9755},  {3090, 6123},
                             {0, 3877},    {3820, 3877}};  // inner radius 0.382 of the outer
constexpr Pt kDiamondVerts[] = {{5000, 0}, {10000, 5000}, {5000, 10000}, {0, 5000}};
constexpr Pt kHexagonVerts[] = {{5000, 0},     {9330, 2500}, {9330, 7500},
                                {5000, 10000}, {670, 7500},  {670, 2500}};
constexpr Pt kCrossVerts[] = {{3333, 0},     {6667, 0},     {6667, 3333}, {10000, 3333},
                              {10000, 6667}, {6667, 6667},  {6667, 10000}, {3333, 10000},
                              {3333, 6667},  {0, 6667},     {0, 3333},    {3333, 3333}};

// Sub-pixel units: 64 per pixel. Sample (i, j) of pixel (x, y) sits at (64x + 8 + 16i, 64y + 8 +
// 16j): a 4x4 grid at the centres of the pixel's sixteenths.
constexpr int64_t kSub = 64;
constexpr int kSamples = 4;

int64_t FloorDiv(int64_t a, int64_t b) {  // b > 0
  int64_t q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return q;
}

int64_t ISqrt(int64_t n) {  // exact floor(sqrt(n)) for 0 <= n < 2^52
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 0 && r * r > n) --r;
  while ((r + 1) * (r + 1) <= n) ++r;
  return r;
}

struct Object {
  Shape shape;
  int colour;      // index into kPalette
  int x, y, d;     // geometric box [x, x+d) x [y, y+d) in pixels
  int bbox[4] = {0, 0, 0, 0};  // drawn pixels, x1/y1 exclusive
};

// Draws `o` onto `img` (anti-aliased, 4x4 samples) and records the drawn bbox in o->bbox.
void DrawObject(Object* o, const Rgb& fg, Image* img) {
  const int d = o->d;
  std::vector<uint8_t> cov(static_cast<size_t>(d) * d, 0);
  const int64_t ox = o->x * kSub, oy = o->y * kSub;

  const Pt* verts = nullptr;
  int nverts = 0;
  switch (o->shape) {
    case Shape::kCircle: break;
    case Shape::kSquare: verts = kSquareVerts, nverts = 4; break;
    case Shape::kTriangle: verts = kTriangleVerts, nverts = 3; break;
    case Shape::kStar: verts = kStarVerts, nverts = 10; break;
    case Shape::kDiamond: verts = kDiamondVerts, nverts = 4; break;
    case Shape::kHexagon: verts = kHexagonVerts, nverts = 6; break;
    case Shape::kCross: verts = kCrossVerts, nverts = 12; break;
  }
  std::vector<Pt> poly(nverts);
  for (int i = 0; i < nverts; ++i) {
    poly[i].x = ox + (verts[i].x * d * kSub + 5000) / 10000;
    poly[i].y = oy + (verts[i].y * d * kSub + 5000) / 10000;
  }

  std::vector<int64_t> xs;
  std::vector<std::pair<int64_t, int64_t>> spans;  // inclusive [lo, hi] in sub-pixel units
  for (int row = 0; row < d * kSamples; ++row) {
    const int64_t sy = oy + 8 + 16 * row;
    spans.clear();
    if (o->shape == Shape::kCircle) {
      const int64_t r = d * kSub / 2, cx = ox + r, dy = sy - (oy + r);
      if (dy * dy <= r * r) {
        const int64_t s = ISqrt(r * r - dy * dy);
        spans.push_back({cx - s, cx + s});
      }
    } else {
      // Even-odd scanline fill; an edge spans [min y, max y) so shared vertices count once.
      xs.clear();
      for (int i = 0; i < nverts; ++i) {
        const Pt a = poly[i], b = poly[(i + 1) % nverts];
        if (a.y == b.y) continue;
        if (sy < std::min(a.y, b.y) || sy >= std::max(a.y, b.y)) continue;
        const Pt& lo = a.y < b.y ? a : b;
        const Pt& hi = a.y < b.y ? b : a;
        xs.push_back(lo.x + FloorDiv((sy - lo.y) * (hi.x - lo.x), hi.y - lo.y));
      }
      std::sort(xs.begin(), xs.end());
      for (size_t i = 0; i + 1 < xs.size(); i += 2) spans.push_back({xs[i] + 1, xs[i + 1]});
    }
    const int py = row / kSamples;
    for (const auto& [lo, hi] : spans) {
      // Samples at 16k + 8 (k: global sample column) with lo <= 16k + 8 <= hi.
      int64_t k0 = -FloorDiv(-(lo - 8), 16), k1 = FloorDiv(hi - 8, 16);
      k0 = std::max<int64_t>(k0, int64_t{o->x} * kSamples);
      k1 = std::min<int64_t>(k1, int64_t{o->x + d} * kSamples - 1);
      for (int64_t k = k0; k <= k1; ++k) ++cov[static_cast<size_t>(py) * d + (k / kSamples - o->x)];
    }
  }

  int x0 = img->width, y0 = img->height, x1 = -1, y1 = -1;
  for (int j = 0; j < d; ++j) {
    const int y = o->y + j;
    if (y < 0 || y >= img->height) continue;
    for (int i = 0; i < d; ++i) {
      const int x = o->x + i;
      const int n = cov[static_cast<size_t>(j) * d + i];
      if (n == 0 || x < 0 || x >= img->width) continue;
      uint8_t* p = &img->rgb[3 * (static_cast<size_t>(y) * img->width + x)];
      p[0] = static_cast<uint8_t>((p[0] * (16 - n) + fg.r * n + 8) / 16);
      p[1] = static_cast<uint8_t>((p[1] * (16 - n) + fg.g * n + 8) / 16);
      p[2] = static_cast<uint8_t>((p[2] * (16 - n) + fg.b * n + 8) / 16);
      x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
    }
  }
  if (x1 < 0) x0 = y0 = x1 = y1 = 0;
  o->bbox[0] = x0, o->bbox[1] = y0, o->bbox[2] = x1, o->bbox[3] = y1;
}

// Random non-overlapping positions for boxes of the given extents, at least `gap` pixels apart and
// `margin` from the border. Tries many random layouts; false if none fits.
bool Layout(Rng& rng, int size, int margin, int gap, std::vector<Object>* objs) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    bool ok = true;
    for (size_t i = 0; i < objs->size() && ok; ++i) {
      Object& o = (*objs)[i];
      ok = false;
      for (int t = 0; t < 200 && !ok; ++t) {
        o.x = rng.Range(margin, size - margin - o.d);
        o.y = rng.Range(margin, size - margin - o.d);
        ok = true;
        for (size_t j = 0; j < i && ok; ++j) {
          const Object& p = (*objs)[j];
          const bool apart = o.x >= p.x + p.d + gap || p.x >= o.x + o.d + gap ||
                             o.y >= p.y + p.d + gap || p.y >= o.y + o.d + gap;
          ok = apart;
        }
      }
    }
    if (ok) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Compact JSON, keys in insertion order (all strings here are ASCII).
class Json {
 public:
  Json& Key(const char* k) {
    Sep();
    Quote(k);
    s_ += ':';
    fresh_ = true;  // no comma before the value
    return *this;
  }
  Json& Str(const std::string& v) {
    Sep();
    Quote(v);
    return *this;
  }
  Json& Int(int64_t v) {
    Sep();
    s_ += std::to_string(v);
    return *this;
  }
  Json& U64(uint64_t v) {
    Sep();
    s_ += std::to_string(v);
    return *this;
  }
  Json& Open(char c) {
    Sep();
    s_ += c;
    fresh_ = true;
    return *this;
  }
  Json& Close(char c) {
    s_ += c;
    fresh_ = false;
    return *this;
  }
  Json& Rgb3(const Rgb& c) { return Open('[').Int(c.r).Int(c.g).Int(c.b).Close(']'); }
  Json& Box(const int* b) { return Open('[').Int(b[0]).Int(b[1]).Int(b[2]).Int(b[3]).Close(']'); }
  const std::string& str() const { return s_; }

 private:
  void Quote(const std::string& v) {
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') s_ += '\\';
      s_ += c;
    }
    s_ += '"';
  }
  void Sep() {
    if (!fresh_) s_ += ',';
    fresh_ = false;
  }
  std::string s_;
  bool fresh_ = true;
};

Image Blank(int size, const Rgb& bg) {
  Image img;
  img.width = img.height = size;
  img.rgb.resize(static_cast<size_t>(size) * size * 3);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = bg.r, img.rgb[i + 1] = bg.g, img.rgb[i + 2] = bg.b;
  }
  return img;
}

const char* SizeWord(const Object& o, int size) { return 4 * o.d >= size ? "large" : "small"; }

void ObjectsJson(const std::vector<Object>& objs, int size, Json* j) {
  j->Key("objects").Open('[');
  for (const Object& o : objs) {
    j->Open('{');
    j->Key("shape").Str(kShapeNames[static_cast<int>(o.shape)]);
    j->Key("colour").Str(kPalette[o.colour].name);
    j->Key("rgb").Rgb3(kPalette[o.colour].rgb);
    j->Key("bbox").Box(o.bbox);
    j->Key("size").Str(SizeWord(o, size));
    j->Close('}');
  }
  j->Close(']');
}

// ---------------------------------------------------------------------------------------------
// FreeType: one library and a face per font file for the process, used under a lock (FreeType
// objects are not thread-safe).
std::mutex g_ft_mu;
FT_Library g_ft = nullptr;
std::map<std::string, FT_Face> g_faces;

std::string FontHelp() {
  return "install Debian's fonts-dejavu-core (apt-get install fonts-dejavu-core) or pass --font "
         "PATH to a TrueType font";
}

// Resolves the font path (the default list when empty). Caller holds g_ft_mu.
StatusOr<FT_Face> OpenFace(const std::string& requested, std::string* used) {
  std::string path = requested;
  if (path.empty()) {
    for (const char* p : kDefaultFontPaths) {
      if (access(p, R_OK) == 0) {
        path = p;
        break;
      }
    }
    if (path.empty()) {
      return Status::Error("the text task needs a font: neither %s nor %s exists; %s",
                           kDefaultFontPaths[0], kDefaultFontPaths[1], FontHelp().c_str());
    }
  }
  *used = path;
  if (auto it = g_faces.find(path); it != g_faces.end()) return it->second;
  if (access(path.c_str(), R_OK) != 0) {
    return Status::Error("font file %s: %s; %s", path.c_str(), std::strerror(errno),
                         FontHelp().c_str());
  }
  if (!g_ft && FT_Init_FreeType(&g_ft) != 0) {
    g_ft = nullptr;
    return Status::Error("cannot initialise FreeType");
  }
  FT_Face face = nullptr;
  if (FT_New_Face(g_ft, path.c_str(), 0, &face) != 0) {
    return Status::Error("font file %s: FreeType cannot read it (not a TrueType/OpenType font?); %s",
                         path.c_str(), FontHelp().c_str());
  }
  g_faces[path] = face;
  return face;
}

struct Glyph {
  char c;
  int w = 0, h = 0;        // ink box size
  int left = 0, top = 0;   // ink box offset: x from the pen, y from the baseline (up negative)
  std::vector<uint8_t> a;  // coverage 0..255 over the ink box
};

// Renders `c` at `px` pixels per em, unhinted, anti-aliased; trims blank rows/columns.
Status RenderGlyph(FT_Face face, int px, char c, Glyph* g) {
  if (FT_Set_Pixel_Sizes(face, 0, px) != 0) return Status::Error("FreeType: cannot set size %d", px);
  if (FT_Load_Char(face, static_cast<unsigned char>(c),
                   FT_LOAD_RENDER | FT_LOAD_NO_HINTING | FT_LOAD_TARGET_NORMAL) != 0) {
    return Status::Error("FreeType: cannot render '%c'", c);
  }
  const FT_Bitmap& bm = face->glyph->bitmap;
  if (bm.pixel_mode != FT_PIXEL_MODE_GRAY) return Status::Error("FreeType: not a grayscale bitmap");
  const int rows = static_cast<int>(bm.rows), cols = static_cast<int>(bm.width);
  const int pitch = bm.pitch < 0 ? -bm.pitch : bm.pitch;
  auto at = [&](int r, int x) -> int {
    const int rr = bm.pitch < 0 ? rows - 1 - r : r;
    return bm.num_grays == 256 ? bm.buffer[rr * pitch + x]
                               : bm.buffer[rr * pitch + x] * 255 / (bm.num_grays - 1);
  };
  int r0 = rows, r1 = -1, c0 = cols, c1 = -1;
  for (int r = 0; r < rows; ++r)
    for (int x = 0; x < cols; ++x)
      if (at(r, x) > 0) r0 = std::min(r0, r), r1 = std::max(r1, r), c0 = std::min(c0, x), c1 = std::max(c1, x);
  g->c = c;
  if (r1 < 0) {
    g->w = g->h = 0;
    return Status::Ok();
  }
  g->w = c1 - c0 + 1, g->h = r1 - r0 + 1;
  g->left = face->glyph->bitmap_left + c0;
  g->top = -face->glyph->bitmap_top + r0;
  g->a.resize(static_cast<size_t>(g->w) * g->h);
  for (int r = 0; r < g->h; ++r)
    for (int x = 0; x < g->w; ++x) g->a[static_cast<size_t>(r) * g->w + x] = at(r0 + r, c0 + x);
  return Status::Ok();
}

std::string Basename(const std::string& p) {
  const size_t k = p.find_last_of('/');
  return k == std::string::npos ? p : p.substr(k + 1);
}

// ---------------------------------------------------------------------------------------------
constexpr const char* kQuestions[] = {"What colour is the shape?", "What shape is in the image?",
                                      "How many objects are in the image?",
                                      "What text is written in the image?", "Describe the image."};

void Header(SynthTask task, uint64_t seed, int size, const SynthSample& s, const Rgb& bg, Json* j) {
  j->Open('{');
  j->Key("task").Str(SynthTaskName(task));
  j->Key("seed").U64(seed);
  j->Key("size").Int(size);
  j->Key("question").Str(s.question);
  j->Key("answer").Str(s.answer);
  j->Key("background").Rgb3(bg);
}

Status SynthShapes(SynthTask task, uint64_t seed, const SynthOptions& opt, Rng& rng, const Rgb& bg,
                   SynthSample* out) {
  const int size = opt.size;
  const int margin = std::max(1, size / 64), gap = std::max(2, size / 64);
  std::vector<Object> objs;
  auto pct = [&](int p) { return std::max(6, size * p / 100); };  // >= 6 px: a solid interior
  bool placed = false;
  for (int round = 0; round < 100 && !placed; ++round) {
    objs.clear();
    if (task == SynthTask::kColour || task == SynthTask::kShape) {
      Object o{};
      o.shape = static_cast<Shape>(rng.Range(0, kNumShapes - 1));
      o.colour = rng.Range(0, kNumColours - 1);
      o.d = task == SynthTask::kColour ? rng.Range(pct(25), pct(60)) : rng.Range(pct(20), pct(75));
      objs.push_back(o);
    } else if (task == SynthTask::kCount) {
      const int n = rng.Range(opt.count_min, opt.count_max);
      const Shape shape = static_cast<Shape>(rng.Range(0, kNumShapes - 1));
      const int hi = opt.count_max <= 6 ? 22 : std::max(12, 22 - 2 * (opt.count_max - 6));
      for (int i = 0; i < n; ++i) {
        Object o{};
        o.shape = shape;
        o.colour = rng.Range(0, kNumColours - 1);
        o.d = rng.Range(pct(10), pct(hi));
        objs.push_back(o);
      }
    } else {  // describe
      const int n = rng.Range(1, 3);
      for (int i = 0; i < n; ++i) {
        Object o{};
        o.shape = static_cast<Shape>(rng.Range(0, kNumShapes - 1));
        o.colour = rng.Range(0, kNumColours - 1);
        o.d = rng.Range(0, 1) ? rng.Range(pct(28), pct(40)) : rng.Range(pct(10), pct(17));
        objs.push_back(o);
      }
    }
    placed = Layout(rng, size, margin, gap, &objs);
  }
  if (!placed) {
    return Status::Error("%s seed %llu: could not place the objects in a %dx%d image",
                         SynthTaskName(task), static_cast<unsigned long long>(seed), size, size);
  }
  out->image = Blank(size, bg);
  for (Object& o : objs) DrawObject(&o, kPalette[o.colour].rgb, &out->image);
  if (task == SynthTask::kDescribe) {  // left to right by the drawn bbox
    std::stable_sort(objs.begin(), objs.end(), [](const Object& a, const Object& b) {
      return a.bbox[0] != b.bbox[0] ? a.bbox[0] < b.bbox[0] : a.bbox[1] < b.bbox[1];
    });
  }

  switch (task) {
    case SynthTask::kColour: out->answer = kPalette[objs[0].colour].name; break;
    case SynthTask::kShape: out->answer = kShapeNames[static_cast<int>(objs[0].shape)]; break;
    case SynthTask::kCount: out->answer = std::to_string(objs.size()); break;
    default: {
      std::string s;
      for (size_t i = 0; i < objs.size(); ++i) {
        if (i > 0) s += i + 1 == objs.size() ? " and " : ", ";
        s += std::string("a ") + SizeWord(objs[i], size) + " " + kPalette[objs[i].colour].name +
             " " + kShapeNames[static_cast<int>(objs[i].shape)];
      }
      out->answer = s;
    }
  }
  Json j;
  Header(task, seed, size, *out, bg, &j);
  ObjectsJson(objs, size, &j);
  j.Close('}');
  out->truth_json = j.str();
  return Status::Ok();
}

Status SynthText(uint64_t seed, const SynthOptions& opt, Rng& rng, const Rgb& bg,
                 SynthSample* out) {
  const int size = opt.size;
  const int margin = std::max(1, size / 32);
  const int n = rng.Range(3, 5);
  std::string text;
  for (int i = 0; i < n; ++i) text += static_cast<char>('A' + rng.Range(0, 25));
  const NamedColour& ink = kInks[rng.Range(0, 2)];
  // DejaVu's cap height is 0.729 em: px = cap / 0.73.
  int px = std::max(4, size * rng.Range(10, 20) / 73);

  std::lock_guard<std::mutex> lock(g_ft_mu);
  std::string font_path;
  StatusOr<FT_Face> face = OpenFace(opt.font_path, &font_path);
  if (!face.ok()) return face.status();
  std::vector<Glyph> glyphs(n);
  int gap = 0, width = 0;
  for (;;) {
    gap = std::max(2, px / 6);
    width = gap * (n - 1);
    for (int i = 0; i < n; ++i) {
      RETURN_IF_ERROR(RenderGlyph(*face, px, text[i], &glyphs[i]));
      if (glyphs[i].w == 0) {
        return Status::Error("text seed %llu: '%c' has no ink at %d px in %s (image size %d too "
                             "small?)",
                             static_cast<unsigned long long>(seed), text[i], px,
                             font_path.c_str(), size);
      }
      width += glyphs[i].w;
    }
    if (width <= size - 2 * margin) break;
    if (px <= 4) {
      return Status::Error("text seed %llu: \"%s\" does not fit in a %dx%d image",
                           static_cast<unsigned long long>(seed), text.c_str(), size, size);
    }
    px = std::max(4, px * 9 / 10);
  }
  int top = 0, bottom = 0;  // ink rows relative to the baseline, [top, bottom)
  for (int i = 0; i < n; ++i) {
    top = i ? std::min(top, glyphs[i].top) : glyphs[i].top;
    bottom = i ? std::max(bottom, glyphs[i].top + glyphs[i].h) : glyphs[i].top + glyphs[i].h;
  }
  const int height = bottom - top;
  if (height > size - 2 * margin) return Status::Error("text does not fit in a %dx%d image", size, size);
  const int x0 = rng.Range(margin, size - margin - width);
  const int y0 = rng.Range(margin, size - margin - height);
  const int baseline = y0 - top;

  out->image = Blank(size, bg);
  Image& img = out->image;
  std::vector<std::array<int, 4>> boxes(n);
  int bx0 = size, by0 = size, bx1 = 0, by1 = 0;
  int x = x0;
  for (int i = 0; i < n; ++i) {
    const Glyph& g = glyphs[i];
    const int gy = baseline + g.top;
    int lx0 = size, ly0 = size, lx1 = 0, ly1 = 0;
    for (int r = 0; r < g.h; ++r) {
      for (int c = 0; c < g.w; ++c) {
        const int a = g.a[static_cast<size_t>(r) * g.w + c];
        if (a == 0) continue;
        const int px_x = x + c, px_y = gy + r;
        uint8_t* p = &img.rgb[3 * (static_cast<size_t>(px_y) * size + px_x)];
        p[0] = static_cast<uint8_t>((p[0] * (255 - a) + ink.rgb.r * a + 127) / 255);
        p[1] = static_cast<uint8_t>((p[1] * (255 - a) + ink.rgb.g * a + 127) / 255);
        p[2] = static_cast<uint8_t>((p[2] * (255 - a) + ink.rgb.b * a + 127) / 255);
        lx0 = std::min(lx0, px_x), ly0 = std::min(ly0, px_y);
        lx1 = std::max(lx1, px_x + 1), ly1 = std::max(ly1, px_y + 1);
      }
    }
    boxes[i] = {lx0, ly0, lx1, ly1};
    bx0 = std::min(bx0, lx0), by0 = std::min(by0, ly0), bx1 = std::max(bx1, lx1),
    by1 = std::max(by1, ly1);
    x += g.w + gap;
  }
  out->answer = text;
  Json j;
  Header(SynthTask::kText, seed, size, *out, bg, &j);
  j.Key("objects").Open('[').Close(']');
  j.Key("text").Str(text);
  j.Key("rgb").Rgb3(ink.rgb);
  j.Key("font").Str(Basename(font_path));
  j.Key("font_px").Int(px);
  const int bbox[4] = {bx0, by0, bx1, by1};
  j.Key("bbox").Box(bbox);
  j.Key("letters").Open('[');
  for (int i = 0; i < n; ++i) {
    j.Open('{').Key("char").Str(std::string(1, text[i])).Key("bbox").Box(boxes[i].data()).Close('}');
  }
  j.Close(']').Close('}');
  out->truth_json = j.str();
  return Status::Ok();
}

}  // namespace

const char* SynthTaskName(SynthTask t) {
  switch (t) {
    case SynthTask::kColour: return "colour";
    case SynthTask::kShape: return "shape";
    case SynthTask::kCount: return "count";
    case SynthTask::kText: return "text";
    case SynthTask::kDescribe: return "describe";
  }
  return "?";
}

bool ParseSynthTask(const std::string& s, SynthTask* t) {
  std::string low = s;
  for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (low == "color") low = "colour";
  for (SynthTask k : AllSynthTasks()) {
    if (low == SynthTaskName(k)) {
      *t = k;
      return true;
    }
  }
  return false;
}

bool ParseSynthTaskList(const std::string& arg, std::vector<SynthTask>* out) {
  out->clear();
  if (arg == "all") {
    *out = AllSynthTasks();
    return true;
  }
  size_t start = 0;
  while (start <= arg.size()) {
    const size_t comma = std::min(arg.find(',', start), arg.size());
    SynthTask t;
    if (!ParseSynthTask(arg.substr(start, comma - start), &t)) return false;
    if (std::find(out->begin(), out->end(), t) == out->end()) out->push_back(t);
    start = comma + 1;
  }
  return !out->empty();
}

std::vector<SynthTask> AllSynthTasks() {
  return {SynthTask::kColour, SynthTask::kShape, SynthTask::kCount, SynthTask::kText,
          SynthTask::kDescribe};
}

Status CheckSynthFont(const SynthOptions& opt) {
  std::lock_guard<std::mutex> lock(g_ft_mu);
  std::string used;
  StatusOr<FT_Face> face = OpenFace(opt.font_path, &used);
  return face.status();
}

Status Synthesize(SynthTask task, uint64_t seed, const SynthOptions& opt, SynthSample* out) {
  if (opt.size < 32 || opt.size > 4096)
    return Status::Error("image size %d: must be between 32 and 4096 pixels", opt.size);
  if (opt.count_min < 1 || opt.count_max > 9 || opt.count_min > opt.count_max) {
    return Status::Error("object count range %d..%d: need 1 <= min <= max <= 9", opt.count_min,
                         opt.count_max);
  }
  // The task is mixed into the state so each task draws an independent stream for the same seed.
  Rng rng(Mix(seed) ^ Mix(0xC0FFEEull + static_cast<uint64_t>(task)));
  *out = SynthSample{};
  out->question = kQuestions[static_cast<int>(task)];
  const Rgb bg = kBackgrounds[rng.Range(0, 1)].rgb;
  if (task == SynthTask::kText) return SynthText(seed, opt, rng, bg, out);
  return SynthShapes(task, seed, opt, rng, bg, out);
}

// ---------------------------------------------------------------------------------------------
namespace {
struct PngWriteCtx {
  char message[256] = "";
};
void PngErrorFn(png_structp png, png_const_charp msg) {
  auto* c = static_cast<PngWriteCtx*>(png_get_error_ptr(png));
  std::snprintf(c->message, sizeof(c->message), "%s", msg);
  png_longjmp(png, 1);
}
void PngWarningFn(png_structp, png_const_charp) {}
}  // namespace

Status WritePng(const Image& img, const std::string& path) {
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) {
    return Status::Error("%s: cannot write a %dx%d image with %zu bytes as RGB", path.c_str(),
                         img.width, img.height, img.rgb.size());
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::Error("cannot write %s: %s", path.c_str(), std::strerror(errno));
  PngWriteCtx ctx;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, PngErrorFn, PngWarningFn);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    return Status::Error("cannot write %s: out of memory", path.c_str());
  }
  std::vector<png_bytep> rows(img.height);
  for (int y = 0; y < img.height; ++y)
    rows[y] = const_cast<png_bytep>(&img.rgb[static_cast<size_t>(y) * img.width * 3]);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    std::remove(path.c_str());
    return Status::Error("cannot write %s: libpng: %s", path.c_str(), ctx.message);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, img.width, img.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  const bool write_error = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || write_error) {
    const int err = errno;
    std::remove(path.c_str());
    return Status::Error("cannot write %s: %s", path.c_str(), std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace fastvlm::image
