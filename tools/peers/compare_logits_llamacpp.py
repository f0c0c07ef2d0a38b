#!/usr/bin/env python3
"""Logits agreement between llama.cpp and fastvlm on the same llama.cpp `qwen2` GGUF file
(e.g. one written by `fastvlm export-llm`).

  compare_logits_llamacpp.py --model FILE.gguf --text TEXT.txt [--ctx 128] [--chunks 4]
      [--llama-bin /work/peers/llama.cpp/build-cpu/bin] [--fastvlm build/fastvlm] [--json OUT]

1. `llama-perplexity -m FILE -f TEXT -c CTX --chunks N --kl-divergence-base BASE.bin` tokenizes
   the text with llama.cpp's tokenizer, runs llama.cpp, and saves, per chunk of CTX tokens, the
   tokens and the log-probabilities of positions CTX/2 .. CTX-2 (16-bit quantized per row:
   ~2.4e-4 nats resolution, floor at max - 16).
2. `fastvlm eval --candidate FILE --kld-base BASE.bin` runs our engine on exactly those token
   chunks (same file, same weights) and reports KL(P_llama.cpp || P_ours), top-1 agreement and
   both perplexities over the same positions.
The two engines get identical token ids (read from BASE.bin), so tokenizer differences cannot
enter; llama.cpp adds no BOS for qwen2 (tokenizer.ggml.add_bos_token false).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llama-bin", default="/work/peers/llama.cpp/build-cpu/bin")
    ap.add_argument("--fastvlm", default=os.path.join(root, "build", "fastvlm"))
    ap.add_argument("--json", help="write fastvlm eval's JSON here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base.bin")
        cmd = [os.path.join(a.llama_bin, "llama-perplexity"), "-m", a.model, "-f", a.text,
               "-c", str(a.ctx), "-b", str(a.ctx), "--chunks", str(a.chunks), "-t", str(a.threads),
               "--kl-divergence-base", base]
        print("+", " ".join(cmd), file=sys.stderr)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(base):
            sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
            sys.exit("llama-perplexity failed")
        ppl_line = [l for l in (p.stdout + p.stderr).splitlines() if "Final estimate" in l]
        out_json = a.json or os.path.join(tmp, "eval.json")
        cmd = [a.fastvlm, "eval", "--candidate", a.model, "--kld-base", base,
               "-t", str(a.threads), "--json", out_json]
        print("+", " ".join(cmd), file=sys.stderr)
        q = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(q.stdout)
        if q.returncode != 0:
            sys.stderr.write(q.stderr[-4000:])
            sys.exit("fastvlm eval failed")
        s = json.load(open(out_json))["summary"]
        if ppl_line:
            m = re.search(r"PPL = \S+ \+/- \S+", ppl_line[-1])
            print("llama-perplexity's own estimate:", m.group(0) if m else ppl_line[-1])
        print(json.dumps({"model": a.model, "ctx": a.ctx, "chunks": a.chunks,
                          "positions": s["positions"], "kl_mean": s["kl_mean"],
                          "kl_p99": s["kl_p99"], "kl_max": s["kl_max"],
                          "top1_agreement": s["top1_agreement"],
                          "perplexity_llamacpp": s["perplexity_reference"],
                          "perplexity_fastvlm": s["perplexity_candidate"]}))


if __name__ == "__main__":
    main()
