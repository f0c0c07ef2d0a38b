#!/usr/bin/env python3
"""Writes the io/ test fixtures with the reference libraries (never edit the outputs by hand).

  tests/fixtures/configs/*.json   config.json files as transformers saves them
  tests/fixtures/io/mixed.safetensors + mixed_expected.json
                                  a small file written by the `safetensors` package (bf16, f16, f32
                                  and an int64 scalar like BatchNorm's num_batches_tracked) and the
                                  values a reader must get back

Run with the reference venv (pinned: transformers 5.23.0, safetensors 0.8.0, torch 2.15.0):
  /work/refvenv/bin/python tools/reference/make_config_fixtures.py
"""

import json
import os
import tempfile

import safetensors
import safetensors.torch
import torch
import transformers
from transformers import FastVlmConfig, Qwen2Config

EXPECTED_VERSIONS = {"transformers": "5.23.0", "safetensors": "0.8.0"}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, "tests", "fixtures", "configs")
IO_DIR = os.path.join(ROOT, "tests", "fixtures", "io")

# Qwen2-0.5B text model as used by FastVLM-0.5B (spec §3).
QWEN2_05B = dict(
    num_hidden_layers=24,
    hidden_size=896,
    num_attention_heads=14,
    num_key_value_heads=2,
    intermediate_size=4864,
    vocab_size=151936,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    bos_token_id=151643,
    eos_token_id=151645,
)


def check_versions():
    got = {"transformers": transformers.__version__, "safetensors": safetensors.__version__}
    if got != EXPECTED_VERSIONS:
        raise SystemExit(f"expected {EXPECTED_VERSIONS}, found {got}; fixtures would differ")


def saved_config(config):
    """config.json exactly as save_pretrained writes it."""
    with tempfile.TemporaryDirectory() as d:
        config.save_pretrained(d)
        with open(os.path.join(d, "config.json")) as f:
            return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    print("wrote", os.path.relpath(path, ROOT))


def make_configs():
    os.makedirs(CONFIG_DIR, exist_ok=True)
    # Plain Qwen2ForCausalLM, 0.5B shape, tied embeddings as in Qwen/Qwen2-0.5B-Instruct.
    write(os.path.join(CONFIG_DIR, "qwen2_0.5b.json"),
          saved_config(Qwen2Config(**QWEN2_05B, tie_word_embeddings=True)))
    # Tiny Qwen2 with everything left at transformers' defaults that a real save leaves null:
    # no kv-heads, no eos/bos, default rope (theta 10000).
    write(os.path.join(CONFIG_DIR, "qwen2_tiny_defaults.json"),
          saved_config(Qwen2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                   num_key_value_heads=None, intermediate_size=128,
                                   vocab_size=256)))
    # Qwen2 with an explicit head_dim that does not equal hidden/heads, and an eos list.
    write(os.path.join(CONFIG_DIR, "qwen2_head_dim.json"),
          saved_config(Qwen2Config(num_hidden_layers=1, hidden_size=60, num_attention_heads=4,
                                   num_key_value_heads=1, head_dim=16, intermediate_size=96,
                                   vocab_size=300, eos_token_id=[7, 9])))
    # transformers-native FastVLM-0.5B (spec §7.2): vocab resized to 152000, <image> = 151646.
    text = dict(QWEN2_05B, vocab_size=152000)
    write(os.path.join(CONFIG_DIR, "fast_vlm_0.5b.json"),
          saved_config(FastVlmConfig(text_config=text, image_seq_length=256)))
    # FastVlmConfig() with every default (the 7B text model); image_token_index not overridden.
    write(os.path.join(CONFIG_DIR, "fast_vlm_default.json"), saved_config(FastVlmConfig()))
    # fast_vlm whose text_config says tied while the top level keeps its default (False):
    # FastVlmConfig.__post_init__ forwards the text value.
    write(os.path.join(CONFIG_DIR, "fast_vlm_tied_text.json"),
          saved_config(FastVlmConfig(text_config=dict(QWEN2_05B, tie_word_embeddings=True))))
    # Apple's llava_qwen2 config is remote code saved by transformers 4.39.3, which transformers 5
    # cannot reproduce; this is the field set and values of apple/FastVLM-0.5B's config.json
    # (spec §3; top-level rope_theta, v4 style).
    llava = {
        "architectures": ["LlavaQwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": 896,
        "image_aspect_ratio": "pad",
        "image_grid_pinpoints": None,
        "initializer_range": 0.02,
        "intermediate_size": 4864,
        "max_position_embeddings": 32768,
        "max_window_layers": 24,
        "mm_hidden_size": 3072,
        "mm_patch_merge_type": "flat",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "mobileclip_l_1024",
        "model_type": "llava_qwen2",
        "num_attention_heads": 14,
        "num_hidden_layers": 24,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": False,
        "tokenizer_model_max_length": 8192,
        "tokenizer_padding_side": "right",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.39.3",
        "use_cache": True,
        "use_mm_proj": True,
        "use_sliding_window": False,
        "vocab_size": 151936,
    }
    write(os.path.join(CONFIG_DIR, "llava_qwen2_0.5b.json"),
          json.dumps(llava, indent=2, sort_keys=True) + "\n")


def make_safetensors():
    os.makedirs(IO_DIR, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    tensors = {
        "model.layers.0.self_attn.q_proj.weight":
            torch.randn(6, 8, generator=g).to(torch.bfloat16),
        "model.layers.0.self_attn.q_proj.bias": torch.randn(6, generator=g),
        "model.norm.weight": (torch.rand(5, generator=g) * 3 - 1).to(torch.float16),
        "model.vision_tower.vision_tower.model.network.0.0.convffn.conv.bn.num_batches_tracked":
            torch.tensor(123456789012, dtype=torch.int64),
        "empty": torch.zeros(0, 3),
    }
    path = os.path.join(IO_DIR, "mixed.safetensors")
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt"})
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")

    expected = {"metadata": {"format": "pt"}, "tensors": {}}
    for name, t in tensors.items():
        entry = {
            "dtype": {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32",
                      torch.int64: "I64"}[t.dtype],
            "shape": list(t.shape),
        }
        if t.dtype == torch.int64:
            entry["values"] = t.flatten().tolist()
        else:
            # Exact: bf16/f16 -> f32 is lossless and JSON floats round-trip f32 values.
            entry["values"] = t.float().flatten().tolist()
        expected["tensors"][name] = entry
    write(os.path.join(IO_DIR, "mixed_expected.json"), json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    check_versions()
    make_configs()
    make_safetensors()
