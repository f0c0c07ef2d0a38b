// Pillow-exact bicubic resampling and the FastVLM preprocessing built on it.
//
// Pillow Resample.c (8 bits per channel), re-implemented from its description:
//  - per output pixel, a window of input pixels [xmin, xmin + n) and weights from the Keys cubic
//    (a = -0.5) evaluated in double at (x - center + 0.5) / filterscale, where
//    scale = in/out, filterscale = max(scale, 1) (the filter is stretched when downscaling:
//    antialiasing), support = 2 * filterscale, center = (xx + 0.5) * scale,
//    xmin = (int)(center - support + 0.5) clamped to >= 0, xmax = (int)(center + support + 0.5)
//    clamped to <= in;
//  - weights divided by their sum (when non-zero), then rounded half away from zero to fixed
//    point with PRECISION_BITS = 22;
//  - horizontal pass first (over only the rows the vertical pass will read), then vertical;
//    a pass whose dimension does not change is skipped;
//  - accumulation in int32 starting at 1 << 21 (rounding), result >> 22 clipped to [0, 255],
//    stored as uint8 after each pass.
// Integer accumulation is exact, so the summation order here (vectorizable) does not matter.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/thread_pool.h"
#include "image/image.h"

namespace fastvlm::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow Resample.c bicubic_filter (a = -0.5). The operation order matters for bit-exactness of
// the coefficients; this file is compiled with -ffp-contract=off so no FMA changes the rounding.
inline double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, count;  // per output pixel: first input index and number of taps
  std::vector<int32_t> k;        // [out][ksize], fixed point
};

// Pillow Resample.c precompute_coeffs + normalize_coeffs_8bpc, for box = (0, in_size).
Coeffs ComputeCoeffs(int in_size, int out_size) {
  constexpr double kSupport = 2.0;  // BICUBIC.support
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kSupport * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double inv_filterscale = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;  // in0 = 0
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = BicubicFilter((x + xmin - center + 0.5) * inv_filterscale);
      ww += w[x];
    }
    int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// Pillow clip8: (acc >> PRECISION_BITS) clipped to [0, 255] (arithmetic shift of a negative sum).
inline uint8_t Clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// The source of a resize: `img` placed at (x0, y0) on a black canvas_w x canvas_h canvas. A plain
// resize has canvas = image; the pad-to-square preprocessing resizes the padded canvas without
// building it. Black pixels add exactly 0 to Pillow's integer sums, so the taps that fall on the
// padding are skipped and whole padding rows are never resampled: the result is bit-identical.
struct Canvas {
  const Image& img;
  int width, height, x0, y0;
};

// Rows resampled together by the horizontal pass: the block is transposed so that the inner loop
// runs over kBlockRows * 3 contiguous bytes with one weight, which compilers vectorize.
constexpr int kBlockRows = 16;
constexpr int kLanes = kBlockRows * 3;

// Pillow Resample.c ImagingResampleHorizontal_8bpc (3 channels), for canvas rows
// [row0, row0 + rows) that all lie inside the image. out row r = canvas row row0 + r.
void ResampleHorizontal(const Canvas& cv, int row0, int rows, const Coeffs& c, int out_w,
                        uint8_t* out, std::vector<uint8_t>& block) {
  const int w = cv.img.width;
  block.resize(static_cast<size_t>(w) * kLanes);
  for (int b0 = 0; b0 < rows; b0 += kBlockRows) {
    const int nr = std::min(kBlockRows, rows - b0);
    // block[x][r * 3 + ch] = image row (row0 + b0 + r - y0), pixel x.
    for (int r = 0; r < kBlockRows; ++r) {
      const int src_r = row0 + b0 + (r < nr ? r : 0) - cv.y0;
      const uint8_t* line = &cv.img.rgb[static_cast<size_t>(src_r) * w * 3];
      uint8_t* dst = &block[3 * r];
      for (int x = 0; x < w; ++x) {
        dst[x * kLanes] = line[3 * x];
        dst[x * kLanes + 1] = line[3 * x + 1];
        dst[x * kLanes + 2] = line[3 * x + 2];
      }
    }
    for (int xx = 0; xx < out_w; ++xx) {
      // Taps on canvas columns [xmin, xmin + count), restricted to the image's columns.
      const int t_lo = std::max(0, cv.x0 - c.xmin[xx]);
      const int t_hi = std::min(c.count[xx], cv.x0 + w - c.xmin[xx]);
      int32_t acc[kLanes];
      for (int i = 0; i < kLanes; ++i) acc[i] = 1 << (kPrecisionBits - 1);
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      for (int t = t_lo; t < t_hi; ++t) {
        const uint8_t* col = &block[static_cast<size_t>(c.xmin[xx] + t - cv.x0) * kLanes];
        const int32_t kt = k[t];
        for (int i = 0; i < kLanes; ++i) acc[i] += col[i] * kt;
      }
      for (int r = 0; r < nr; ++r) {
        uint8_t* d = out + (static_cast<size_t>(b0 + r) * out_w + xx) * 3;
        d[0] = Clip8(acc[3 * r]);
        d[1] = Clip8(acc[3 * r + 1]);
        d[2] = Clip8(acc[3 * r + 2]);
      }
    }
  }
}

// Pillow Resample.c ImagingResampleVertical_8bpc for output rows [y_begin, y_end). `rows(y)`
// returns canvas row y (of row_len bytes), or nullptr for a black padding row, whose taps add 0.
template <class RowFn>
void ResampleVertical(RowFn rows, size_t row_len, const Coeffs& c, int y_begin, int y_end,
                      uint8_t* out, std::vector<int32_t>& acc) {
  acc.resize(row_len);
  for (int yy = y_begin; yy < y_end; ++yy) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    for (int t = 0; t < c.count[yy]; ++t) {
      const uint8_t* row = rows(c.xmin[yy] + t);
      if (row == nullptr) continue;
      const int32_t kt = k[t];
      int32_t* a = acc.data();
      for (size_t i = 0; i < row_len; ++i) a[i] += row[i] * kt;
    }
    uint8_t* dst = out + static_cast<size_t>(yy) * row_len;
    for (size_t i = 0; i < row_len; ++i) dst[i] = Clip8(acc[i]);
  }
}

// Runs f(begin, end) over [0, n) in chunks, on the pool when there is one.
template <class F>
void ForChunks(ThreadPool* pool, int64_t n, int64_t align, F&& f) {
  if (pool == nullptr || pool->size() == 1) {
    f(int64_t{0}, n);
    return;
  }
  pool->ParallelChunks(n, align, align, [&](int64_t b, int64_t e, int) { f(b, e); });
}

// Pillow Resample.c ImagingResampleInner (BICUBIC, box = whole canvas) on a Canvas.
Image ResizeCanvas(const Canvas& cv, int width, int height, ThreadPool* pool) {
  CHECK(width > 0 && height > 0);
  const Image& img = cv.img;
  CHECK(img.width > 0 && img.height > 0 &&
        img.rgb.size() == static_cast<size_t>(img.width) * img.height * 3);
  const bool need_h = width != cv.width;
  const bool need_v = height != cv.height;
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  const size_t out_row = static_cast<size_t>(width) * 3;

  if (!need_h && !need_v) {  // Image.resize returns a copy; paste the image onto black
    for (int y = 0; y < img.height; ++y) {
      std::memcpy(&out.rgb[(static_cast<size_t>(cv.y0 + y) * width + cv.x0) * 3],
                  &img.rgb[static_cast<size_t>(y) * img.width * 3],
                  static_cast<size_t>(img.width) * 3);
    }
    return out;
  }
  const Coeffs cvert = ComputeCoeffs(cv.height, height);
  // Canvas rows the vertical pass reads, [first, last), and those of them inside the image.
  const int first = need_v ? cvert.xmin.front() : 0;
  const int last = need_v ? cvert.xmin.back() + cvert.count.back() : cv.height;
  const int img_first = std::max(first, cv.y0);
  const int img_last = std::min(last, cv.y0 + img.height);

  if (!need_h) {  // vertical pass only, straight from the canvas
    const size_t in_row = static_cast<size_t>(img.width) * 3;
    // A canvas row is image columns only here (width == canvas width means x0 == 0 or the image
    // spans the canvas): build full rows when the image is narrower than the canvas.
    std::vector<uint8_t> padded;
    const uint8_t* base = img.rgb.data();
    if (img.width != cv.width) {
      padded.assign(static_cast<size_t>(img.height) * out_row, 0);
      for (int y = 0; y < img.height; ++y) {
        std::memcpy(&padded[y * out_row + static_cast<size_t>(cv.x0) * 3], base + y * in_row,
                    in_row);
      }
      base = padded.data();
    }
    auto rows = [&](int y) -> const uint8_t* {
      if (y < cv.y0 || y >= cv.y0 + img.height) return nullptr;
      return base + static_cast<size_t>(y - cv.y0) * out_row;
    };
    ForChunks(pool, height, 1, [&](int64_t b, int64_t e) {
      std::vector<int32_t> acc;
      ResampleVertical(rows, out_row, cvert, static_cast<int>(b), static_cast<int>(e),
                       out.rgb.data(), acc);
    });
    return out;
  }

  const Coeffs chor = ComputeCoeffs(cv.width, width);
  // Horizontal pass over the image rows the vertical pass needs; the padding rows are black.
  const int n_rows = std::max(0, img_last - img_first);
  uint8_t* tmp_base;
  std::vector<uint8_t> tmp;
  if (!need_v) {
    tmp_base = out.rgb.data() + static_cast<size_t>(img_first) * out_row;  // straight into out
  } else {
    tmp.resize(static_cast<size_t>(n_rows) * out_row);
    tmp_base = tmp.data();
  }
  ForChunks(pool, n_rows, kBlockRows, [&](int64_t b, int64_t e) {
    std::vector<uint8_t> block;
    ResampleHorizontal(cv, img_first + static_cast<int>(b), static_cast<int>(e - b), chor, width,
                       tmp_base + static_cast<size_t>(b) * out_row, block);
  });
  if (!need_v) return out;
  auto rows = [&](int y) -> const uint8_t* {
    if (y < img_first || y >= img_last) return nullptr;
    return tmp_base + static_cast<size_t>(y - img_first) * out_row;
  };
  ForChunks(pool, height, 1, [&](int64_t b, int64_t e) {
    std::vector<int32_t> acc;
    ResampleVertical(rows, out_row, cvert, static_cast<int>(b), static_cast<int>(e),
                     out.rgb.data(), acc);
  });
  return out;
}

}  // namespace

// Pillow Image.resize(size, BICUBIC).
Image ResizeBicubic(const Image& in, int width, int height, ThreadPool* pool) {
  return ResizeCanvas(Canvas{in, in.width, in.height, 0, 0}, width, height, pool);
}
Image ResizeBicubic(const Image& in, int width, int height) {
  return ResizeBicubic(in, width, height, nullptr);
}

// llava/mm_utils.py expand2square(img, (0, 0, 0)).
Image ExpandToSquare(const Image& in) {
  if (in.width == in.height) return in;
  const int s = std::max(in.width, in.height);
  const int x0 = (s - in.width) / 2, y0 = (s - in.height) / 2;
  Image out;
  out.width = out.height = s;
  out.rgb.assign(static_cast<size_t>(s) * s * 3, 0);
  for (int y = 0; y < in.height; ++y) {
    std::memcpy(&out.rgb[(static_cast<size_t>(y0 + y) * s + x0) * 3],
                &in.rgb[static_cast<size_t>(y) * in.width * 3], static_cast<size_t>(in.width) * 3);
  }
  return out;
}

Image Preprocess(const Image& in, int size, Fit fit) { return Preprocess(in, size, fit, nullptr); }

Image Preprocess(const Image& in, int size, Fit fit, ThreadPool* pool) {
  CHECK(size > 0);
  if (fit == Fit::kPadSquare) {
    // expand2square + resize, without materializing the square canvas (see Canvas).
    const int s = std::max(in.width, in.height);
    return ResizeCanvas(Canvas{in, s, s, (s - in.width) / 2, (s - in.height) / 2}, size, size,
                        pool);
  }
  // transformers image_transforms.get_resize_output_image_size(default_to_square=False): the short
  // edge becomes `size`, the long edge int(size * long / short) (the quotient in double, as Python
  // computes int / int, then truncated); then center_crop: top = (h - size) // 2, likewise left.
  const bool portrait = in.width <= in.height;
  const int64_t shorter = portrait ? in.width : in.height;
  const int64_t longer = portrait ? in.height : in.width;
  const int new_long = static_cast<int>(static_cast<double>(size * longer) / shorter);
  const int rw = portrait ? size : new_long, rh = portrait ? new_long : size;
  const Image r = ResizeBicubic(in, rw, rh, pool);
  const int top = (rh - size) / 2, left = (rw - size) / 2;  // both >= 0 since new_long >= size
  Image out;
  out.width = out.height = size;
  out.rgb.resize(static_cast<size_t>(size) * size * 3);
  for (int y = 0; y < size; ++y) {
    std::memcpy(&out.rgb[static_cast<size_t>(y) * size * 3],
                &r.rgb[(static_cast<size_t>(top + y) * rw + left) * 3],
                static_cast<size_t>(size) * 3);
  }
  return out;
}

// transformers rescale: (uint8 as float64) * (1 / 255), cast to float32. Identical to
// float32(v) / 255.0f for every v (checked over 0..255 by the fixture script).
void ToFloat(const Image& in, float* out) {
  float lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>(v * (1.0 / 255.0));
  const size_t n = in.rgb.size();
  for (size_t i = 0; i < n; ++i) out[i] = lut[in.rgb[i]];
}

}  // namespace fastvlm::image
