#!/usr/bin/env python3
"""Writes the GGUF compatibility fixture with the reference `gguf` package (never edit by hand).

  tests/fixtures/gguf/reference.gguf   a tiny GGUF v3 file (< 20 kB) written by gguf.GGUFWriter:
                                       metadata of most value types (incl. a string array and a
                                       nested-free int array) and F32 / F16 / BF16 / Q8_0 / Q4_0 /
                                       Q4_1 tensors of 1-3 dims, default alignment (no
                                       general.alignment key, so readers must assume 32)
  tests/fixtures/gguf/reference.json   every key with its GGUF value type and value, and every
                                       tensor's name, ggml type, row-major shape, data offset and
                                       SHA-256 of its bytes

tests/unit/io_gguf_test.cc opens the file with our reader and checks it against the JSON.

Run with the reference venv (pinned: gguf 0.19.0, numpy 2.4.6):
  /work/refvenv/bin/python tools/reference/make_gguf_fixture.py
To check a file written by OUR writer with the reference reader (prints keys and tensors):
  /work/refvenv/bin/python tools/reference/make_gguf_fixture.py --check FILE.gguf
"""

import argparse
import hashlib
import json
import os
import sys

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

EXPECTED_VERSIONS = {"gguf": "0.19.0"}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "gguf")


def package_version(name):
    from importlib.metadata import version

    return version(name)


def deterministic(shape, scale):
    """Values that do not depend on a RNG implementation: a smooth wave with mixed signs."""
    n = int(np.prod(shape))
    x = np.arange(n, dtype=np.float64)
    return (np.sin(x * 0.37) * scale + (x % 7 - 3) * 0.01).astype(np.float32).reshape(shape)


def sha256(b):
    return hashlib.sha256(bytes(b)).hexdigest()


def make():
    for name, want in EXPECTED_VERSIONS.items():
        got = package_version(name)
        if got != want:
            sys.exit(f"{name} {got} installed, fixtures are pinned to {want}")

    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "reference.gguf")

    # (key, value type, value[, array element type]); GGUFWriter adds general.architecture first.
    kvs = [
        ("test.u8", V.UINT8, 200),
        ("test.i8", V.INT8, -100),
        ("test.u16", V.UINT16, 60000),
        ("test.i16", V.INT16, -30000),
        ("test.u32", V.UINT32, 4000000000),
        ("test.i32", V.INT32, -2000000000),
        ("test.f32", V.FLOAT32, 0.15625),
        ("test.bool", V.BOOL, True),
        ("test.string", V.STRING, "héllo, GGUF"),
        ("test.u64", V.UINT64, 2**63 + 5),
        ("test.i64", V.INT64, -(2**40)),
        ("test.f64", V.FLOAT64, -1.0e-300),
        ("test.empty_string", V.STRING, ""),
        ("tokenizer.tokens", V.ARRAY, ["<s>", "hello", " world", "", "日本"], V.STRING),
        ("test.i32_array", V.ARRAY, [1, -2, 3, 2147483647], V.INT32),
        ("test.f32_array", V.ARRAY, [0.5, -1.25, 3.0], V.FLOAT32),
    ]

    tensors = [
        ("f32_3d", Q.F32, (2, 3, 5)),
        ("f32_1d", Q.F32, (7,)),
        ("f16_2d", Q.F16, (4, 7)),
        ("bf16_2d", Q.BF16, (3, 4)),
        ("q8_0_2d", Q.Q8_0, (3, 64)),
        ("q4_0_2d", Q.Q4_0, (2, 32)),
        ("q4_1_3d", Q.Q4_1, (2, 1, 64)),
    ]

    w = gguf.GGUFWriter(path, arch="fastvlm-test")
    for key, vtype, value, *sub in kvs:
        w.add_key_value(key, value, vtype, sub_type=sub[0] if sub else None)

    out_tensors = []
    for k, (name, qtype, shape) in enumerate(tensors):
        values = deterministic(shape, scale=1.0 + k)
        if qtype == Q.F32:
            data = values
            w.add_tensor(name, data)
        elif qtype == Q.F16:
            data = values.astype(np.float16)
            w.add_tensor(name, data)
        else:
            data = gguf.quants.quantize(values, qtype)  # uint8, shape (..., row bytes)
            w.add_tensor(name, data, raw_dtype=qtype)
        out_tensors.append({"name": name, "type": qtype.name, "type_id": int(qtype),
                            "shape": list(shape), "nbytes": int(data.nbytes),
                            "sha256": sha256(np.ascontiguousarray(data).tobytes())})

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Everything the C++ test checks is taken from the reference reader's view of the file, after
    # checking that view against what we meant to write.
    r = gguf.GGUFReader(path)
    out_kvs = []
    meant = {"general.architecture": (V.STRING, "fastvlm-test", None)}
    meant.update({key: (vt, val, sub[0] if sub else None) for key, vt, val, *sub in kvs})
    for field in r.fields.values():
        if field.name.startswith("GGUF."):
            continue  # the reader's pseudo-fields for the header
        vt, val, sub = meant[field.name]
        got = field.contents()
        if vt in (V.FLOAT32, V.FLOAT64) or sub == V.FLOAT32:
            assert np.allclose(got, val, rtol=0, atol=0), (field.name, got, val)
        else:
            assert got == val, (field.name, got, val)
        assert field.types[0] == vt, (field.name, field.types)
        entry = {"key": field.name, "type": vt.name.lower(), "value": val}
        if sub is not None:
            entry["element_type"] = sub.name.lower()
        if vt == V.UINT64:
            entry["value"] = str(val)  # beyond JSON's safe integers: compare as text
        out_kvs.append(entry)
    assert [e["key"] for e in out_kvs] == ["general.architecture"] + [k[0] for k in kvs]

    for t, rt in zip(out_tensors, r.tensors):
        assert rt.name == t["name"] and rt.tensor_type.name == t["type"], (rt.name, t)
        assert [int(d) for d in reversed(rt.shape)] == t["shape"], (rt.name, rt.shape)
        assert sha256(rt.data.tobytes()) == t["sha256"], rt.name
        t["offset"] = int(rt.data_offset - r.data_offset)

    size = os.path.getsize(path)
    assert size < 20000, size
    with open(os.path.join(OUT_DIR, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/reference/make_gguf_fixture.py",
                   "versions": {n: package_version(n) for n in ("gguf", "numpy")},
                   "file_size": size, "alignment": 32, "metadata": out_kvs,
                   "tensors": out_tensors}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path} ({size} bytes, {len(out_kvs)} keys, {len(out_tensors)} tensors)")


def check(path):
    """Prints what the reference reader sees in `path` (e.g. a file written by our GgufWriter)."""
    r = gguf.GGUFReader(path)
    for field in r.fields.values():
        v = field.contents() if field.types else None
        types = "/".join(t.name for t in field.types)
        print(f"kv {field.name} [{types}] = {v!r}"[:200])
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        print(f"tensor {t.name} {t.tensor_type.name} shape={shape} n_bytes={t.n_bytes} "
              f"file_offset={t.data_offset} sha256={sha256(t.data.tobytes())[:16]}")
    print(f"ok: {len(r.tensors)} tensors, data section at {r.data_offset}, alignment {r.alignment}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", metavar="FILE", help="read FILE with gguf.GGUFReader and print it")
    args = ap.parse_args()
    if args.check:
        check(args.check)
    else:
        make()
