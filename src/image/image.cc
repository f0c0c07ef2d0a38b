// DecodeFile / DecodeMemory: reads the file, sniffs the format from its first bytes, dispatches to
// the format decoder, applies the EXIF orientation when asked. Also the EXIF parsing and the
// transposes of PIL.ImageOps.exif_transpose.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "image/decode_internal.h"
#include "image/image.h"

namespace fastvlm::image {
namespace internal {

Status CheckSize(int64_t width, int64_t height, int64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    return Status::Error("invalid image size %lldx%lld", static_cast<long long>(width),
                         static_cast<long long>(height));
  }
  // Both are < 2^32 in every format we read, so the product does not overflow int64.
  const int64_t pixels = width * height;
  if (pixels > max_pixels) {
    return Status::Error("%lldx%lld = %.4g megapixels exceeds the limit of %.4g megapixels",
                         static_cast<long long>(width), static_cast<long long>(height),
                         pixels / 1e6, max_pixels / 1e6);
  }
  return Status::Ok();
}

namespace {

uint32_t Read16(const uint8_t* p, bool big_endian) {
  return big_endian ? (p[0] << 8) | p[1] : p[0] | (p[1] << 8);
}
uint32_t Read32(const uint8_t* p, bool big_endian) {
  return big_endian ? (uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
                    : p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

// Pillow Image.getexif()[0x0112]: IFD0 of the TIFF structure inside the EXIF block.
int ExifOrientation(const std::string& exif) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(exif.data());
  size_t n = exif.size();
  if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) {
    p += 6;
    n -= 6;
  }
  if (n < 8) return 1;
  bool be;
  if (p[0] == 'I' && p[1] == 'I') {
    be = false;
  } else if (p[0] == 'M' && p[1] == 'M') {
    be = true;
  } else {
    return 1;
  }
  if (Read16(p + 2, be) != 42) return 1;
  const uint32_t ifd = Read32(p + 4, be);
  if (ifd > n || n - ifd < 2) return 1;
  const uint32_t count = Read16(p + ifd, be);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + size_t{12} * i;
    if (e + 12 > n) break;
    if (Read16(p + e, be) != 0x0112) continue;
    const uint32_t type = Read16(p + e + 2, be);
    const uint32_t num = Read32(p + e + 4, be);
    if (num != 1) return 1;
    uint32_t v = 0;
    if (type == 3) {  // SHORT, the type the standard prescribes
      v = Read16(p + e + 8, be);
    } else if (type == 4) {  // LONG: Pillow reads it as well
      v = Read32(p + e + 8, be);
    } else {
      return 1;
    }
    return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
  }
  return 1;
}

// PIL.ImageOps.exif_transpose: orientation -> Image.Transpose method
// (2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE,
// 8 ROTATE_90; Pillow's rotations are counter-clockwise).
Image ApplyOrientation(const Image& in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int w = in.width, h = in.height;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.rgb.resize(in.rgb.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx, sy;  // source pixel of output (x, y)
      switch (orientation) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break;  // 8
      }
      const uint8_t* s = &in.rgb[3 * (static_cast<size_t>(sy) * w + sx)];
      uint8_t* d = &out.rgb[3 * (static_cast<size_t>(y) * out.width + x)];
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  return out;
}

}  // namespace internal

namespace {

bool StartsWith(const uint8_t* data, size_t size, const char* magic, size_t n, size_t at = 0) {
  return size >= at + n && std::memcmp(data + at, magic, n) == 0;
}

}  // namespace

StatusOr<Image> DecodeMemory(const uint8_t* data, size_t size, const std::string& name,
                             const DecodeOptions& opt) {
  using namespace internal;  // NOLINT
  if (size == 0) return Status::Error("%s: file is empty (0 bytes)", name.c_str());
  StatusOr<Decoded> r = Status::Error("unreachable");
  if (StartsWith(data, size, "\xFF\xD8\xFF", 3)) {
    r = DecodeJpeg(data, size, opt.max_pixels);
  } else if (StartsWith(data, size, "\x89PNG\r\n\x1A\n", 8)) {
    r = DecodePng(data, size, opt.max_pixels);
  } else if (StartsWith(data, size, "GIF87a", 6) || StartsWith(data, size, "GIF89a", 6)) {
    r = DecodeGif(data, size, opt.max_pixels);
  } else if (StartsWith(data, size, "RIFF", 4) && StartsWith(data, size, "WEBP", 4, 8)) {
    r = DecodeWebp(data, size, opt.max_pixels);
  } else if (StartsWith(data, size, "BM", 2)) {
    r = DecodeBmp(data, size, opt.max_pixels);
  } else if (StartsWith(data, size, "ftyp", 4, 4)) {
    return Status::Error(
        "%s: HEIF/HEIC/AVIF images are not supported; convert it to JPEG or PNG first",
        name.c_str());
  } else if (StartsWith(data, size, "II*\0", 4) || StartsWith(data, size, "MM\0*", 4)) {
    return Status::Error("%s: TIFF images are not supported; convert it to JPEG or PNG first",
                         name.c_str());
  } else {
    return Status::Error(
        "%s: not a recognized image file (supported: JPEG, PNG, GIF, BMP, WebP; detected by "
        "content, not by the file extension)",
        name.c_str());
  }
  if (!r.ok()) return r.status().WithContext(name);
  Decoded& d = r.value();
  if (opt.exif_rotate && !d.exif.empty()) {
    const int orientation = ExifOrientation(d.exif);
    if (orientation != 1) return ApplyOrientation(d.image, orientation);
  }
  return std::move(d.image);
}

StatusOr<Image> DecodeFile(const std::string& path, const DecodeOptions& opt) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Error("%s: no such file", path.c_str());
    return Status::Error("%s: cannot access: %s", path.c_str(), std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::Error("%s: is a directory, not an image file", path.c_str());
  }
  if (!S_ISREG(st.st_mode)) return Status::Error("%s: not a regular file", path.c_str());
  if (st.st_size == 0) return Status::Error("%s: file is empty (0 bytes)", path.c_str());
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::Error("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  const size_t got = std::fread(bytes.data(), 1, bytes.size(), f);
  const bool read_error = std::ferror(f);
  std::fclose(f);
  if (read_error || got != bytes.size()) {
    return Status::Error("%s: read error after %zu of %zu bytes", path.c_str(), got,
                         bytes.size());
  }
  return DecodeMemory(bytes.data(), bytes.size(), path, opt);
}

}  // namespace fastvlm::image
