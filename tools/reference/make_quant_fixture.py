#!/usr/bin/env python3
"""Quantization fixture: a small deterministic f32 array quantized to Q8_0 / Q4_0 / Q4_1 with the
gguf package's quantizers (written to be bit-exact with llama.cpp's quantize_row_*_ref), and
dequantized back with gguf's dequantizers. tests/unit/quant_formats_test.cc checks that our
quantizer reproduces the bytes exactly and our dequantizer the floats.

Run: /work/refvenv/bin/python tools/reference/make_quant_fixture.py [out_dir]
(default tests/fixtures/quant). Pinned: gguf==<version recorded in fixture.json>, numpy.
"""
import hashlib
import json
import pathlib
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants

BLOCK = 32


def make_input() -> np.ndarray:
    rng = np.random.default_rng(20240607)
    blocks = []
    blocks.append(np.zeros(BLOCK, np.float32))                       # all zeros
    b = rng.normal(0, 0.01, BLOCK).astype(np.float32); b[5] = 1e4    # one huge value
    blocks.append(b)
    b = rng.normal(0, 1, BLOCK).astype(np.float32); b[17] = -9.0     # negative max
    blocks.append(b)
    # Rounding ties: amax 127 gives Q8_0 d = 1 exactly, so x/d = k + 0.5 is a tie (half away
    # from zero); max −8 gives Q4_0 d = 1 and min 0 / max 15 gives Q4_1 d = 1: x + 8.5 and
    # x + 0.5 land exactly on integers.
    b = np.array([127.0, -126.5, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5] + [k + 0.5 for k in range(-12, 12)],
                 np.float32)
    blocks.append(b)
    b = np.array([-8.0] + [k * 0.5 for k in range(-15, 16)], np.float32)  # Q4_0 ties, d = 1
    blocks.append(b)
    b = np.array([0.0, 15.0] + [k + 0.5 for k in range(15)] + [k * 1.0 for k in range(15)], np.float32)
    blocks.append(b)                                                  # Q4_1 ties, d = 1
    b = rng.normal(0, 1, BLOCK).astype(np.float32); b[3] = 7.0; b[20] = -7.0  # |max| tie: first wins
    blocks.append(b)
    blocks.append(np.full(BLOCK, 3.25, np.float32))                   # constant block (Q4_1 d = 0)
    blocks.append(np.full(BLOCK, -0.75, np.float32))
    blocks.append(rng.normal(0, 1e-6, BLOCK).astype(np.float32))      # f16-subnormal scales
    blocks.append((rng.normal(0, 1, BLOCK) * 3e3).astype(np.float32))  # large scales
    blocks.append(np.abs(rng.normal(0, 1, BLOCK)).astype(np.float32))  # all positive
    blocks.append(-np.abs(rng.normal(0, 1, BLOCK)).astype(np.float32))  # all negative
    for scale in (0.02, 1.0, 50.0):                                    # ordinary weights
        for _ in range(17):
            blocks.append(rng.normal(0, scale, BLOCK).astype(np.float32))
    return np.concatenate(blocks).astype(np.float32)


def main() -> None:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/quant")
    out.mkdir(parents=True, exist_ok=True)
    x = make_input()
    rows, cols = 2, x.size // 2          # two rows: row-wise quantization
    assert cols % BLOCK == 0
    x2 = x.reshape(rows, cols)
    files = {"input": "input.f32"}
    (out / "input.f32").write_bytes(x.astype("<f4").tobytes())
    for name, qt in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1)):
        q = quants.quantize(x2, qt)
        dq = quants.dequantize(q, qt).astype("<f4")
        (out / f"{name}.bin").write_bytes(q.tobytes())
        (out / f"{name}.deq.f32").write_bytes(dq.tobytes())
        files[name] = f"{name}.bin"
        files[name + "_dequant"] = f"{name}.deq.f32"
    meta = {
        "description": "f32 input [rows, cols] quantized row-wise by gguf.quants.quantize to the "
                       "ggml block formats (bytes as stored in GGUF), and the dequantized f32 "
                       "from gguf.quants.dequantize. Edge cases: all-zero block, one huge "
                       "value, negative max, rounding ties for each format, |max| ties, constant "
                       "blocks, f16-subnormal scales, large scales.",
        "generator": "tools/reference/make_quant_fixture.py",
        "gguf_version": getattr(gguf, "__version__", None) or __import__("importlib.metadata").metadata.version("gguf"),
        "numpy_version": np.__version__,
        "rows": rows, "cols": cols, "blocks_per_row": cols // BLOCK,
        "files": files,
        "sha256": {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files.values()},
    }
    (out / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: {rows}x{cols}")


if __name__ == "__main__":
    main()
