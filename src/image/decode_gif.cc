// GIF (first frame) through giflib, composed as Pillow's GifImagePlugin composes frame 0:
//  - the canvas is the logical screen, grown to hold the frame if the frame sticks out;
//  - pixels outside the frame keep the fill index: the frame's transparent index if its graphic
//    control extension sets one, else 0 (a fresh Pillow image is zeroed);
//  - the first frame stays mode "P" (LOADING_STRATEGY RGB_AFTER_FIRST), so convert('RGB') is a
//    palette lookup: local colour table, else the global one; indices past the table give
//    (0, 0, 0); with no colour table at all Pillow opens mode "L" (index = gray level).
#include <gif_lib.h>

#include <cstring>
#include <vector>

#include "image/decode_internal.h"

namespace fastvlm::image::internal {
namespace {

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

int ReadFn(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t avail = r->size - r->pos;
  const size_t k = n < 0 ? 0 : (static_cast<size_t>(n) < avail ? static_cast<size_t>(n) : avail);
  std::memcpy(out, r->data + r->pos, k);
  r->pos += k;
  return static_cast<int>(k);
}

struct Closer {
  GifFileType* gif;
  ~Closer() {
    int err = 0;
    if (gif) DGifCloseFile(gif, &err);
  }
};

Status GifError(const Reader& r, int code, const char* what) {
  if (r.pos >= r.size || code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON) {
    return Status::Error("truncated GIF data (%s)", what);
  }
  const char* msg = GifErrorString(code);
  return Status::Error("corrupt GIF data (%s): %s", what, msg ? msg : "unknown error");
}

}  // namespace

StatusOr<Decoded> DecodeGif(const uint8_t* data, size_t size, int64_t max_pixels) {
  Reader reader{data, size, 0};
  int err = 0;
  GifFileType* gif = DGifOpen(&reader, ReadFn, &err);
  if (!gif) return GifError(reader, err, "header");
  Closer closer{gif};
  int transparent = -1;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) return GifError(reader, gif->Error, "records");
    if (type == TERMINATE_RECORD_TYPE) return Status::Error("GIF file contains no image");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) {
        return GifError(reader, gif->Error, "extension");
      }
      // Graphic control extension: ext[0] is the block length, ext[1] the flags, ext[4] the
      // transparent colour index (valid when flags bit 0 is set).
      if (code == GRAPHICS_EXT_FUNC_CODE && ext != nullptr && ext[0] >= 4) {
        transparent = (ext[1] & 1) ? ext[4] : -1;
      }
      while (ext != nullptr) {
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) {
          return GifError(reader, gif->Error, "extension");
        }
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR) return GifError(reader, gif->Error, "image descriptor");
    const GifImageDesc& desc = gif->Image;
    const int64_t fx = desc.Left, fy = desc.Top, fw = desc.Width, fh = desc.Height;
    const int64_t cw = std::max<int64_t>(gif->SWidth, fx + fw);
    const int64_t ch = std::max<int64_t>(gif->SHeight, fy + fh);
    RETURN_IF_ERROR(CheckSize(cw, ch, max_pixels));
    if (fw <= 0 || fh <= 0) return Status::Error("GIF frame has an empty size");
    const ColorMapObject* cmap = desc.ColorMap ? desc.ColorMap : gif->SColorMap;

    // Indices of the whole canvas, then one palette lookup.
    std::vector<uint8_t> idx(static_cast<size_t>(cw) * ch,
                             static_cast<uint8_t>(transparent >= 0 ? transparent : 0));
    std::vector<GifPixelType> line(fw);
    auto put_row = [&](int64_t y) {  // frame row y
      std::memcpy(&idx[(fy + y) * cw + fx], line.data(), fw);
    };
    if (desc.Interlace) {
      static const int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
      for (int pass = 0; pass < 4; ++pass) {
        for (int64_t y = kStart[pass]; y < fh; y += kStep[pass]) {
          if (DGifGetLine(gif, line.data(), static_cast<int>(fw)) == GIF_ERROR) {
            return GifError(reader, gif->Error, "image data");
          }
          put_row(y);
        }
      }
    } else {
      for (int64_t y = 0; y < fh; ++y) {
        if (DGifGetLine(gif, line.data(), static_cast<int>(fw)) == GIF_ERROR) {
          return GifError(reader, gif->Error, "image data");
        }
        put_row(y);
      }
    }
    Decoded out;
    out.image.width = static_cast<int>(cw);
    out.image.height = static_cast<int>(ch);
    out.image.rgb.resize(idx.size() * 3);
    uint8_t lut[256][3] = {};
    for (int i = 0; i < 256; ++i) {
      if (cmap == nullptr) {
        lut[i][0] = lut[i][1] = lut[i][2] = static_cast<uint8_t>(i);
      } else if (i < cmap->ColorCount) {
        lut[i][0] = cmap->Colors[i].Red;
        lut[i][1] = cmap->Colors[i].Green;
        lut[i][2] = cmap->Colors[i].Blue;
      }
    }
    for (size_t i = 0; i < idx.size(); ++i) std::memcpy(&out.image.rgb[3 * i], lut[idx[i]], 3);
    return out;
  }
}

}  // namespace fastvlm::image::internal
