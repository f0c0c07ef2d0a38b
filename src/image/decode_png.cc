// PNG through libpng. libpng only unpacks the samples (sub-byte depths to one byte each, 16-bit
// kept as big-endian pairs, Adam7 de-interlaced); the conversion to RGB is done here exactly as
// Pillow 13 does it for the mode its PngImagePlugin opens the file in (_MODES table):
//
//   gray 1-bit         mode "1":    0 -> 0, 1 -> 255
//   gray 2 / 4-bit     mode "L":    value * 85 / value * 17 (unpackers L;2, L;4)
//   gray 8-bit         mode "L"
//   gray 16-bit        mode "I;16": convert('RGB') CLIPS: v > 255 -> 255, else v (Convert.c
//                      I16_RGB). A real 16-bit gray photo therefore comes out almost all white;
//                      that is what the reference pipeline feeds the model, so we match it.
//   RGB 8 / 16-bit     mode "RGB":  16-bit keeps the high byte (unpacker RGB;16B, no rounding)
//   palette 1-8 bit    mode "P":    palette lookup; indices past the PLTE entries give (0, 0, 0);
//                      tRNS is ignored by convert('RGB')
//   gray+alpha 8-bit   mode "LA":   gray replicated, alpha dropped
//   gray+alpha 16-bit  mode "RGBA" (unpacker LA;16B): high byte of gray replicated, alpha dropped
//   RGBA 8 / 16-bit    mode "RGBA": alpha dropped (not composited), 16-bit keeps the high byte
//
// tRNS, gAMA, iCCP, sBIT are all ignored by Pillow's convert('RGB'), and so here.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <vector>

#include "image/decode_internal.h"

namespace fastvlm::image::internal {
namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[256];
  bool truncated;
};

void ReadFn(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (r->size - r->pos < n) {
    r->truncated = true;
    png_error(png, "truncated");
  }
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

void ErrorFn(png_structp png, png_const_charp msg) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof(r->message), "%s", msg);
  png_longjmp(png, 1);
}

void WarningFn(png_structp, png_const_charp) {}  // a library does not print

}  // namespace

StatusOr<Decoded> DecodePng(const uint8_t* data, size_t size, int64_t max_pixels) {
  // The size from IHDR (always the first chunk) is checked before libpng runs: png_read_info
  // reads on to the first IDAT, so a header-only file claiming a huge size would otherwise be
  // reported as truncated instead.
  if (size < 33) return Status::Error("truncated PNG data (header)");
  if (std::memcmp(data + 12, "IHDR", 4) != 0) return Status::Error("corrupt PNG data: no IHDR");
  auto be32 = [](const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  };
  RETURN_IF_ERROR(CheckSize(be32(data + 16), be32(data + 20), max_pixels));

  Reader reader{data, size, 0, {0}, false};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, ErrorFn, WarningFn);
  if (!png) return Status::Error("out of memory creating the PNG reader");
  png_infop info = png_create_info_struct(png);
  png_infop end_info = png_create_info_struct(png);
  Decoded out;
  std::vector<uint8_t> raw;
  std::vector<png_bytep> rows;
  Status failure;
  // Set before each libpng phase; a longjmp lands in the matching branch below.
  volatile int phase = 0;

  if (setjmp(png_jmpbuf(png))) {
    if (phase == 2) {
      // Only the chunks after the image data (eXIf may live there) were damaged: the pixels are
      // complete. Pillow reads past IDAT leniently as well.
      png_destroy_read_struct(&png, &info, &end_info);
      return out;
    }
    png_destroy_read_struct(&png, &info, &end_info);
    if (!failure.ok()) return failure;
    if (reader.truncated) return Status::Error("truncated PNG data");
    return Status::Error("corrupt PNG data: %s", reader.message);
  }
  png_set_read_fn(png, &reader, ReadFn);
  png_set_sig_bytes(png, 0);
  // Pillow's own PNG reader does not check palette indices or the ancillary-chunk CRCs.
  png_set_benign_errors(png, 1);
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // our own limit is max_pixels
  png_read_info(png, info);

  png_uint_32 w32 = 0, h32 = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &w32, &h32, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  failure = CheckSize(w32, h32, max_pixels);
  if (!failure.ok()) png_error(png, "size");
  const int w = static_cast<int>(w32), h = static_cast<int>(h32);

  if (bit_depth < 8) png_set_packing(png);  // one byte per sample, values unscaled
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  raw.resize(stride * h);
  rows.resize(h);
  for (int y = 0; y < h; ++y) rows[y] = raw.data() + stride * y;
  phase = 1;
  png_read_image(png, rows.data());

  png_colorp palette = nullptr;
  int num_palette = 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(png, info, &palette, &num_palette);

  out.image.width = w;
  out.image.height = h;
  out.image.rgb.resize(static_cast<size_t>(w) * h * 3);
  const int bpc = bit_depth == 16 ? 2 : 1;  // bytes per sample after unpacking
  for (int y = 0; y < h; ++y) {
    const uint8_t* s = rows[y];
    uint8_t* d = &out.image.rgb[static_cast<size_t>(y) * w * 3];
    for (int x = 0; x < w; ++x, d += 3) {
      switch (color_type) {
        case PNG_COLOR_TYPE_GRAY: {
          int v;
          if (bit_depth == 16) {
            v = s[2 * x] != 0 ? 255 : s[2 * x + 1];  // I;16 -> RGB clips
          } else if (bit_depth == 8) {
            v = s[x];
          } else if (bit_depth == 4) {
            v = s[x] * 17;
          } else if (bit_depth == 2) {
            v = s[x] * 85;
          } else {
            v = s[x] ? 255 : 0;
          }
          d[0] = d[1] = d[2] = static_cast<uint8_t>(v);
          break;
        }
        case PNG_COLOR_TYPE_GRAY_ALPHA:
          d[0] = d[1] = d[2] = s[2 * bpc * x];
          break;
        case PNG_COLOR_TYPE_RGB:
          d[0] = s[3 * bpc * x];
          d[1] = s[3 * bpc * x + bpc];
          d[2] = s[3 * bpc * x + 2 * bpc];
          break;
        case PNG_COLOR_TYPE_RGB_ALPHA:
          d[0] = s[4 * bpc * x];
          d[1] = s[4 * bpc * x + bpc];
          d[2] = s[4 * bpc * x + 2 * bpc];
          break;
        case PNG_COLOR_TYPE_PALETTE: {
          const int i = s[x];
          if (i < num_palette) {
            d[0] = palette[i].red;
            d[1] = palette[i].green;
            d[2] = palette[i].blue;
          } else {
            d[0] = d[1] = d[2] = 0;
          }
          break;
        }
        default:
          break;
      }
    }
  }

  // EXIF: the eXIf chunk before or after the image data (Pillow reads both).
  png_uint_32 exif_len = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif_len > 0) {
    out.exif.assign(reinterpret_cast<const char*>(exif), exif_len);
  }
  phase = 2;
  png_read_end(png, end_info);
  if (out.exif.empty() && png_get_eXIf_1(png, end_info, &exif_len, &exif) && exif_len > 0) {
    out.exif.assign(reinterpret_cast<const char*>(exif), exif_len);
  }
  png_destroy_read_struct(&png, &info, &end_info);
  return out;
}

}  // namespace fastvlm::image::internal
