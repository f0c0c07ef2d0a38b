#!/usr/bin/env python3
"""Side-by-side Qwen2 language-model speed: fastvlm.cpp vs llama.cpp, alternating runs.

Both engines run the same weights (an HF folder for us, its GGUF conversion for llama.cpp) with
the same threads. Each round runs, in turn: llama-bench pp (prompt of P tokens), our prefill of
the same P tokens, llama-bench tg (N tokens from an empty context), our decode of N tokens after
a 1-token prompt. Alternating rounds spread machine noise over both engines; medians and the
ratio of medians are reported.

Our decode is greedy (`generate --ignore-eos`), so on f32/bf16/f16 weights it goes through the
lm_head sketch (llm/lm_head_sketch.h: the same tokens, most lm_head rows not read), while
llama-bench's tg computes every logit. --full-logits adds a second decode run per round with
`fastvlm generate --full-logits`, the like-for-like work, reported on its own row.

usage: compare_qwen2.py --fastvlm build/fastvlm --model DIR --llama-bench PATH --gguf FILE
                        [--threads 2] [--prompt 256] [--gen 128] [--rounds 7] [--exact]
                        [--full-logits] [--no-panels] [--keep-page-cache] [--json OUT]
"""
import argparse
import json
import mmap
import os
import re
import statistics
import subprocess
import sys
import time


def cache_in_huge_folios(path):
    """Re-reads `path` into the page cache as 2 MB folios; returns how much of it maps as 2 MB pages.

    llama.cpp reads its weights through an mmap of the file, and how fast depends on whether the
    page cache holds the file in 2 MB folios (Linux 6.x file THP) or in 4 KB pages (e.g. a file
    just written or copied). Our engine asks for 2 MB pages (MADV_HUGEPAGE on its file mapping and
    on panels it builds), so before timing, the file is dropped from the cache and read back
    through a MADV_HUGEPAGE mapping: both engines then read 2 MB pages.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages are not dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        m.madvise(mmap.MADV_HUGEPAGE)
    for off in range(0, size, 4096):
        m[off]
    # /proc/self/smaps: a mapping's header line ("start-end perms offset dev inode path") and then
    # its "Key: value kB" lines.
    pmd, inside, real = 0, False, os.path.realpath(path)
    with open("/proc/self/smaps") as f:
        for line in f:
            key = line.split(None, 1)[0]
            if not key.endswith(":"):
                inside = line.rstrip().endswith(real)
            elif inside and key == "FilePmdMapped:":
                pmd += int(line.split()[1]) * 1024
    m.close()
    return pmd, size


def run_ours(args, prompt, n, extra):
    cmd = [args.fastvlm, "generate", "--model", args.model, "--raw", "--prompt", prompt,
           "--max-tokens", str(n), "--ignore-eos", "--threads", str(args.threads), "-v"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    pre = re.search(r"prefill:\s+(\d+) tokens in ([\d.]+) s", out)
    dec = re.search(r"decode:\s+(\d+) tokens in ([\d.]+) s", out)
    return int(pre.group(1)), float(pre.group(2)), int(dec.group(1)), float(dec.group(2))


def run_llama(args, p, n):
    cmd = [args.llama_bench, "-m", args.gguf, "-p", str(p), "-n", str(n), "-t", str(args.threads),
           "-r", "1", "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["avg_ts"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fastvlm", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens (even)")
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--exact", action="store_true", help="pass --exact to fastvlm")
    ap.add_argument("--full-logits", action="store_true",
                    help="also time our decode with --full-logits (every logit, every step)")
    ap.add_argument("--no-panels", action="store_true",
                    help="also time our decode with --no-panels (q8_0 / q4_0 weights as stored, "
                         "no int8 decode panels)")
    ap.add_argument("--json", help="write all samples here")
    ap.add_argument("--keep-page-cache", action="store_true",
                    help="time the files as they are cached now (by default each GGUF is first "
                         "re-read into the page cache as 2 MB folios, see cache_in_huge_folios)")
    args = ap.parse_args()
    if not args.keep_page_cache:
        for path in dict.fromkeys([args.gguf, args.model]):
            if os.path.isfile(path):
                pmd, size = cache_in_huge_folios(path)
                print(f"page cache: {path}: {pmd / 2**20:.0f} of {size / 2**20:.0f} MiB in 2 MB pages",
                      file=sys.stderr)
    extra = ["--exact"] if args.exact else []
    # "hello world" repeated: exactly 2 tokens per repetition with the Qwen2 tokenizer (the
    # script checks the count fastvlm reports).
    long_prompt = " ".join(["hello world"] * (args.prompt // 2))
    s = {"ours_pp": [], "ours_tg": [], "llama_pp": [], "llama_tg": [], "load": []}
    # Extra decode rows of ours, each with one more flag: (sample key, flag, label).
    variants = [v for v, on in ((("ours_tg_full", "--full-logits", "--full-logits"), args.full_logits),
                                (("ours_tg_nopanels", "--no-panels", "--no-panels"), args.no_panels)) if on]
    for key, _, _ in variants:
        s[key] = []
    for r in range(args.rounds):
        s["load"].append(open("/proc/loadavg").read().split()[0])
        s["llama_pp"].append(run_llama(args, args.prompt, 0))
        npre, tpre, _, _ = run_ours(args, long_prompt, 1, extra)
        if npre != args.prompt:
            sys.exit(f"prompt has {npre} tokens, expected {args.prompt}")
        s["ours_pp"].append(npre / tpre)
        s["llama_tg"].append(run_llama(args, 0, args.gen))
        _, _, ndec, tdec = run_ours(args, "hello", args.gen + 1, extra)
        s["ours_tg"].append(ndec / tdec)
        full = ""
        for key, flag, label in variants:
            _, _, ndec, tdec = run_ours(args, "hello", args.gen + 1, extra + [flag])
            s[key].append(ndec / tdec)
            full += f" {label} {s[key][-1]:.2f}"
        print(f"round {r + 1}/{args.rounds}: pp ours {s['ours_pp'][-1]:.1f} llama {s['llama_pp'][-1]:.1f}"
              f" | tg ours {s['ours_tg'][-1]:.2f}{full} llama {s['llama_tg'][-1]:.2f} (load {s['load'][-1]})",
              file=sys.stderr)
    med = {k: statistics.median(v) for k, v in s.items() if k != "load"}
    # Each round's two engines ran back to back under the same conditions: the median of the
    # per-round ratios is less sensitive to slow drifts of the machine than a ratio of medians.
    med["paired_pp_ratio"] = statistics.median(a / b for a, b in zip(s["ours_pp"], s["llama_pp"]))
    med["paired_tg_ratio"] = statistics.median(a / b for a, b in zip(s["ours_tg"], s["llama_tg"]))
    for key, _, _ in variants:
        med["paired_" + key[len("ours_"):] + "_ratio"] = statistics.median(
            a / b for a, b in zip(s[key], s["llama_tg"]))
    print("| phase | fastvlm.cpp (median) | llama.cpp (median) | ratio of medians | median of per-round ratios |")
    print("|---|---|---|---|---|")
    print(f"| prefill {args.prompt} tok/s | {med['ours_pp']:.1f} | {med['llama_pp']:.1f} | "
          f"{med['ours_pp'] / med['llama_pp']:.2f}x | {med['paired_pp_ratio']:.2f}x |")
    print(f"| decode {args.gen} tok/s | {med['ours_tg']:.2f} | {med['llama_tg']:.2f} | "
          f"{med['ours_tg'] / med['llama_tg']:.2f}x | {med['paired_tg_ratio']:.2f}x |")
    for key, _, label in variants:
        print(f"| decode {args.gen} tok/s, {label} | {med[key]:.2f} | {med['llama_tg']:.2f} | "
              f"{med[key] / med['llama_tg']:.2f}x | {med['paired_' + key[len('ours_'):] + '_ratio']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "samples": s, "medians": med,
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f, indent=1)


if __name__ == "__main__":
    main()
