// Image decoding and the FastVLM preprocessing, pixel-identical to the reference pipeline
// (Pillow `Image.open(f).convert('RGB')`, `expand2square`, `resize(..., BICUBIC)`). Spec §4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace fastvlm {
class ThreadPool;
}  // namespace fastvlm

namespace fastvlm::image {

// 8-bit RGB, interleaved, row-major: pixel (x, y) is rgb[3 * (y * width + x) + c].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

struct DecodeOptions {
  // Apply the EXIF Orientation tag (as PIL.ImageOps.exif_transpose). Off by default: the reference
  // pipeline does not, and the model was trained that way.
  bool exif_rotate = false;
  // Images with more pixels than this are rejected before their pixels are decoded.
  int64_t max_pixels = 100'000'000;
};

// Decodes JPEG (baseline, progressive; gray, RGB/YCbCr, CMYK/YCCK), PNG (1-16 bit; gray, gray+alpha,
// RGB, RGBA, palette), BMP, GIF (first frame) and WebP (lossy, lossless, alpha), detected by content
// (not by file extension), and converts to RGB exactly as Pillow's convert('RGB') does (alpha is
// dropped, not composited). Errors name the file and say what is wrong: missing, a directory, empty,
// truncated, not an image, unsupported variant, too many pixels.
StatusOr<Image> DecodeFile(const std::string& path, const DecodeOptions& opt = {});
// `name` is only used in error messages.
StatusOr<Image> DecodeMemory(const uint8_t* data, size_t size, const std::string& name,
                             const DecodeOptions& opt = {});

// How a non-square image becomes size×size.
enum class Fit {
  kPadSquare,   // expand2square with black, then resize (training and predict.py; the default)
  kCenterCrop,  // resize the shortest edge to size, then centre-crop (transformers-native processor)
};

// llava mm_utils.expand2square: paste onto a black max(w,h)² canvas at offset (max-min)/2 on the
// short axis. Returns a copy when already square.
Image ExpandToSquare(const Image& in);
// Pillow's Image.resize(BICUBIC): antialiased separable Keys cubic (a = -0.5), horizontal pass then
// vertical pass, fixed-point coefficients, uint8 rounding after each pass. Bit-identical to Pillow.
Image ResizeBicubic(const Image& in, int width, int height);
// The same on a thread pool (nullptr: the calling thread); the result does not depend on it.
Image ResizeBicubic(const Image& in, int width, int height, ThreadPool* pool);
// The whole preprocessing: fit (pad or crop) and resize to size×size, as uint8.
// kPadSquare resizes the padded canvas without building it (same pixels as ExpandToSquare +
// ResizeBicubic: the padding adds exact zeros to Pillow's integer sums).
Image Preprocess(const Image& in, int size, Fit fit);
Image Preprocess(const Image& in, int size, Fit fit, ThreadPool* pool);
// out[(y * width + x) * 3 + c] = in / 255  (HWC float in [0, 1]; no mean/std).
void ToFloat(const Image& in, float* out);

}  // namespace fastvlm::image
