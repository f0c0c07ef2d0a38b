// Deterministic synthetic test images with exact ground truth, for the benchmark's five tasks
// (colour identification, shape recognition, object counting, text reading, short description)
// and for question/answer training pairs over them.
//
// Determinism: the same (task, seed, options) gives the same pixels, question, answer and truth
// JSON on every platform. The generator uses its own PRNG (splitmix64; no std:: distributions,
// which differ between standard libraries), shapes are rasterized with integer geometry only
// (hard-coded vertex tables, no sin/cos), and anti-aliasing blends with integer arithmetic. Text
// is rendered by FreeType without hinting (FT_LOAD_NO_HINTING), so it depends only on the font
// file and FreeType's integer rasterizer; a different font file or FreeType release may move
// glyph pixels. PNG bytes depend on the zlib build too (the pixels never do).
//
// Geometry conventions: pixel (x, y) covers [x, x+1) x [y, y+1); coverage is measured at 4x4
// sub-samples per pixel, blended as out = (bg * (16 - n) + fg * n + 8) / 16 for n samples inside.
// Every bbox in the truth is [x0, y0, x1, y1] with x1, y1 EXCLUSIVE (Pillow's getbbox convention)
// and is measured from the pixels actually changed by that object (coverage > 0).
//
// Palette (named colours, RGB), used for every shape:
//   red (230, 25, 25)     green (30, 160, 50)    blue (30, 70, 220)     yellow (245, 205, 0)
//   orange (255, 135, 0)  purple (130, 50, 180)  pink (245, 110, 190)   black (0, 0, 0)
// Backgrounds: white (255, 255, 255) or light grey (230, 230, 230).
// Text ink colours: black (0, 0, 0), navy (20, 30, 110), dark red (120, 20, 20).
//
// Shapes, all upright (never rotated, so square and diamond stay distinct), with the fraction of
// their bounding box they fill: circle (pi/4 = 0.785), square (1), triangle (equilateral, apex
// up, 1/2), star (five points, apex up, 0.326), diamond (square on its corner, 1/2), hexagon
// (regular, pointy top, 3/4), cross (plus sign, arms 1/3 of the extent, 5/9).
//
// Tasks (question / answer):
//   colour    one shape of a random palette colour, extent 25-60% of the image.
//             "What colour is the shape?" / the colour name, e.g. "red".
//   shape     one shape of a random palette colour, extent 20-75% of the image.
//             "What shape is in the image?" / the shape name, e.g. "circle".
//   count     count_min..count_max (default 1..6) non-overlapping copies of ONE shape type, each in
//             its own random palette colour (colours may repeat), extents 10-22% of the image,
//             at least 2 px apart. "How many objects are in the image?" / the digit(s), e.g. "4".
//   text      3-5 random capital letters A-Z in one dark ink colour, DejaVu Sans Bold, cap height
//             about 10-20% of the image (less when the letters would not fit the width), letters
//             spaced apart (their ink never shares a column), on one baseline. "What text is written in the image?" / the letters, e.g. "KXQ".
//   describe  1-3 non-overlapping objects, each a random colour, shape and size: "small" (extent
//             10-17% of the image) or "large" (28-40%). Objects are listed left to right (by
//             bbox x0, then y0). "Describe the image." / e.g. "a large red circle and a small blue
//             square"; three: "a small green star, a large black cross and a small pink hexagon".
//
// Truth JSON (compact, one line, keys in this order):
//   {"task","seed","size","question","answer","background":[r,g,b],"objects":[{"shape","colour",
//    "rgb":[r,g,b],"bbox":[x0,y0,x1,y1],"size":"small|large"},...]}
// An object is "large" when its extent (the larger side of its geometric box) is at least 25% of
// the image size, else "small". For text, "objects" is [] and these follow:
//   "text":"KXQ","rgb":[r,g,b],"font":"DejaVuSans-Bold.ttf","font_px":N,"bbox":[...],
//   "letters":[{"char":"K","bbox":[...]},...]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/image.h"

namespace fastvlm::image {

enum class SynthTask { kColour, kShape, kCount, kText, kDescribe };

// "colour", "shape", "count", "text", "describe".
const char* SynthTaskName(SynthTask t);
// Case-insensitive; also accepts "color".
bool ParseSynthTask(const std::string& s, SynthTask* t);
// "all", or a comma-separated list of task names (duplicates dropped, order kept); false on an
// unknown or empty name.
bool ParseSynthTaskList(const std::string& arg, std::vector<SynthTask>* out);
// The five, in the order of the enum.
std::vector<SynthTask> AllSynthTasks();

struct SynthOptions {
  int size = 256;         // square images, size x size pixels, 32..4096
  std::string font_path;  // empty: the default DejaVu font (kDefaultFontPaths)
  int count_min = 1;      // object count range of the count task, 1 <= min <= max <= 9
  int count_max = 6;
};

// Tried in order when SynthOptions::font_path is empty (Debian's fonts-dejavu-core).
extern const char* const kDefaultFontPaths[2];

struct SynthSample {
  Image image;             // RGB
  std::string question;    // the task's prompt, e.g. "What colour is the shape?"
  std::string answer;      // the canonical short answer
  std::string truth_json;  // the full ground truth as one compact JSON object
};

// Deterministic: same (task, seed, options) -> same pixels and truth on every platform (see the
// file comment for what text and PNG bytes also depend on). Errors: a size out of range, a bad
// count range, a font that is missing or unreadable (text task only).
Status Synthesize(SynthTask task, uint64_t seed, const SynthOptions& opt, SynthSample* out);

// Checks that the text task's font (opt.font_path, or the default) exists and FreeType reads it;
// the error names the path and the package to install. Synthesize(kText, ...) checks it too.
Status CheckSynthFont(const SynthOptions& opt);

// 8-bit RGB PNG through libpng with fixed settings (compression level 9, no time or text chunks),
// so the same pixels give the same bytes with the same zlib. Errors name the path.
Status WritePng(const Image& img, const std::string& path);

}  // namespace fastvlm::image
