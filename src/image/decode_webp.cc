// WebP through libwebp's animation decoder, as Pillow's _webp.c reads every WebP (still or
// animated): WebPAnimDecoder with its default options (RGBA output, not premultiplied), first
// frame. RGB is taken as decoded; alpha is dropped, not composited (Pillow mode RGBA or RGB).
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>

#include "image/decode_internal.h"

namespace fastvlm::image::internal {

StatusOr<Decoded> DecodeWebp(const uint8_t* data, size_t size, int64_t max_pixels) {
  WebPBitstreamFeatures features;
  const VP8StatusCode st = WebPGetFeatures(data, size, &features);
  if (st == VP8_STATUS_NOT_ENOUGH_DATA) return Status::Error("truncated WebP data (header)");
  if (st != VP8_STATUS_OK) return Status::Error("corrupt WebP data (status %d)", st);

  WebPData input{data, size};
  WebPDemuxState demux_state;
  WebPDemuxer* demux = WebPDemuxPartial(&input, &demux_state);
  if (demux == nullptr || demux_state != WEBP_DEMUX_DONE) {
    if (demux) WebPDemuxDelete(demux);
    return Status::Error(demux_state == WEBP_DEMUX_PARSED_HEADER ||
                                 demux_state == WEBP_DEMUX_PARSING_HEADER
                             ? "truncated WebP data"
                             : "corrupt WebP data (container)");
  }
  const int64_t w = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
  const int64_t h = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
  Decoded out;
  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk(demux, "EXIF", 1, &chunk)) {
    out.exif.assign(reinterpret_cast<const char*>(chunk.chunk.bytes), chunk.chunk.size);
    WebPDemuxReleaseChunkIterator(&chunk);
  }
  WebPDemuxDelete(demux);
  RETURN_IF_ERROR(CheckSize(w, h, max_pixels));

  WebPAnimDecoderOptions opt;
  if (!WebPAnimDecoderOptionsInit(&opt)) return Status::Error("libwebp version mismatch");
  opt.color_mode = MODE_RGBA;
  opt.use_threads = 0;
  WebPAnimDecoder* dec = WebPAnimDecoderNew(&input, &opt);
  if (dec == nullptr) return Status::Error("corrupt or truncated WebP data");
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(dec, &rgba, &timestamp) || rgba == nullptr) {
    WebPAnimDecoderDelete(dec);
    return Status::Error("truncated or corrupt WebP image data");
  }
  out.image.width = static_cast<int>(w);
  out.image.height = static_cast<int>(h);
  const size_t n = static_cast<size_t>(w) * h;
  out.image.rgb.resize(n * 3);
  for (size_t i = 0; i < n; ++i) std::memcpy(&out.image.rgb[3 * i], rgba + 4 * i, 3);
  WebPAnimDecoderDelete(dec);
  return out;
}

}  // namespace fastvlm::image::internal
