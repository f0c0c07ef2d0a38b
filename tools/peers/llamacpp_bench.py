#!/usr/bin/env python3
"""llama.cpp peer of `fastvlm bench`, in our schema (fastvlm.bench.v1, docs/bench-schema.md).

llama.cpp runs the language model only (it has no FastViTHD), so each GGUF gives one run with the
task "llm": llama-bench's prompt-processing test of --prompt tokens (set it to the prompt length
of the FastVLM tasks, image tokens included, e.g. 290, to compare prefill at the same size) and
its generation test of --tokens tokens after a context of --prompt tokens (llama-bench -d),
as our decode runs after the prompt. llama-bench's per-repetition samples (samples_ns) become
our samples; its load time is not measured (llama-bench reports none), so "load" is empty.

usage: llamacpp_bench.py --llama-bench PATH --model a.gguf[,b.gguf] [--threads 2]
         [--prompt 290] [--tokens 100] [--repetitions 5] --out results-llamacpp.json
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_stats import stats  # noqa: E402

TYPE_NAMES = {"F32": "f32", "F16": "f16", "BF16": "bf16", "Q8_0": "q8_0", "Q4_0": "q4_0",
              "Q4_1": "q4_1"}


def weight_type(model_type):
    # llama-bench's model_type looks like "qwen2 1B Q8_0" / "qwen2 ?B BF16".
    last = model_type.split()[-1] if model_type else ""
    return TYPE_NAMES.get(last.upper(), last.lower() or "unknown")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--model", required=True, help="GGUF file(s), comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=290)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    runs = []
    system = None
    version = ""
    for model in [m for m in args.model.split(",") if m]:
        # pp: the prompt from an empty context (our prefill); tg: the tokens after a context of
        # the prompt's length (-d), as our decode runs after the prompt.
        rows = []
        for extra in (["-p", str(args.prompt), "-n", "0"],
                      ["-p", "0", "-n", str(args.tokens), "-d", str(args.prompt)]):
            cmd = [args.llama_bench, "-m", model, "-t", str(args.threads), "-r",
                   str(args.repetitions), "-o", "json"] + extra
            print(" ".join(cmd), file=sys.stderr)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows += json.loads(out)
        pp = next(r for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0)
        tg = next(r for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0)
        version = f"llama.cpp {pp.get('build_commit', '?')} (build {pp.get('build_number', '?')})"
        if system is None:
            system = {"cpu": pp.get("cpu_info", "unknown"), "logical_cpus": os.cpu_count() or 1,
                      "os": f"{platform.system()} {platform.release()} {platform.machine()}",
                      "commit": pp.get("build_commit", "unknown"),
                      "simd_target": pp.get("backends", "CPU")}
        pf_s = [ns * 1e-9 for ns in pp["samples_ns"]]
        dc_s = [ns * 1e-9 for ns in tg["samples_ns"]]
        # tg's samples time n_gen tokens after a context of --prompt tokens; our
        # decode_tokens_per_s counts the tokens after the first, over the time after it:
        # per-token rates at the same context length.
        phases = {"prefill_s": stats(pf_s),
                  "prefill_tokens_per_s": stats([args.prompt / s for s in pf_s]),
                  "decode_s": stats(dc_s),
                  "decode_tokens_per_s": stats([args.tokens / s for s in dc_s])}
        samples = [{"image": None, "prompt_tokens": args.prompt, "prefill_s": s} for s in pf_s]
        samples += [{"image": None, "generated_tokens": args.tokens, "decode_s": s} for s in dc_s]
        wt = weight_type(pp.get("model_type", ""))
        runs.append({"label": f"llama.cpp {wt} t{args.threads}", "model": model,
                     "model_bytes": int(pp.get("model_size", os.path.getsize(model))),
                     "weight_type": wt, "vision_type": None, "threads": args.threads,
                     "image_size": None, "tokens": args.tokens, "ignore_eos": True, "warmup": 1,
                     "repetitions": args.repetitions, "load": {}, "peak_rss_bytes": None,
                     "tasks": [{"task": "llm",
                                "prompt": f"{args.prompt}-token prompt (llama-bench pp)",
                                "prompt_tokens": args.prompt, "generated_tokens": args.tokens,
                                "phases": phases, "samples": samples}]})
    doc = {"schema": "fastvlm.bench.v1", "engine": "llama.cpp", "engine_version": version,
           "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": " ".join(sys.argv), "system": system, "runs": runs}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
