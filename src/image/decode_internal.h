// Internal interface between the format decoders (decode_*.cc) and image.cc. Not part of the
// public API. Decoder errors do not name the file: DecodeMemory prepends the name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "image/image.h"

namespace fastvlm::image::internal {

// What a format decoder returns: the pixels already converted to RGB as Pillow's convert('RGB')
// does for the mode Pillow opens the file in, plus the raw EXIF block (TIFF header onwards, or
// with a leading "Exif\0\0"), empty if the file has none.
struct Decoded {
  Image image;
  std::string exif;
};

// Errors with "W x H = N megapixels exceeds the limit of M megapixels" when w*h > max_pixels,
// and on zero / negative sizes. Every decoder calls it after reading the header and before
// allocating or decoding pixels.
Status CheckSize(int64_t width, int64_t height, int64_t max_pixels);

StatusOr<Decoded> DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels);
StatusOr<Decoded> DecodePng(const uint8_t* data, size_t size, int64_t max_pixels);
StatusOr<Decoded> DecodeGif(const uint8_t* data, size_t size, int64_t max_pixels);
StatusOr<Decoded> DecodeWebp(const uint8_t* data, size_t size, int64_t max_pixels);
StatusOr<Decoded> DecodeBmp(const uint8_t* data, size_t size, int64_t max_pixels);

// The EXIF Orientation tag (0x0112) of IFD0, 1..8; 1 when absent, malformed or out of range.
// `exif` may start with "Exif\0\0" (JPEG APP1, some WebP files) or directly with the TIFF header.
int ExifOrientation(const std::string& exif);
// PIL.ImageOps.exif_transpose for one orientation value (1 and unknown values: unchanged).
Image ApplyOrientation(const Image& in, int orientation);

}  // namespace fastvlm::image::internal
