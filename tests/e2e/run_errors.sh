#!/usr/bin/env bash
# Bad input to `fastvlm run` / `chat`: a clear one-line error naming the file or flag, exit status
# 1 (2 for usage errors from the option parser), never a crash.
set -uo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/fastvlm"
model="$fx/models/tiny-f32-apple"
img="$fx/images/street-300x200.png"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"
: > "$tmp/empty.png"
head -c 200 "$img" > "$tmp/truncated.png"
head -c 5000 /dev/urandom > "$tmp/noise.jpg"
mkdir "$tmp/dir-without-images"
# A PNG header claiming 20000 x 20000 pixels (400 megapixels), no pixel data.
python3 - "$tmp/huge.png" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
PY
expect_error "over 100 megapixels" "megapixels" -- "$bin" run --model "$model" --image "$tmp/huge.png"
expect_error "0-byte file" "empty.png" -- "$bin" run --model "$model" --image "$tmp/empty.png"
expect_error "truncated PNG" "truncated.png" -- "$bin" run --model "$model" --image "$tmp/truncated.png"
expect_error "random bytes" "noise.jpg" -- "$bin" run --model "$model" --image "$tmp/noise.jpg"
expect_error "missing file" "no-such.png" -- "$bin" run --model "$model" --image "$tmp/no-such.png"
expect_error "directory without images" "no image files" -- "$bin" run --model "$model" --image "$tmp/dir-without-images"
expect_error "text-only checkpoint" "no vision tower" -- "$bin" run --model "$src/tests/fixtures/qwen2/models/realvocab-bf16" --image "$img"
expect_error "image size not /64" "multiple of 64" -- "$bin" run --model "$model" --image "$img" --image-size 100
expect_error "prompt longer than the context" "does not fit in the context" -- "$bin" run --model "$model" --image "$img" --ctx-size 30
# A checkpoint whose vision tower lacks a tensor: the error names it.
mkdir "$tmp/broken-model"
cp "$model"/*.json "$tmp/broken-model/"
python3 - "$model/model.safetensors" "$tmp/broken-model/model.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
drop = "model.vision_tower.vision_tower.model.network.7.0.token_mixer.qkv.weight"
assert drop in hdr
del hdr[drop]
out = json.dumps(hdr).encode(); out += b" " * (-len(out) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(out)) + out + data)
PY
expect_error "missing vision tensor" "network.7.0.token_mixer.qkv.weight" -- "$bin" run --model "$tmp/broken-model" --image "$img"
[ "$fails" = 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS"
