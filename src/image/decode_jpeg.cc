// JPEG through libjpeg(-turbo), set up as Pillow's JpegImagePlugin / JpegDecode.c sets it up:
// default decompression (ISLOW IDCT, fancy upsampling), output RGB for 3 components, gray for 1,
// CMYK for 4 (libjpeg converts YCCK -> CMYK). Checked pixel-identical with Pillow 13 (which bundles
// libjpeg-turbo 3.x) on the fixtures, using Debian's libjpeg-turbo 2.1.
// jpeglib.h needs size_t and FILE declared before it.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <csetjmp>
#include <cstring>
#include <vector>

#include "image/decode_internal.h"

namespace fastvlm::image::internal {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool premature_end = false;
};

// libjpeg calls error_exit on fatal errors and must not return: jump back to DecodeJpeg.
void ErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are not fatal in libjpeg. Pillow treats a missing end of data as an error
// ("image file is truncated") but decodes through the other warnings ("Corrupt JPEG data:
// N extraneous bytes before marker" is common in real files), so only the first is an error here.
// Nothing is printed: a library does not write to stderr.
void EmitMessage(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (level < 0) {
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->premature_end = true;
    cinfo->err->num_warnings++;
  }
}

// Pillow Convert.c cmyk2rgb after the "CMYK;I" unpacker (Pillow assumes Adobe's inverted CMYK for
// every 4-component JPEG): with c' = 255 - c etc., nk = 255 - k' = k, and
// out = clip(nk - muldiv255(c', nk)) where muldiv255(a, b) = ((t >> 8) + t) >> 8, t = a*b + 128.
inline uint8_t CmykChannel(int c_raw, int nk) {
  const int inv = 255 - c_raw;
  const int t = inv * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

StatusOr<Decoded> DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels) {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = ErrorExit;
  err.pub.emit_message = EmitMessage;
  Decoded out;
  std::vector<uint8_t> row;  // declared before setjmp: no non-trivial object is skipped by longjmp
  Status failure;

  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    if (err.premature_end || std::strstr(err.message, "Premature end") != nullptr) {
      return Status::Error("truncated JPEG data");
    }
    return Status::Error("corrupt JPEG data: %s", err.message);
  }
  jpeg_mem_src(&cinfo, const_cast<uint8_t*>(data), static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (err.premature_end) {
    jpeg_destroy_decompress(&cinfo);
    return Status::Error("truncated JPEG data (the header is incomplete)");
  }
  failure = CheckSize(cinfo.image_width, cinfo.image_height, max_pixels);
  if (!failure.ok()) {
    jpeg_destroy_decompress(&cinfo);
    return failure;
  }
  // Pillow JpegImagePlugin SOF: 1 layer -> L, 3 -> RGB, 4 -> CMYK, else an error.
  const int comps = cinfo.num_components;
  if (comps == 1) {
    cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (comps == 3) {
    cinfo.out_color_space = JCS_RGB;
  } else if (comps == 4) {
    cinfo.out_color_space = JCS_CMYK;
  } else {
    jpeg_destroy_decompress(&cinfo);
    return Status::Error("unsupported JPEG with %d color components", comps);
  }
  // The first APP1 "Exif\0\0" segment, as Pillow keeps it in info["exif"].
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      out.exif.assign(reinterpret_cast<const char*>(m->data), m->data_length);
      break;
    }
  }
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
  const int nc = cinfo.output_components;
  out.image.width = w;
  out.image.height = h;
  out.image.rgb.resize(static_cast<size_t>(w) * h * 3);
  row.resize(static_cast<size_t>(w) * nc);
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row.data()};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (err.premature_end) break;
    uint8_t* dst = &out.image.rgb[y * w * 3];
    if (nc == 3) {
      std::memcpy(dst, row.data(), static_cast<size_t>(w) * 3);
    } else if (nc == 1) {
      for (int x = 0; x < w; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else {
      for (int x = 0; x < w; ++x) {
        const uint8_t* s = &row[4 * x];
        const int nk = s[3];
        dst[3 * x + 0] = CmykChannel(s[0], nk);
        dst[3 * x + 1] = CmykChannel(s[1], nk);
        dst[3 * x + 2] = CmykChannel(s[2], nk);
      }
    }
  }
  if (!err.premature_end) jpeg_finish_decompress(&cinfo);
  const bool truncated = err.premature_end;
  jpeg_destroy_decompress(&cinfo);
  if (truncated) return Status::Error("truncated JPEG data");
  return out;
}

}  // namespace fastvlm::image::internal
