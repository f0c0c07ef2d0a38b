#!/usr/bin/env python3
"""Side-by-side FastVLM image-to-first-token speed: fastvlm.cpp vs PyTorch (transformers
FastVlmForConditionalGeneration on the CPU), same weights, same image, same prompt, same threads,
alternating runs.

Each round: PyTorch (model loaded once, in this process) times, for one image file,
  preprocess (Pillow: open, convert RGB, pad to square, bicubic resize, /255),
  vision encoder (timm FastViTHD), projector, and time to first token (preprocess + vision +
  projector + prefill of the spliced prompt + argmax);
then `fastvlm run --verbose -n 1` on the same file, whose stderr gives the same phases. Medians
over the rounds and the ratio PyTorch / ours (> 1: we are faster) are reported.

PyTorch runs in float32 (--torch-dtype float32, the default: what "PyTorch on CPU" means for
this model; its fused SDPA attention is left on, its fastest path) or bfloat16.

usage: compare_fastvlm.py --fastvlm build/fastvlm --model DIR-hf [--ours-model DIR]
                          [--image FILE] [--threads 2] [--rounds 5] [--json OUT] [-- extra args]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

PROMPT = "Describe this image."


def expand2square(img):
    w, h = img.size
    if w == h:
        return img
    s = max(w, h)
    out = Image.new(img.mode, (s, s), (0, 0, 0))
    out.paste(img, ((s - w) // 2, 0) if w < h else (0, (s - h) // 2))
    return out


def prompt_ids(tok, image_token_id, n_img, question=PROMPT):
    text = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n"
            f"{question}<|im_end|>\n<|im_start|>assistant\n")
    ids = []
    for k, chunk in enumerate(text.split("<image>")):
        if k:
            ids += [image_token_id] * n_img
        ids += tok(chunk, add_special_tokens=False)["input_ids"]
    return ids


@torch.no_grad()
def image_to_first_token(model, ids, image_path, size, use_cache=False):
    """The reference pipeline up to the first token: returns the timestamps after each phase
    (start, image decoded, preprocessed, vision tower, projector, prefill + argmax), the first
    token and the KV cache (with use_cache)."""
    t = [time.perf_counter()]
    img = Image.open(image_path).convert("RGB")
    t.append(time.perf_counter())
    img = expand2square(img).resize((size, size), Image.BICUBIC)
    pv = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    pv = pv.to(model.dtype)
    t.append(time.perf_counter())
    feats = model.model.vision_tower(pv, return_dict=True).last_hidden_state
    feats = feats.flatten(2).permute(0, 2, 1)
    t.append(time.perf_counter())
    emb_img = model.model.multi_modal_projector(feats)
    t.append(time.perf_counter())
    inp = torch.tensor([ids])
    embeds = model.get_input_embeddings()(inp)
    mask = (inp == model.config.image_token_id)[..., None].expand_as(embeds)
    embeds = embeds.masked_scatter(mask, emb_img.to(embeds.dtype))
    out = model(inputs_embeds=embeds, use_cache=use_cache, logits_to_keep=1)
    first = int(out.logits[0, -1].argmax())
    t.append(time.perf_counter())
    return t, first, out.past_key_values if use_cache else None


def torch_round(model, ids, image_path, size):
    t, _, _ = image_to_first_token(model, ids, image_path, size)
    return {"preprocess": t[2] - t[0], "vision": t[3] - t[2], "projector": t[4] - t[3],
            "prefill": t[5] - t[4], "ttft": t[5] - t[0]}


def ours_round(args, image_path):
    cmd = [args.fastvlm, "run", "--model", args.ours_model, "--image", image_path, "--prompt",
           PROMPT, "-n", "1", "--threads", str(args.threads), "--verbose"] + args.extra
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr

    def grab(pat, scale=1.0):
        m = re.search(pat, out, re.M)
        if not m:
            raise SystemExit(f"could not find {pat!r} in fastvlm output:\n{out}")
        return float(m.group(1)) * scale
    decode = grab(r"^img decode:\s+([\d.]+) ms", 1e-3)
    # "preprocess" as PyTorch's row measures it: file read + decode + pad + resize + /255.
    return {"load": grab(r"^load:\s+([\d.]+) s"),
            "decode_image": decode,
            "preprocess": decode + grab(r"^preprocess:\s+([\d.]+) ms", 1e-3),
            "vision": grab(r"^vision:\s+([\d.]+) s"),
            "projector": grab(r"^projector:\s+([\d.]+) ms", 1e-3),
            "prefill": grab(r"^prefill:\s+\d+ tokens in ([\d.]+) s"),
            "ttft": grab(r"^ttft:\s+([\d.]+) s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fastvlm", required=True)
    ap.add_argument("--model", required=True, help="transformers-native (fast_vlm) folder")
    ap.add_argument("--ours-model", default=None, help="folder for fastvlm (default: --model)")
    ap.add_argument("--image", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                                                    "fixtures", "fastvlm", "images",
                                                    "street-300x200.png"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--torch-dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--json", default=None)
    ap.add_argument("extra", nargs="*", help="extra arguments for fastvlm run (after --)")
    args = ap.parse_args()
    args.ours_model = args.ours_model or args.model
    torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer, FastVlmForConditionalGeneration
    import transformers
    t0 = time.perf_counter()
    model = FastVlmForConditionalGeneration.from_pretrained(
        args.model, dtype=getattr(torch, args.torch_dtype)).eval()
    torch_load = time.perf_counter() - t0
    tok = AutoTokenizer.from_pretrained(args.model)
    size = 1024
    n_img = (size // 64) ** 2
    ids = prompt_ids(tok, model.config.image_token_id, n_img)
    print(f"torch {torch.__version__} ({args.torch_dtype}, {args.threads} threads), "
          f"load {torch_load:.1f} s; prompt {len(ids)} positions", file=sys.stderr)
    torch_round(model, ids, args.image, size)       # warm-up (allocator, oneDNN primitives)
    ours_round(args, args.image)
    rows = {"torch": [], "ours": []}
    for r in range(args.rounds):
        rows["torch"].append(torch_round(model, ids, args.image, size))
        rows["ours"].append(ours_round(args, args.image))
        t, o = rows["torch"][-1], rows["ours"][-1]
        print(f"round {r + 1}: vision torch {t['vision']:.3f} s ours {o['vision']:.3f} s | "
              f"ttft torch {t['ttft']:.3f} s ours {o['ttft']:.3f} s", file=sys.stderr)
    med = {eng: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for eng, rs in rows.items()}
    print(f"\nmedians of {args.rounds} alternating rounds, {args.threads} threads, image "
          f"{os.path.basename(args.image)} -> {size}x{size}")
    print(f"{'phase':<12}{'PyTorch':>12}{'fastvlm.cpp':>14}{'ratio':>9}")
    for k in ("preprocess", "vision", "projector", "prefill", "ttft"):
        tv, ov = med["torch"][k], med["ours"][k]
        print(f"{k:<12}{tv:>11.4f}s{ov:>13.4f}s{tv / ov:>8.2f}x")
    print(f"{'load':<12}{torch_load:>11.2f}s{med['ours']['load']:>13.3f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rounds": args.rounds, "image": args.image,
                       "torch_dtype": args.torch_dtype, "torch": torch.__version__,
                       "transformers": transformers.__version__, "torch_load_s": torch_load,
                       "prompt_positions": len(ids), "model": args.model,
                       "ours_model": args.ours_model, "extra": args.extra,
                       "samples": rows, "medians": med}, f, indent=1)


if __name__ == "__main__":
    main()
