#!/usr/bin/env python3
"""Checks that fastvlm.cpp's greedy answers equal transformers' on a trained (or any) FastVLM
folder written by train.py: fresh synthetic images of every task (`fastvlm synth`, seeds from
--seed), the same chat prompt, greedy decoding until <|im_end|> or --max-new tokens.

transformers runs FastVlmForConditionalGeneration in float32 on the folder's weights (bf16 ones
upcast: what our engine computes with --exact). Our engine runs `fastvlm run --jsonl --exact`
(f32 activations) and, for information, the default bf16 dot-product mode. Exit status 0 when
every --exact answer equals transformers' answer.

Usage: /work/refvenv/bin/python tools/train/check_parity.py --model /work/train-out/demo/hf \\
           [--fastvlm build-train/fastvlm] [--count 4] [--seed 1000000] [--json OUT]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TIMM_FUSED_ATTN", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import (EOT_ID, IM_END_ID, IMAGE_ID, TASKS, PromptBuilder, find_fastvlm,  # noqa: E402
                   load_items)


def engine_answers(fastvlm, model, images, question, max_new, exact):
    cmd = [fastvlm, "run", "--model", model, "--prompt", question, "--jsonl", "-n", str(max_new),
           "-t", "2"]
    if exact:
        cmd.append("--exact")
    for p in images:
        cmd += ["--image", p]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_image = {r["image"]: r for r in rows}
    return [by_image[p]["text"] for p in images]


@torch.no_grad()
def hf_answers(model, pb, items, size, max_new):
    out = []
    for it in items:
        ids = torch.tensor([pb.prompt(it["truth"]["question"])])
        im = np.array(Image.open(it["png"]).convert("RGB"))
        assert im.shape[:2] == (size, size), "check_parity: images must be the model's input size"
        px = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0
        gen = model.generate(input_ids=ids, pixel_values=px, attention_mask=torch.ones_like(ids),
                             max_new_tokens=max_new, do_sample=False, num_beams=1,
                             eos_token_id=[IM_END_ID, EOT_ID], pad_token_id=EOT_ID)
        new = [t for t in gen[0, ids.shape[1]:].tolist() if t not in (IM_END_ID, EOT_ID)]
        out.append(pb.tok.decode(new))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True, help="HF folder written by train.py")
    ap.add_argument("--fastvlm", default="")
    ap.add_argument("--count", type=int, default=4, help="images per task")
    ap.add_argument("--seed", type=int, default=1000000)
    ap.add_argument("--max-new", type=int, default=24)
    ap.add_argument("--json", default="", help="write every answer here")
    a = ap.parse_args()
    torch.set_num_threads(2)
    fastvlm = find_fastvlm(a.fastvlm)

    from transformers import FastVlmForConditionalGeneration
    model = FastVlmForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32).eval()
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    size = json.load(open(os.path.join(a.model, "preprocessor_config.json")))["crop_size"]["height"]
    pb = PromptBuilder((size // 64) ** 2)
    assert model.config.image_token_id == IMAGE_ID

    rows, same_exact, same_fast = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([fastvlm, "synth", "--task", "all", "--count", str(a.count), "--seed",
                        str(a.seed), "--size", str(size), "--out", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        items = load_items(tmp, a.count)
        hf = hf_answers(model, pb, items, size, a.max_new)
        for task in TASKS:
            part = [k for k, it in enumerate(items) if it["task"] == task]
            imgs = [items[k]["png"] for k in part]
            q = items[part[0]]["truth"]["question"]
            ex = engine_answers(fastvlm, a.model, imgs, q, a.max_new, exact=True)
            fa = engine_answers(fastvlm, a.model, imgs, q, a.max_new, exact=False)
            for k, e, f in zip(part, ex, fa):
                ok_e, ok_f = e == hf[k], f == hf[k]
                same_exact += ok_e
                same_fast += ok_f
                rows.append({"task": task, "seed": items[k]["truth"]["seed"],
                             "truth": items[k]["truth"]["answer"], "transformers": hf[k],
                             "fastvlm_exact": e, "fastvlm_bf16dot": f,
                             "equal_exact": ok_e, "equal_bf16dot": ok_f})
                flag = "ok  " if ok_e else "DIFF"
                print(f"{flag} {task:9s} seed {rows[-1]['seed']}: transformers {hf[k]!r} | "
                      f"fastvlm --exact {e!r} | fastvlm {f!r}")
    n = len(rows)
    print(f"\ngreedy answers equal to transformers': --exact {same_exact}/{n}, "
          f"default (bf16 dot products) {same_fast}/{n}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "fastvlm.train_parity.v1", "model": a.model, "count": a.count,
                       "seed": a.seed, "equal_exact": same_exact, "equal_default": same_fast,
                       "n": n, "rows": rows}, f, indent=1)
    sys.exit(0 if same_exact == n else 1)


if __name__ == "__main__":
    main()
