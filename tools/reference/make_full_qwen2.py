#!/usr/bin/env python3
"""Writes a FULL-SIZE random checkpoint shaped like Qwen2-0.5B-Instruct (the FastVLM-0.5B language
model, spec fastvlm-architecture.md §3) with the real Qwen2 tokenizer files, for benchmarking the
C++ engine. Not a fixture: never commit it (about 1 GB in bf16, 2 GB in f32).

  24 layers, hidden 896, 14 q heads / 2 kv heads (head_dim 64), intermediate 4864, vocab 151936,
  tied embeddings, rope_theta 1e6, rms_norm_eps 1e-6, max_position_embeddings 32768,
  q/k/v biases. Weights: transformers' own Qwen2 init (normal std 0.02 = initializer_range, zero
  biases, unit norms), seeded; realistic magnitudes, meaningless outputs.

Usage: /work/refvenv/bin/python tools/reference/make_full_qwen2.py --dtype bf16|f32 [--out DIR]
       (default DIR: /work/models/qwen2-0.5b-random-<dtype>)
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_DIR = os.path.join(REPO, "tests", "fixtures", "qwen2_tokenizer")
TOKENIZER_FILES = ["added_tokens.json", "merges.txt", "special_tokens_map.json",
                   "tokenizer_config.json", "vocab.json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", action="store_true", help="skip the reload + forward check")
    args = ap.parse_args()
    out = args.out or f"/work/models/qwen2-0.5b-random-{args.dtype}"
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.time()

    cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                      num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                      hidden_act="silu", max_position_embeddings=32768, rms_norm_eps=1e-6,
                      rope_theta=1e6, tie_word_embeddings=True, use_sliding_window=False,
                      sliding_window=32768, max_window_layers=24, attention_dropout=0.0,
                      initializer_range=0.02, bos_token_id=151643, eos_token_id=151645,
                      use_cache=True)
    torch.manual_seed(args.seed)
    model = Qwen2ForCausalLM(cfg).eval()
    # Cast parameters only: model.to(bf16) would also round the RoPE inv_freq buffer, which
    # from_pretrained keeps in float32 (the reload check would then fail).
    for p in model.parameters():
        p.data = p.data.to(dtype)
    model.generation_config = GenerationConfig(bos_token_id=151643, eos_token_id=151645,
                                               pad_token_id=151643, do_sample=False)
    n = sum(p.numel() for p in model.parameters())
    print(f"built {n:,} params in {time.time() - t0:.1f} s", file=sys.stderr)
    assert n == 494_032_768, n   # spec §3 [CALC], tied head

    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="10GB")
    # Real Qwen2 / FastVLM config.json files (transformers 4.x) carry top-level rope_theta and
    # torch_dtype; keep them next to transformers 5's rope_parameters / dtype.
    path = os.path.join(out, "config.json")
    with open(path) as f:
        c = json.load(f)
    c["rope_theta"] = 1e6
    c["torch_dtype"] = "bfloat16" if args.dtype == "bf16" else "float32"
    with open(path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    for fn in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(TOKENIZER_DIR, fn), os.path.join(out, fn))
    print(f"saved to {out} in {time.time() - t0:.1f} s", file=sys.stderr)

    if not args.no_check:
        with torch.no_grad():
            ids = torch.tensor([[151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645]])
            a = model(ids).logits
            re = AutoModelForCausalLM.from_pretrained(out, dtype=dtype).eval()
            b = re(ids).logits
            assert torch.equal(a, b), "reloaded checkpoint gives different logits"
        print(f"reload check ok (logits std {a.float().std():.4f}); total {time.time() - t0:.1f} s",
              file=sys.stderr)
    for fn in sorted(os.listdir(out)):
        print(f"{os.path.getsize(os.path.join(out, fn)) / 1e6:10.2f} MB  {fn}")


if __name__ == "__main__":
    main()
