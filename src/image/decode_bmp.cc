// BMP, our own reader, following Pillow's BmpImagePlugin (what it accepts and how it unpacks):
//  - headers: OS/2 core (12 bytes) and the Windows info headers (40, 52, 56, 64, 108, 124);
//    negative height = top-down rows;
//  - 1 / 4 / 8 bit with palette (`colors` entries, 2^bits when 0; indices past it give black),
//  - 16 bit BI_RGB = 5-5-5 and 24 / 32 bit BI_RGB (the 4th byte of a 32-bit pixel ignored);
//  - BI_BITFIELDS only with Pillow's supported masks (16: 5-6-5, 5-5-5; 24: BGR; 32: the byte
//    permutations listed below); alpha is dropped by convert('RGB');
//  - 5/6-bit channels are scaled as Pillow's unpackers do: v * 255 / 31 (or / 63), truncated.
// RLE compressions are not supported (rare in practice): a clear error says so.
#include <cstring>
#include <vector>

#include "image/decode_internal.h"

namespace fastvlm::image::internal {
namespace {

uint32_t U16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t U32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

enum class Layout { kPalette, k555, k565, kBGR, kBytes4 };

}  // namespace

StatusOr<Decoded> DecodeBmp(const uint8_t* data, size_t size, int64_t max_pixels) {
  if (size < 14 + 4) return Status::Error("truncated BMP data (file header)");
  const uint32_t pixel_offset = U32(data + 10);
  const uint32_t header_size = U32(data + 14);
  if (size < 14 + static_cast<size_t>(header_size)) {
    return Status::Error("truncated BMP data (info header)");
  }
  const uint8_t* hd = data + 18;  // header after its size field
  int64_t width, height;
  int bits;
  uint32_t compression = 0, colors = 0;
  bool top_down = false;
  int palette_entry = 4;
  uint32_t masks[4] = {0, 0, 0, 0};
  size_t after_header = 14 + header_size;
  if (header_size == 12) {
    width = U16(hd);
    height = U16(hd + 2);
    bits = static_cast<int>(U16(hd + 6));
    palette_entry = 3;
  } else if (header_size == 40 || header_size == 52 || header_size == 56 || header_size == 64 ||
             header_size == 108 || header_size == 124) {
    width = static_cast<int32_t>(U32(hd));
    const int32_t h = static_cast<int32_t>(U32(hd + 4));
    top_down = h < 0;
    height = top_down ? -static_cast<int64_t>(h) : h;
    bits = static_cast<int>(U16(hd + 10));
    compression = U32(hd + 12);
    colors = U32(hd + 28);
    if (compression == 3 || compression == 6) {  // BI_BITFIELDS / BI_ALPHABITFIELDS
      if (header_size >= 52) {
        const int n = header_size >= 56 ? 4 : 3;
        for (int i = 0; i < n; ++i) masks[i] = U32(hd + 36 + 4 * i);
      } else {  // the masks follow a 40-byte header
        if (size < after_header + 12) return Status::Error("truncated BMP data (bit masks)");
        for (int i = 0; i < 3; ++i) masks[i] = U32(data + after_header + 4 * i);
        after_header += 12;
      }
    }
  } else {
    return Status::Error("unsupported BMP header size %u", header_size);
  }
  RETURN_IF_ERROR(CheckSize(width, height, max_pixels));
  if (colors == 0 && bits <= 8) colors = 1u << bits;

  Layout layout;
  int order[3] = {2, 1, 0};  // byte index of R, G, B within a 24/32-bit pixel (little-endian)
  if (bits == 1 || bits == 4 || bits == 8) {
    layout = Layout::kPalette;
    if (compression == 1 || compression == 2) {
      return Status::Error("RLE-compressed BMP files are not supported; convert it to PNG");
    }
  } else if (bits == 16 || bits == 24 || bits == 32) {
    layout = bits == 16 ? Layout::k555 : (bits == 24 ? Layout::kBGR : Layout::kBytes4);
  } else {
    return Status::Error("unsupported BMP bit depth %d", bits);
  }
  if (compression == 3 || compression == 6) {
    // Pillow BmpImagePlugin SUPPORTED / MASK_MODES: masks -> which byte holds R, G, B.
    const uint32_t r = masks[0], g = masks[1], b = masks[2], a = masks[3];
    auto is = [&](uint32_t mr, uint32_t mg, uint32_t mb) { return r == mr && g == mg && b == mb; };
    bool ok = false;
    if (bits == 16) {
      if (is(0xF800, 0x7E0, 0x1F)) layout = Layout::k565, ok = true;
      if (is(0x7C00, 0x3E0, 0x1F)) layout = Layout::k555, ok = true;
    } else if (bits == 24) {
      ok = is(0xFF0000, 0xFF00, 0xFF);
    } else if (bits == 32) {
      // Mask -> byte index: 0xFF -> 0, 0xFF00 -> 1, 0xFF0000 -> 2, 0xFF000000 -> 3.
      static const uint32_t kSupported[][4] = {
          {0xFF0000, 0xFF00, 0xFF, 0x0},         {0xFF000000, 0xFF0000, 0xFF00, 0x0},
          {0xFF000000, 0xFF00, 0xFF, 0x0},       {0xFF000000, 0xFF0000, 0xFF00, 0xFF},
          {0xFF, 0xFF00, 0xFF0000, 0xFF000000},  {0xFF0000, 0xFF00, 0xFF, 0xFF000000},
          {0xFF000000, 0xFF00, 0xFF, 0xFF0000},  {0x0, 0x0, 0x0, 0x0}};
      for (const auto& m : kSupported) {
        if (r == m[0] && g == m[1] && b == m[2] && a == m[3]) ok = true;
      }
      if (ok && r != 0) {
        auto byte_of = [](uint32_t mask) { return __builtin_ctz(mask) / 8; };
        order[0] = byte_of(r);
        order[1] = byte_of(g);
        order[2] = byte_of(b);
      }  // all-zero masks: Pillow reads BGRA
    }
    if (!ok) return Status::Error("unsupported BMP bit-field layout");
  } else if (compression != 0) {
    return Status::Error("unsupported BMP compression %u", compression);
  }

  // Palette (BGR or BGRX entries) right after the header (and masks).
  uint8_t lut[256][3] = {};
  size_t data_offset = pixel_offset;
  if (layout == Layout::kPalette) {
    if (colors == 0 || colors > 65536) {
      return Status::Error("unsupported BMP palette size %u", colors);
    }
    const size_t pal_bytes = static_cast<size_t>(palette_entry) * colors;
    if (size < after_header + pal_bytes) return Status::Error("truncated BMP data (palette)");
    for (uint32_t i = 0; i < colors && i < 256; ++i) {
      const uint8_t* e = data + after_header + palette_entry * i;
      lut[i][0] = e[2];
      lut[i][1] = e[1];
      lut[i][2] = e[0];
    }
    // Pillow: a pixel offset pointing at the palette start means the pixels follow the palette.
    if (pixel_offset == 14 + header_size) data_offset += pal_bytes;
  }
  if (data_offset == 0) data_offset = after_header;

  const size_t stride = ((static_cast<size_t>(width) * bits + 31) >> 3) & ~size_t{3};
  if (data_offset > size || size - data_offset < stride * height) {
    return Status::Error("truncated BMP data (%zu of %zu pixel bytes)",
                         data_offset > size ? 0 : size - data_offset, stride * height);
  }
  Decoded out;
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  out.image.width = w;
  out.image.height = h;
  out.image.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    const uint8_t* s = data + data_offset + stride * (top_down ? y : h - 1 - y);
    uint8_t* d = &out.image.rgb[static_cast<size_t>(y) * w * 3];
    for (int x = 0; x < w; ++x, d += 3) {
      switch (layout) {
        case Layout::kPalette: {
          int i;
          if (bits == 8) {
            i = s[x];
          } else if (bits == 4) {
            i = (s[x >> 1] >> (x & 1 ? 0 : 4)) & 15;
          } else {
            i = (s[x >> 3] >> (7 - (x & 7))) & 1;
          }
          std::memcpy(d, lut[i], 3);  // entries past `colors` stay 0
          break;
        }
        case Layout::k555: {  // Pillow Unpack.c ImagingUnpackBGR15
          const uint32_t p = U16(s + 2 * x);
          d[0] = ((p >> 10) & 31) * 255 / 31;
          d[1] = ((p >> 5) & 31) * 255 / 31;
          d[2] = (p & 31) * 255 / 31;
          break;
        }
        case Layout::k565: {  // Pillow Unpack.c "BGR;16": R in the high bits
          const uint32_t p = U16(s + 2 * x);
          d[0] = ((p >> 11) & 31) * 255 / 31;
          d[1] = ((p >> 5) & 63) * 255 / 63;
          d[2] = (p & 31) * 255 / 31;
          break;
        }
        case Layout::kBGR:
          d[0] = s[3 * x + 2];
          d[1] = s[3 * x + 1];
          d[2] = s[3 * x];
          break;
        case Layout::kBytes4:
          d[0] = s[4 * x + order[0]];
          d[1] = s[4 * x + order[1]];
          d[2] = s[4 * x + order[2]];
          break;
      }
    }
  }
  return out;
}

}  // namespace fastvlm::image::internal
