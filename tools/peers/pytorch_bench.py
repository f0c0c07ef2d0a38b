#!/usr/bin/env python3
"""PyTorch peer of `fastvlm bench`: the same workload through transformers
(FastVlmForConditionalGeneration on the CPU), written in our schema (fastvlm.bench.v1,
docs/bench-schema.md) so `fastvlm report` draws it beside fastvlm.cpp.

Workload: for each task, the synthetic images `fastvlm synth` makes with the same --seed and
--synth-size as `fastvlm bench` (so both engines see identical pixels), the task's question in
the chat template Apple's predict.py uses (image first), greedy decoding of exactly --tokens
tokens (EOS ignored, as `fastvlm bench` does by default). Per generation it times:
  image_decode_s   Image.open + convert('RGB')
  preprocess_s     pad to square (black) + bicubic resize + /255 (what the reference does)
  vision_encode_s  the timm FastViTHD tower
  projector_s      the mlp2x_gelu projector
  prefill_s        the spliced prompt's forward pass (KV cache filled) + argmax
  ttft_s           image decode .. first token
  decode_s         the remaining tokens, one forward pass each with the KV cache
  total_s          the whole generation
Load: warm loads (from_pretrained, page cache warm) --load-repetitions times; a cold load after
asking the kernel to drop the files from the page cache (posix_fadvise DONTNEED, checked with
mincore: null when more than 5% stayed cached).

usage: pytorch_bench.py --fastvlm build/fastvlm --model DIR-hf [--threads 2] [--tokens 100]
         [--repetitions 5] [--warmup 1] [--tasks colour,shape,text,count,describe]
         [--synth-size 512] [--seed 1] [--torch-dtype float32] --out results-pytorch.json
"""
import argparse
import ctypes
import datetime
import glob
import json
import mmap
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_fastvlm import image_to_first_token, prompt_ids  # noqa: E402  (one reference pipeline)
from peer_stats import stats  # noqa: E402

def model_files(path):
    return [f for f in glob.glob(os.path.join(path, "*")) if os.path.isfile(f)]


def evict(path):
    """posix_fadvise(DONTNEED) on every file; returns the fraction still resident (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    pages = resident = 0
    ps = mmap.PAGESIZE
    for f in model_files(path):
        size = os.path.getsize(f)
        if size == 0:
            continue
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            p = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if p is not None and p != ctypes.c_void_p(-1).value:
                n = (size + ps - 1) // ps
                vec = (ctypes.c_ubyte * n)()
                if libc.mincore(ctypes.c_void_p(p), size, vec) == 0:
                    pages += n
                    resident += sum(b & 1 for b in vec)
                libc.munmap(ctypes.c_void_p(p), size)
        finally:
            os.close(fd)
    return resident / pages if pages else 1.0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def system_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") or line.startswith("Hardware"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    s = {"cpu": cpu, "logical_cpus": os.cpu_count() or 1,
         "os": f"{platform.system()} {platform.release()} {platform.machine()}",
         "compiler": f"python {platform.python_version()}",
         "simd_target": torch.backends.cpu.get_cpu_capability()}
    if mem:
        s["memory_bytes"] = mem
    return s


@torch.no_grad()
def generation(model, ids, image_path, size, tokens):
    t, nxt, past = image_to_first_token(model, ids, image_path, size, use_cache=True)
    for _ in range(tokens - 1):
        out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = int(out.logits[0, -1].argmax())
    t6 = time.perf_counter()
    return {"image": os.path.basename(image_path), "prompt_tokens": len(ids),
            "generated_tokens": tokens, "image_decode_s": t[1] - t[0], "preprocess_s": t[2] - t[1],
            "vision_encode_s": t[3] - t[2], "projector_s": t[4] - t[3], "prefill_s": t[5] - t[4],
            "ttft_s": t[5] - t[0], "decode_s": t6 - t[5], "total_s": t6 - t[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fastvlm", required=True, help="our binary (makes the synthetic images)")
    ap.add_argument("--model", required=True, help="transformers-native (fast_vlm) folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--load-repetitions", type=int, default=2)
    ap.add_argument("--tasks", default="colour,shape,text,count,describe")
    ap.add_argument("--synth-size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=1024, help="vision input (FastVLM: 1024)")
    ap.add_argument("--torch-dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import transformers
    from transformers import AutoTokenizer, FastVlmForConditionalGeneration

    dtype = getattr(torch, args.torch_dtype)
    reset_peak_rss()
    load = {}
    if not args.no_cold:
        resident = evict(args.model)
        t0 = time.perf_counter()
        model = FastVlmForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
        dt = time.perf_counter() - t0
        load["cold_s"] = dt if resident <= 0.05 else None
        del model
    warm = []
    for _ in range(args.load_repetitions):
        t0 = time.perf_counter()
        model = FastVlmForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
        warm.append(time.perf_counter() - t0)
    load["warm_s"] = stats(warm)
    tok = AutoTokenizer.from_pretrained(args.model)
    size = args.image_size
    n_img = (size // 64) ** 2

    per_task = args.warmup + args.repetitions
    tasks = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in [t for t in args.tasks.split(",") if t]:
            d = os.path.join(tmp, task)
            subprocess.run([args.fastvlm, "synth", "--task", task, "--count", str(per_task),
                            "--seed", str(args.seed), "--size", str(args.synth_size), "--out", d],
                           check=True, capture_output=True)
            images = sorted(glob.glob(os.path.join(d, "*.png")),
                            key=lambda p: int(os.path.splitext(p)[0].rsplit("-", 1)[1]))
            with open(os.path.splitext(images[0])[0] + ".json") as f:
                question = json.load(f)["question"]
            ids = prompt_ids(tok, model.config.image_token_id, n_img, question)
            samples = []
            for i, img in enumerate(images[:per_task]):
                s = generation(model, ids, img, size, args.tokens)
                print(f"{task} {i + 1}/{per_task}: ttft {s['ttft_s']:.3f} s, decode "
                      f"{(args.tokens - 1) / s['decode_s']:.2f} tok/s", file=sys.stderr)
                if i >= args.warmup:
                    samples.append(s)
            ph = {k: stats([s[k] for s in samples]) for k in
                  ("image_decode_s", "preprocess_s", "vision_encode_s", "projector_s", "prefill_s",
                   "ttft_s", "decode_s", "total_s")}
            ph["prefill_tokens_per_s"] = stats([s["prompt_tokens"] / s["prefill_s"] for s in samples])
            ph["decode_tokens_per_s"] = stats([(s["generated_tokens"] - 1) / s["decode_s"] for s in samples])
            tasks.append({"task": task, "prompt": question, "prompt_tokens": len(ids),
                          "generated_tokens": args.tokens, "phases": ph, "samples": samples})
    wt = {"float32": "f32", "bfloat16": "bf16"}[args.torch_dtype]
    nbytes = sum(os.path.getsize(f) for f in model_files(args.model))
    doc = {"schema": "fastvlm.bench.v1", "engine": "pytorch",
           "engine_version": f"torch {torch.__version__}, transformers {transformers.__version__}",
           "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": " ".join(sys.argv), "system": system_info(),
           "runs": [{"label": f"pytorch {wt} t{args.threads}", "model": args.model,
                     "model_bytes": nbytes, "weight_type": wt, "vision_type": wt,
                     "threads": args.threads, "image_size": size, "tokens": args.tokens,
                     "ignore_eos": True, "warmup": args.warmup, "repetitions": args.repetitions,
                     "load": load, "peak_rss_bytes": peak_rss(), "tasks": tasks}]}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
