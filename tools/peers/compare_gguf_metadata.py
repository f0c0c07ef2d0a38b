#!/usr/bin/env python3
"""Compares two GGUF files' metadata and tensors with gguf-py: e.g. `fastvlm export-llm` output
against llama.cpp's convert_hf_to_gguf.py output of the same Hugging Face folder.

  compare_gguf_metadata.py OURS.gguf THEIRS.gguf [--data]

Prints every key that differs or exists in one file only, the tensor list differences (name,
type, shape), and with --data whether tensors of the same type are bit-identical (and the max
abs difference of the others after conversion to f32). Exit status 0 always: differences are
for a human to explain.
"""
import argparse
import sys

import numpy as np
from gguf import GGUFReader
from gguf.constants import GGMLQuantizationType
from gguf.quants import dequantize


def fields(r):
    out = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        t = [int(x) for x in f.types]
        if t[0] == 9:
            if t[-1] == 8:
                v = [bytes(f.parts[i]).decode("utf-8", "replace") for i in f.data]
            else:
                v = [f.parts[i].tolist()[0] for i in f.data]
        elif t[0] == 8:
            v = bytes(f.parts[f.data[0]]).decode("utf-8", "replace")
        else:
            v = f.parts[f.data[0]].tolist()[0]
        out[f.name] = (t, v)
    return out


def short(v):
    if isinstance(v, list):
        return f"[{len(v)} items: {v[:3]} ... {v[-2:]}]"
    s = repr(v)
    return s if len(s) < 90 else s[:87] + "..."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("theirs")
    ap.add_argument("--data", action="store_true", help="compare tensor bytes too")
    a = ap.parse_args()
    ra, rb = GGUFReader(a.ours), GGUFReader(a.theirs)
    fa, fb = fields(ra), fields(rb)
    print(f"ours:   {a.ours} ({len(fa)} keys, {len(ra.tensors)} tensors, alignment {ra.alignment})")
    print(f"theirs: {a.theirs} ({len(fb)} keys, {len(rb.tensors)} tensors, alignment {rb.alignment})")
    print("\n== metadata ==")
    for k in list(fa) + [k for k in fb if k not in fa]:
        if k not in fb:
            print(f"only ours   {k} = {short(fa[k][1])}")
        elif k not in fa:
            print(f"only theirs {k} = {short(fb[k][1])}")
        elif fa[k] != fb[k]:
            if fa[k][0] != fb[k][0]:
                print(f"type differs {k}: ours {fa[k][0]} theirs {fb[k][0]}")
            va, vb = fa[k][1], fb[k][1]
            if isinstance(va, list) and isinstance(vb, list) and len(va) == len(vb):
                diff = [i for i in range(len(va)) if va[i] != vb[i]]
                print(f"differs {k}: {len(diff)} of {len(va)} entries, first {diff[:5]}: "
                      f"ours {[va[i] for i in diff[:3]]} theirs {[vb[i] for i in diff[:3]]}")
            elif va != vb:
                print(f"differs {k}: ours {short(va)} theirs {short(vb)}")
        else:
            print(f"same        {k}")
    print("\n== tensors ==")
    ta = {t.name: t for t in ra.tensors}
    tb = {t.name: t for t in rb.tensors}
    for n in sorted(set(ta) | set(tb)):
        if n not in tb:
            print(f"only ours   {n}")
        elif n not in ta:
            print(f"only theirs {n}")
    same_meta = 0
    for n in ta:
        if n in tb:
            x, y = ta[n], tb[n]
            if list(x.shape) != list(y.shape) or x.tensor_type != y.tensor_type:
                print(f"differs {n}: ours {x.tensor_type.name} {list(x.shape)}, "
                      f"theirs {y.tensor_type.name} {list(y.shape)}")
            else:
                same_meta += 1
    print(f"{same_meta} tensors with the same name, type and shape")
    print("order identical" if [t.name for t in ra.tensors] == [t.name for t in rb.tensors]
          else "order differs (llama.cpp looks tensors up by name)")
    if a.data:
        identical, close = 0, []
        for n in ta:
            if n not in tb:
                continue
            x, y = ta[n], tb[n]
            if x.tensor_type == y.tensor_type and bytes(x.data.tobytes()) == bytes(y.data.tobytes()):
                identical += 1
                continue
            dx = dequantize(x.data, x.tensor_type).astype(np.float32).reshape(-1)
            dy = dequantize(y.data, y.tensor_type).astype(np.float32).reshape(-1)
            close.append((n, float(np.max(np.abs(dx - dy)))))
        print(f"data: {identical} tensors bit-identical")
        for n, d in close:
            print(f"data: {n} differs, max |diff| {d:.3g}")


if __name__ == "__main__":
    sys.exit(main())
