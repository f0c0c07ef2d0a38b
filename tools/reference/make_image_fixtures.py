#!/usr/bin/env python3
"""Image decode + preprocessing fixtures for src/image/ (tests/unit/image_*_test.cc).

Writes synthetic test images (smooth gradients, a few hard-edged shapes, a small noisy patch) in
every format/mode the C++ decoder must handle into tests/fixtures/images/, then records what the
reference produces for each in tests/fixtures/images/expected.json:

  decode:  size, SHA-256 and per-row sums of `Image.open(f).convert('RGB')`
  pad:     FastVLM's pipeline (llava mm_utils.expand2square with black, then PIL resize BICUBIC)
  crop:    transformers CLIPImageProcessor (PIL backend): shortest edge -> S, centre crop S x S
  exif:    for the EXIF-oriented files, the same after PIL.ImageOps.exif_transpose

Only hashes and per-row sums are stored (a C++ mismatch is localized to its first differing row),
never pixel arrays. Files Pillow cannot write (16-bit RGB PNG, interlaced PNG, some BMP variants)
are encoded by the small writers below; the expected values still come from Pillow decoding them.

  /work/refvenv/bin/python tools/reference/make_image_fixtures.py
"""
import argparse
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES_PAD = (1024, 256)
SIZE_CROP = 1024


# ----------------------------------------------------------------------------------------------
# Synthetic content: compresses well (smooth), but has hard edges and a noisy patch so that a
# resampling or colour-conversion error shows.
def synth_rgb(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fx, fy = x / max(w - 1, 1), y / max(h - 1, 1)
    r = 255 * fx
    g = 255 * fy
    b = 127.5 + 120 * np.sin(2 * np.pi * (fx * 1.5 + fy * 0.7) + seed)
    img = np.stack([r, g, b], -1)
    im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.ellipse([w * 0.15, h * 0.2, w * 0.55, h * 0.6], fill=(250, 30, 40))
    d.rectangle([w * 0.6, h * 0.55, w * 0.9, h * 0.85], fill=(20, 40, 230))
    d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=max(1, min(w, h) // 40))
    a = np.asarray(im).copy()
    # A small noisy patch: high frequencies for the resampler, few bytes on disk.
    pw, ph = max(1, min(32, w // 6)), max(1, min(32, h // 6))
    x0, y0 = w // 2, h // 6
    a[y0:y0 + ph, x0:x0 + pw] = rng.integers(0, 256, (min(ph, h - y0), min(pw, w - x0), 3))
    return a


def synth_gray(w, h, seed):
    a = synth_rgb(w, h, seed).astype(np.float64)
    return np.clip(np.rint(a @ [0.299, 0.587, 0.114]), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Minimal PNG writer (for what Pillow cannot write: 16-bit RGB, Adam7 interlacing).
def _chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_bytes(arr, bitdepth, ctype, interlace=False, extra=b""):
    """arr: HxW or HxWxC array of the sample values (uint8 or uint16)."""
    h, w = arr.shape[:2]
    dtype = ">u2" if bitdepth == 16 else "u1"
    a = arr.reshape(h, w, -1).astype(dtype)

    def scanlines(sub):
        return b"".join(b"\0" + sub[i].tobytes() for i in range(sub.shape[0]))

    if not interlace:
        raw = scanlines(a)
    else:
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = a[y0::dy, x0::dx]
            if sub.size:
                raw += scanlines(sub)
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, ctype, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra +
            _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


# Minimal BMP writer: any bit depth, bottom-up or top-down, optional BI_BITFIELDS masks.
def bmp_bytes(w, h, bits, rows_bytes, palette=None, top_down=False, masks=None):
    """rows_bytes: list of h packed rows (top to bottom), without padding."""
    stride = ((w * bits + 31) >> 3) & ~3
    data = b"".join(r.ljust(stride, b"\0") for r in (rows_bytes if top_down else rows_bytes[::-1]))
    pal = b"".join(bytes([b, g, r, 0]) for r, g, b in (palette or []))
    compression = 3 if masks else 0
    mask_bytes = b"".join(struct.pack("<I", m) for m in masks) if masks else b""
    header_size = 40 + len(mask_bytes) if masks and len(masks) == 4 else 40
    info = struct.pack("<IiiHHIIiiII", header_size, w, -h if top_down else h, 1, bits,
                       compression, len(data), 2835, 2835, len(palette or []), 0)
    if masks and len(masks) == 4:
        info += mask_bytes
        mask_bytes = b""
    off = 14 + len(info) + len(mask_bytes) + len(pal)
    head = b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off)
    return head + info + mask_bytes + pal + data


def exif_bytes(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


# ----------------------------------------------------------------------------------------------
def save(im, **kw):
    buf = io.BytesIO()
    im.save(buf, **kw)
    return buf.getvalue()


def make_images():
    """Returns [(file name, bytes, note)]."""
    out = []

    def add(name, data, note):
        out.append((name, data, note))

    rgb = lambda w, h, s: Image.fromarray(synth_rgb(w, h, s), "RGB")  # noqa: E731

    add("odd_333x517.png", save(rgb(333, 517, 1), format="PNG", optimize=True), "RGB PNG, odd size")
    add("wide_1500x91.png", save(rgb(1500, 91, 2), format="PNG", optimize=True), "very wide")
    add("tall_67x1100.png", save(rgb(67, 1100, 3), format="PNG", optimize=True), "very tall")
    add("gray_L_301x203.png", save(Image.fromarray(synth_gray(301, 203, 4), "L"), format="PNG"),
        "8-bit gray PNG (mode L)")
    # Palette PNG with a tRNS chunk of several alpha values (mode P + transparency).
    p = rgb(250, 170, 5).quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=0)
    add("palette_trns_250x170.png",
        save(p, format="PNG", transparency=bytes([0, 64, 128, 200] + [255] * 4)),
        "palette PNG with tRNS (alpha dropped by convert('RGB'))")
    rgba = np.dstack([synth_rgb(211, 307, 6), synth_gray(211, 307, 7)])
    add("rgba_211x307.png", save(Image.fromarray(rgba, "RGBA"), format="PNG"), "RGBA PNG")
    la = np.dstack([synth_gray(97, 55, 8), 255 - synth_gray(97, 55, 9)])
    add("gray_alpha_97x55.png", save(Image.fromarray(la, "LA"), format="PNG"), "LA PNG")
    a16 = (synth_rgb(160, 120, 10).astype(np.uint32) * 257 +
           np.random.default_rng(10).integers(0, 257, (120, 160, 3))).astype(np.uint16)
    add("rgb16_160x120.png", png_bytes(a16, 16, 2), "16-bit RGB PNG")
    # 16-bit gray: values 0..1023 so both the kept (< 256) and the clipped range appear.
    g16 = (synth_gray(150, 100, 11).astype(np.uint32) * 4 + 3).astype(np.uint16)
    add("gray16_150x100.png", png_bytes(g16, 16, 0), "16-bit gray PNG (Pillow mode I;16)")
    ga16 = np.dstack([synth_gray(64, 48, 12).astype(np.uint16) * 257 + 100,
                      np.full((48, 64), 40000, np.uint16)])
    add("gray_alpha16_64x48.png", png_bytes(ga16, 16, 4), "16-bit gray+alpha PNG (mode RGBA)")
    bilevel = Image.fromarray(synth_gray(129, 77, 13), "L").convert("1")
    add("bilevel_1bit_129x77.png", save(bilevel, format="PNG"), "1-bit PNG (mode 1)")
    g4 = (synth_gray(71, 33, 14) >> 4).astype(np.uint8)
    packed = np.packbits(np.unpackbits(g4[..., None], axis=-1)[..., 4:].reshape(33, -1), axis=-1)
    add("gray4_71x33.png",
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 71, 33, 4, 0, 0, 0, 0)) +
        _chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r.tobytes() for r in packed))) +
        _chunk(b"IEND", b""), "4-bit gray PNG")
    add("interlaced_255x133.png", png_bytes(synth_rgb(255, 133, 15), 8, 2, interlace=True),
        "Adam7-interlaced RGB PNG")
    add("exif_orient6_90x60.png",
        save(rgb(90, 60, 16), format="PNG", exif=exif_bytes(6)), "PNG with eXIf Orientation=6")

    add("baseline_640x480.jpg", save(rgb(640, 480, 20), format="JPEG", quality=90),
        "baseline JPEG 4:2:0")
    add("progressive_500x375.jpg",
        save(rgb(500, 375, 21), format="JPEG", quality=85, progressive=True, subsampling=1),
        "progressive JPEG 4:2:2")
    add("q444_211x97.jpg", save(rgb(211, 97, 22), format="JPEG", quality=95, subsampling=0),
        "JPEG 4:4:4")
    add("gray_320x240.jpg", save(Image.fromarray(synth_gray(320, 240, 23), "L"), format="JPEG"),
        "grayscale JPEG")
    cmyk = rgb(200, 150, 24).convert("CMYK")
    add("cmyk_200x150.jpg", save(cmyk, format="JPEG", quality=90), "CMYK JPEG (Adobe, inverted)")
    for o in range(1, 9):
        add(f"exif_orient{o}_45x30.jpg",
            save(rgb(45, 30, 30 + o), format="JPEG", quality=90, exif=exif_bytes(o)),
            f"JPEG with EXIF Orientation={o}")

    add("bmp24_123x77.bmp", save(rgb(123, 77, 40), format="BMP"), "24-bit BMP, bottom-up")
    add("bmp8_97x61.bmp",
        save(rgb(97, 61, 41).quantize(colors=200, dither=0), format="BMP"), "8-bit palette BMP")
    add("bmp1_50x20.bmp", save(Image.fromarray(synth_gray(50, 20, 42), "L").convert("1"),
                               format="BMP"), "1-bit BMP")
    g = synth_rgb(37, 23, 43)
    q = Image.fromarray(g, "RGB").quantize(colors=16, dither=0)
    idx = np.asarray(q)
    pal = np.asarray(q.getpalette()[:48]).reshape(16, 3).tolist()
    rows4 = [bytes(((idx[y, 0::2] << 4) | np.append(idx[y, 1::2], [0] * (37 % 2))).astype(np.uint8))
             for y in range(23)]
    add("bmp4_37x23.bmp", bmp_bytes(37, 23, 4, rows4, palette=[tuple(c) for c in pal]),
        "4-bit palette BMP")
    rows24 = [g[y, :, ::-1].tobytes() for y in range(23)]
    add("bmp24_topdown_37x23.bmp", bmp_bytes(37, 23, 24, rows24, top_down=True),
        "24-bit top-down BMP")
    c = g.astype(np.uint32)
    p555 = ((c[..., 0] >> 3) << 10) | ((c[..., 1] >> 3) << 5) | (c[..., 2] >> 3)
    add("bmp16_555_37x23.bmp",
        bmp_bytes(37, 23, 16, [p555[y].astype("<u2").tobytes() for y in range(23)]),
        "16-bit BMP, 5-5-5")
    p565 = ((c[..., 0] >> 3) << 11) | ((c[..., 1] >> 2) << 5) | (c[..., 2] >> 3)
    add("bmp16_565_37x23.bmp",
        bmp_bytes(37, 23, 16, [p565[y].astype("<u2").tobytes() for y in range(23)],
                  masks=[0xF800, 0x7E0, 0x1F]), "16-bit BMP, 5-6-5 bitfields")
    bgrx = np.dstack([g[..., ::-1], np.full((23, 37), 77, np.uint8)])
    add("bmp32_37x23.bmp", bmp_bytes(37, 23, 32, [bgrx[y].tobytes() for y in range(23)]),
        "32-bit BMP (BGRX)")
    add("bmp32_bgra_37x23.bmp",
        bmp_bytes(37, 23, 32, [bgrx[y].tobytes() for y in range(23)],
                  masks=[0xFF0000, 0xFF00, 0xFF, 0xFF000000]), "32-bit BMP, BGRA bitfields")

    frames = [rgb(120, 90, 50).quantize(colors=100, dither=0),
              rgb(120, 90, 51).quantize(colors=50, dither=0)]
    add("anim_120x90.gif", save(frames[0], format="GIF", save_all=True,
                                append_images=frames[1:], duration=100, loop=0),
        "2-frame GIF (first frame is used)")
    t = rgb(64, 40, 52).quantize(colors=32, dither=0)
    add("trns_interlaced_64x40.gif", save(t, format="GIF", transparency=3, interlace=True),
        "interlaced GIF with transparency")

    add("lossy_300x200.webp", save(rgb(300, 200, 60), format="WEBP", quality=80), "lossy WebP")
    add("lossless_alpha_150x100.webp",
        save(Image.fromarray(np.dstack([synth_rgb(150, 100, 61), synth_gray(150, 100, 62)]),
                             "RGBA"), format="WEBP", lossless=True, exact=True),
        "lossless WebP with alpha")
    add("lossy_alpha_97x53.webp",
        save(Image.fromarray(np.dstack([synth_rgb(97, 53, 63), synth_gray(97, 53, 64)]), "RGBA"),
             format="WEBP", quality=70), "lossy WebP with alpha")

    add("tiny_1x1.png", save(Image.new("RGB", (1, 1), (12, 200, 99)), format="PNG"), "1x1")
    add("tiny_1x1.jpg", save(Image.new("RGB", (1, 1), (12, 200, 99)), format="JPEG"), "1x1 JPEG")

    # The large one: smooth, so it is small on disk.
    y, x = np.mgrid[0:3000, 0:4000].astype(np.float32)
    big = np.stack([x * (255 / 3999), y * (255 / 2999),
                    127.5 + 100 * np.sin(x / 300 + y / 500)], -1)
    bim = Image.fromarray(np.rint(big).astype(np.uint8), "RGB")
    ImageDraw.Draw(bim).ellipse([800, 600, 2400, 2200], fill=(240, 200, 20))
    add("large_4000x3000.jpg", save(bim, format="JPEG", quality=70), "4000x3000 JPEG")
    return out


# ----------------------------------------------------------------------------------------------
def expand2square(img):  # llava/mm_utils.py expand2square, background (0, 0, 0)
    w, h = img.size
    if w == h:
        return img
    if w > h:
        result = Image.new(img.mode, (w, w), (0, 0, 0))
        result.paste(img, (0, (w - h) // 2))
        return result
    result = Image.new(img.mode, (h, h), (0, 0, 0))
    result.paste(img, ((h - w) // 2, 0))
    return result


def center_crop_pipeline(img, s):
    """transformers CLIPImageProcessor (PIL backend) resize shortest_edge + center_crop, in uint8."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(s * long / short)  # image_transforms.get_resize_output_image_size
    nw, nh = (s, new_long) if w <= h else (new_long, s)
    r = img.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - s) // 2, (nw - s) // 2  # image_transforms.center_crop
    return r.crop((left, top, left + s, top + s))


def summary(img):
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return {
        "width": img.size[0],
        "height": img.size[1],
        "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
        "row_sums": a.reshape(a.shape[0], -1).sum(axis=1, dtype=np.int64).tolist(),
    }


def check_crop_against_transformers(img, expect):
    """The manual crop pipeline above must equal transformers' own processor (x255)."""
    from transformers import CLIPImageProcessorPil
    proc = CLIPImageProcessorPil(size={"shortest_edge": SIZE_CROP},
                                 crop_size={"height": SIZE_CROP, "width": SIZE_CROP},
                                 image_mean=[0, 0, 0], image_std=[1, 1, 1])
    pv = proc(images=img, return_tensors="np")["pixel_values"][0]  # CHW float32
    want = (np.asarray(expect, dtype=np.float64) * (1 / 255)).astype(np.float32).transpose(2, 0, 1)
    if not np.array_equal(pv, want):
        sys.exit("center-crop pipeline disagrees with transformers CLIPImageProcessorPil")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "images"))
    ap.add_argument("--no-transformers-check", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for f in os.listdir(args.out):
        os.remove(os.path.join(args.out, f))

    images = make_images()
    entries = []
    for name, data, note in images:
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        mode = im.mode
        rgb = im.convert("RGB")
        e = {"file": name, "note": note, "pillow_mode": mode, "bytes": len(data),
             "decode": summary(rgb)}
        sq = expand2square(rgb)
        e["pad"] = {str(s): summary(sq.resize((s, s), Image.BICUBIC)) for s in SIZES_PAD}
        crop = center_crop_pipeline(rgb, SIZE_CROP)
        e["crop"] = {str(SIZE_CROP): summary(crop)}
        if not args.no_transformers_check and name in ("odd_333x517.png", "wide_1500x91.png"):
            check_crop_against_transformers(rgb, np.asarray(crop))
        orient = im.getexif().get(0x0112)
        if orient is not None:
            t = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
            e["exif_orientation"] = orient
            e["exif_transposed"] = summary(t)
            e["exif_transposed_pad"] = {"1024": summary(
                expand2square(t).resize((1024, 1024), Image.BICUBIC))}
        entries.append(e)
        print(f"{name:32s} {mode:6s} {len(data):8d} bytes  {im.size[0]}x{im.size[1]}")

    # Rescale check: x/255 in float32 as transformers computes it (float64 multiply, then cast).
    v = np.arange(256)
    to_float = (v.astype(np.float64) * (1 / 255)).astype(np.float32)
    doc = {
        "generator": "tools/reference/make_image_fixtures.py",
        "versions": {"Pillow": PIL.__version__, "numpy": np.__version__,
                     "pillow_libjpeg_turbo": PIL.features.version("jpg"),
                     "pillow_libwebp": PIL.features.version("webp")},
        "rescale_u8_to_f32_hex": [struct.pack("<f", x).hex() for x in to_float.tolist()],
        "images": entries,
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"{len(entries)} images, total {total / 1e6:.3f} MB in {args.out}")


if __name__ == "__main__":
    import PIL.features  # noqa: F401
    main()
