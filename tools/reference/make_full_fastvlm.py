#!/usr/bin/env python3
"""Writes a FULL-SIZE random FastVLM-0.5B checkpoint (FastViTHD 96..1536 x 2,12,24,4,2 -> 3072,
mlp2x_gelu projector, Qwen2-0.5B language model; spec fastvlm-architecture.md §1-§3) in both
layouts, for benchmarking. Not a fixture: never commit it (about 1.24 GB each in bf16).

  <out>-hf     transformers FastVlmForConditionalGeneration (model_type fast_vlm), image 1024,
               preprocessor_config.json, <image> = id 151646.
  <out>-apple  Apple llava_qwen2 names (tools/reference/make_fastvlm_fixtures.hf_to_apple_name),
               mm_vision_tower "mobileclip_l_1024", plus the unused CLIP head.proj [3072, 768].

Weights: the models' own initialisation (timm / transformers), seeded, then BatchNorm running
statistics and layer scales drawn away from their init values (mean N(0, 0.1), var U(0.5, 2),
layer scales U(0.05, 0.2)) so no block is an identity; stored in bf16 like the real checkpoint.
Tied embeddings (the real checkpoint stores an lm_head copy; irrelevant for speed).

Usage: /work/refvenv/bin/python tools/reference/make_full_fastvlm.py [--out /work/models/fastvlm-0.5b-random]
"""
import argparse
import json
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fastvlm_fixtures import hf_to_apple_name  # noqa: E402

from transformers import FastVlmConfig, FastVlmForConditionalGeneration  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_DIR = os.path.join(REPO, "tests", "fixtures", "qwen2_tokenizer")
TOKENIZER_FILES = ["merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="/work/models/fastvlm-0.5b-random")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    torch.manual_seed(args.seed)
    cfg = FastVlmConfig(
        vision_config=dict(model_type="timm_wrapper", architecture="fastvit_mci3",
                           do_pooling=False, hidden_size=3072,
                           model_args=dict(inference_mode=True)),
        text_config=dict(model_type="qwen2", hidden_size=896, intermediate_size=4864,
                         num_attention_heads=14, num_key_value_heads=2, num_hidden_layers=24,
                         vocab_size=151936, rope_theta=1e6, rms_norm_eps=1e-6,
                         max_position_embeddings=32768, tie_word_embeddings=True,
                         bos_token_id=151643, eos_token_id=151645, use_sliding_window=False),
        image_token_id=151646, image_seq_length=256, tie_word_embeddings=True)
    model = FastVlmForConditionalGeneration(cfg).eval()
    g = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + 1.5 * torch.rand(b.shape, generator=g))
        for name, p in model.named_parameters():
            if "gamma" in name:
                p.copy_(0.05 + 0.15 * torch.rand(p.shape, generator=g))
    model = model.to(torch.bfloat16)
    hf = args.out + "-hf"
    apple = args.out + "-apple"
    for d in (hf, apple):
        if os.path.isdir(d):
            shutil.rmtree(d)
    model.save_pretrained(hf, safe_serialization=True)
    for fn in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(TOKENIZER_DIR, fn), os.path.join(hf, fn))
    added = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    with open(os.path.join(hf, "added_tokens.json"), "w") as f:
        json.dump(dict(added, **{"<image>": 151646}), f)
    with open(os.path.join(hf, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True,
                   "size": {"shortest_edge": 1024}, "do_center_crop": True,
                   "crop_size": {"height": 1024, "width": 1024}, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0, 0, 0],
                   "image_std": [1, 1, 1], "resample": 3, "do_convert_rgb": True}, f, indent=2)
    print(f"wrote {hf} ({time.time() - t0:.0f} s)", file=sys.stderr)

    from safetensors.torch import load_file, save_file
    os.makedirs(apple)
    sd = load_file(os.path.join(hf, "model.safetensors"))
    out = {hf_to_apple_name(k): v for k, v in sd.items()}
    out["model.vision_tower.vision_tower.model.head.proj"] = (
        0.02 * torch.randn(3072, 768, generator=g)).to(torch.bfloat16)
    save_file(out, os.path.join(apple, "model.safetensors"), metadata={"format": "pt"})
    del sd, out
    for fn in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(TOKENIZER_DIR, fn), os.path.join(apple, fn))
    with open(os.path.join(apple, "added_tokens.json"), "w") as f:
        json.dump(added, f)
    acfg = {
        "architectures": ["LlavaQwen2ForCausalLM"], "model_type": "llava_qwen2",
        "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
        "num_key_value_heads": 2, "num_hidden_layers": 24, "vocab_size": 151936,
        "rope_theta": 1e6, "rms_norm_eps": 1e-6, "max_position_embeddings": 32768,
        "hidden_act": "silu", "attention_dropout": 0.0, "bos_token_id": 151643,
        "eos_token_id": 151645, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "use_cache": True, "use_sliding_window": False, "sliding_window": 32768,
        "max_window_layers": 24, "image_aspect_ratio": "pad", "mm_hidden_size": 3072,
        "mm_projector_type": "mlp2x_gelu", "mm_vision_tower": "mobileclip_l_1024",
        "mm_patch_merge_type": "flat", "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2, "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False, "tokenizer_model_max_length": 8192,
        "tokenizer_padding_side": "right", "transformers_version": "4.39.3"}
    with open(os.path.join(apple, "config.json"), "w") as f:
        json.dump(acfg, f, indent=2, sort_keys=True)
    print(f"wrote {apple} ({time.time() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
