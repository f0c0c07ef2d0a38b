#!/usr/bin/env python3
"""Builds small random FastVLM checkpoints with Hugging Face transformers
(FastVlmForConditionalGeneration around timm fastvit_mci3), runs them with transformers (the
reference) and writes golden fixtures for the C++ engine under tests/fixtures/fastvlm/.

Models (spec fastvlm-architecture.md §1, §2, §7): every FastViTHD block type at small widths —
stem, RepMixer stages, PatchEmbeds (7x7 stride-2 channel-multiplier-2 convs), RepCPE, attention
stages (head_dim 32), conv_exp with squeeze-excite — then the mlp2x_gelu projector and a 2-layer
Qwen2 decoder over a truncated real Qwen2 vocabulary (the first 2,000 byte-level BPE tokens and
the merges among them, + the special tokens), so real tokenization flows end to end.

  tiny-f32   widths 4,8,16,32,64 (1 and 2 attention heads), depths 2,1,1,2,1, image 192x192 (3x3 = 9 image tokens),
             f32 weights, untied lm_head.     Reference run: "f32".
  tiny-bf16  the same architecture with other weights, image 128x128 (4 image tokens), bf16
             weights (BatchNorm statistics bf16 too, as in the real checkpoint), tied embeddings.
             Reference run: "f32_upcast" (transformers in f32 on the bf16 weights: what the C++
             engine computes).

Each model is written twice with identical weights: "-hf" is the transformers-native layout as
save_pretrained writes it (model_type fast_vlm, <image> = one added token repeated once per image
token); "-apple" is Apple's llava_qwen2 layout (the tensor names of apple/FastVLM-0.5B, spec §7.1,
written by hf_to_apple_name below; the prompt carries the -200 sentinel; no <image> token).

Golden (tests/fixtures/fastvlm/golden/<model>.json + .f32): the preprocessed pixels (pad to square
with black, Pillow bicubic, /255; cross-checked against transformers' PIL CLIP image processor),
every vision stage output (NHWC), final_conv, projector output, full prompt logits, 32 greedy
tokens and their text, top-2 gaps. Timm's fused attention is disabled (TIMM_FUSED_ATTN=0) so the
reference computes softmax(QK^T)V explicitly, as in Apple's code.

Blocks (tests/fixtures/fastvlm/blocks/blocks.json + .f32): single blocks at the real 0.5B widths
run by timm's own modules (taken from a full-size fastvit_mci3): RepMixer block @384 on 64x64,
attention block @768 on 32x32, final_conv (conv_exp + SE) 1536->3072 on 16x16. Their weights and
inputs are not stored: both sides generate them with the splitmix64 PRNG of prng_fill (documented
in tools/reference/README.md); the fixture stores per-channel and per-pixel sums (and sums of |x|)
and the values at sampled positions.

Usage: /work/refvenv/bin/python tools/reference/make_fastvlm_fixtures.py [--out DIR] [--only ...]
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import time

os.environ["TIMM_FUSED_ATTN"] = "0"   # before timm is imported

import numpy as np
import torch
import timm
import transformers
from PIL import Image
from transformers import FastVlmConfig, FastVlmForConditionalGeneration

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QWEN_TOKENIZER_DIR = os.path.join(REPO, "tests", "fixtures", "qwen2_tokenizer")
SCHEMA = "fastvlm.fastvlm_golden.v1"
BLOCKS_SCHEMA = "fastvlm.fastvlm_blocks.v1"
N_NEW = 32
N_VOCAB_TOKENS = 2000            # ordinary byte-level BPE tokens kept (ids 0..1999)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]   # ids 2000, 2001, 2002
IMAGE_TOKEN = "<image>"          # id 2003 (transformers-native layout only)
VOCAB_ROWS = 2048                # embedding rows; 2004..2047 are padding rows (masked)
EOT_ID, IM_START_ID, IM_END_ID, IMAGE_ID = 2000, 2001, 2002, 2003
SYSTEM = "You are a helpful assistant."
USER_TEXT = "Describe this picture in detail."
MAX_SEED_TRIES = 200
MIN_REL_GAP = 1e-3               # top1-top2 gap / max|logit|, every greedy step
BF16_MIN_GAP_ABS = 0.1           # bf16 model: gap >= 0.1 absolute (logits have std ~3)
MIN_DISTINCT, MAX_RUN = 8, 3
STAGE_NET_INDEX = [0, 2, 4, 7, 10]      # Apple network.N of stage S
DOWNSAMPLE_NET_INDEX = {1: 1, 2: 3, 3: 5, 4: 8}
POS_EMB_NET_INDEX = {3: 6, 4: 9}

MODELS = [
    dict(name="tiny-f32", seed_base=100, dtype="float32", image_size=192, tie=False,
         widths=(4, 8, 16, 32, 64), depths=(2, 1, 1, 2, 1), hidden=32, intermediate=64,
         heads=4, kv_heads=2, layers=2, image="street-300x200.png"),
    dict(name="tiny-bf16", seed_base=200, dtype="bfloat16", image_size=128, tie=True,
         widths=(4, 8, 16, 32, 64), depths=(2, 1, 1, 2, 1), hidden=32, intermediate=64,
         heads=4, kv_heads=2, layers=2, image="tall-120x250.png"),
]


# ----------------------------------------------------------------------------------------------
# Tokenizer: the real Qwen2 BPE truncated to its first N_VOCAB_TOKENS tokens.

def make_tokenizer_json(with_image_token):
    from transformers import AutoTokenizer
    real = AutoTokenizer.from_pretrained(QWEN_TOKENIZER_DIR)
    tj = json.loads(real.backend_tokenizer.to_str())
    vocab = {t: i for t, i in tj["model"]["vocab"].items() if i < N_VOCAB_TOKENS}
    merges = []
    for m in tj["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a in vocab and b in vocab and (a + b) in vocab:
            merges.append([a, b])
    tj["model"]["vocab"] = vocab
    tj["model"]["merges"] = merges
    added = []
    names = SPECIALS + ([IMAGE_TOKEN] if with_image_token else [])
    for k, content in enumerate(names):
        added.append({"id": N_VOCAB_TOKENS + k, "content": content, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    tj["added_tokens"] = added
    tj.pop("post_processor", None)
    tj["post_processor"] = None
    return tj


def save_tokenizer(folder, with_image_token):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    tj = make_tokenizer_json(with_image_token)
    tk = Tokenizer.from_str(json.dumps(tj))
    kw = dict(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
              unk_token=None, bos_token=None, clean_up_tokenization_spaces=False,
              model_max_length=32768, additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(**kw)
    if with_image_token:
        fast.image_token = IMAGE_TOKEN
    fast.save_pretrained(folder)
    # A chat template like Qwen2-Instruct's (the C++ engine renders ChatML itself).
    return fast


def prompt_text():
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<image>\n{USER_TEXT}"
            f"<|im_end|>\n<|im_start|>assistant\n")


def apple_ids(tok):
    """llava mm_utils.tokenizer_image_token: tokenize the chunks around <image> separately and
    join them with the -200 sentinel."""
    chunks = prompt_text().split("<image>")
    ids = []
    for k, c in enumerate(chunks):
        if k:
            ids.append(-200)
        ids += tok(c, add_special_tokens=False)["input_ids"]
    return ids


# ----------------------------------------------------------------------------------------------
# Model

def make_config(m):
    cfg = FastVlmConfig(
        vision_config=dict(model_type="timm_wrapper", architecture="fastvit_mci3",
                           do_pooling=False, hidden_size=2 * m["widths"][-1],
                           model_args=dict(inference_mode=True, layers=tuple(m["depths"]),
                                           embed_dims=tuple(m["widths"]))),
        text_config=dict(model_type="qwen2", hidden_size=m["hidden"],
                         intermediate_size=m["intermediate"], num_attention_heads=m["heads"],
                         num_key_value_heads=m["kv_heads"], num_hidden_layers=m["layers"],
                         vocab_size=VOCAB_ROWS, rope_theta=1e6, rms_norm_eps=1e-6,
                         max_position_embeddings=32768, tie_word_embeddings=m["tie"],
                         bos_token_id=EOT_ID, eos_token_id=IM_END_ID, pad_token_id=EOT_ID,
                         use_sliding_window=False, attention_dropout=0.0),
        image_token_id=IMAGE_ID, image_seq_length=(m["image_size"] // 64) ** 2,
        tie_word_embeddings=m["tie"])
    cfg._attn_implementation = "eager"
    cfg.text_config._attn_implementation = "eager"
    return cfg


@torch.no_grad()
def init_weights(model, seed, m):
    """Deterministic init (parameters and BN buffers in sorted-name order) chosen so every branch
    matters: activations stay O(1) through the tower, layer scales are O(0.3) rather than the
    trained-from-1e-5 values, BatchNorm statistics are far from the identity."""
    g = torch.Generator().manual_seed(seed)
    H = m["hidden"]

    def u(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    def n(shape, std):
        return std * torch.randn(shape, generator=g)

    tensors = dict(model.named_parameters())
    tensors.update({k: v for k, v in model.named_buffers() if "running" in k})
    for name in sorted(tensors):
        p = tensors[name]
        if "vision_tower" in name:
            if ".bn." in name:
                if name.endswith("weight"):
                    p.copy_(u(p.shape, 0.5, 1.5))
                elif name.endswith("bias"):
                    p.copy_(n(p.shape, 0.1))
                elif name.endswith("running_mean"):
                    p.copy_(n(p.shape, 0.2))
                elif name.endswith("running_var"):
                    p.copy_(u(p.shape, 0.5, 2.0))
            elif "gamma" in name:
                p.copy_(u(p.shape, 0.2, 0.6))
            elif name.endswith("norm.weight"):
                p.copy_(u(p.shape, 0.8, 1.2))
            elif name.endswith("bias"):
                p.copy_(n(p.shape, 0.1))
            elif p.dim() == 4 and p.shape[1] == 1:
                # depthwise / channel-multiplier-2 kernels: RepMixer / RepCPE kernels hold the
                # folded identity (spec §1.6), so centre tap ~1 plus noise keeps the scale.
                k = p.shape[-1]
                p.copy_(n(p.shape, 0.5 / k))
                if "token_mixer" in name or "pos_emb" in name:
                    p[:, 0, k // 2, k // 2] += 1.0
                else:
                    p[:, 0, k // 2, k // 2] += 0.5
            else:
                fan_in = p[0].numel()
                gain = 2.0 if "qkv" in name else 1.0
                p.copy_(n(p.shape, gain / math.sqrt(fan_in)))
        elif "multi_modal_projector" in name:
            if name.endswith("bias"):
                p.copy_(n(p.shape, 0.1))
            else:
                p.copy_(n(p.shape, 1.0 / math.sqrt(p.shape[1])))
        else:   # language model
            if name.endswith("norm.weight"):
                p.copy_(u(p.shape, 0.8, 1.2))
            elif name.endswith(".bias"):
                p.copy_(n(p.shape, 0.3))
            elif "embed_tokens" in name:
                std = 3.0 / math.sqrt(H) if m["tie"] else 1.0
                p.copy_(n(p.shape, std))
                # padding rows and the special / image rows: small norms (as trained models have),
                # so greedy never picks them; still part of every logit row.
                p[N_VOCAB_TOKENS:] *= 0.01
            elif name == "lm_head.weight":
                p.copy_(n(p.shape, 3.0 / math.sqrt(H)))
                p[N_VOCAB_TOKENS:] *= 0.01
            else:
                gain = 3.0 if name.endswith(("q_proj.weight", "k_proj.weight")) else 1.0
                if m["tie"] and name.endswith(("o_proj.weight", "down_proj.weight")):
                    # tied embeddings favour repeating the input token (its embedding is in the
                    # residual stream): stronger layers move the stream away from it.
                    gain = 3.0
                p.copy_(n(p.shape, gain / math.sqrt(p.shape[1])))


def assert_unfused_attention(model):
    """transformers does not pass attn_implementation to the timm tower; TIMM_FUSED_ATTN=0 (set
    before importing timm) makes its attention compute softmax(q k^T) v explicitly."""
    n = 0
    for mod in model.modules():
        if hasattr(mod, "fused_attn"):
            assert not mod.fused_attn, f"{type(mod).__name__} uses fused attention"
            n += 1
    assert n > 0, "no timm attention module found"


def cast_model(model, dtype):
    """Parameters and BN buffers to dtype (the real checkpoint is bf16 throughout, BN statistics
    included); RoPE inv_freq stays f32 as from_pretrained computes it."""
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.data = p.data.to(dtype)
    for name, b in model.named_buffers():
        if "running" in name:
            b.data = b.data.to(dtype)
    return model


def build(m, seed):
    torch.manual_seed(seed)
    model = FastVlmForConditionalGeneration(make_config(m)).eval()
    assert_unfused_attention(model)
    init_weights(model, seed, m)
    if m["tie"]:
        model.tie_weights()
    if m["dtype"] == "bfloat16":
        model = cast_model(cast_model(model, torch.bfloat16), torch.float32)   # bf16-rounded
    return model


# ----------------------------------------------------------------------------------------------
# Image and preprocessing (spec §4)

def make_image(name):
    w, h = [int(v) for v in name.split("-")[1].split(".")[0].split("x")]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    gch = 255 * xx / max(w - 1, 1)
    b = 255 * yy / max(h - 1, 1)
    img = np.stack([r, gch, b], -1)
    img[(xx - w / 3) ** 2 + (yy - h / 2) ** 2 < (min(w, h) / 5) ** 2] = [250, 240, 20]
    img[int(h * 0.7):int(h * 0.8), int(w * 0.1):int(w * 0.9)] = [10, 10, 200]
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


def expand2square(img):
    """llava mm_utils.expand2square with background (0,0,0)."""
    w, h = img.size
    if w == h:
        return img
    s = max(w, h)
    out = Image.new(img.mode, (s, s), (0, 0, 0))
    out.paste(img, ((s - w) // 2, 0) if w < h else (0, (s - h) // 2))
    return out


def preprocess(path, size):
    img = Image.open(path).convert("RGB")
    sq = expand2square(img)
    arr = np.asarray(sq.resize((size, size), Image.BICUBIC), dtype=np.uint8)
    pixels = arr.astype(np.float32) / np.float32(255.0)
    # Cross-check with transformers' PIL-backend CLIP image processor (the reference processor:
    # shortest edge = size on a square image, centre crop a no-op, mean 0 / std 1).
    try:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        proc = CLIPImageProcessorPil(size={"shortest_edge": size},
                                     crop_size={"height": size, "width": size},
                                     image_mean=[0, 0, 0], image_std=[1, 1, 1], resample=3)
        pv = proc(sq, return_tensors="np")["pixel_values"][0]           # [3,S,S]
        d = np.abs(pv.transpose(1, 2, 0) - pixels).max()
        assert d < 1e-6, f"CLIP PIL processor differs from Pillow resize by {d}"
        checked = "CLIPImageProcessorPil"
    except ImportError:
        checked = "none (CLIPImageProcessorPil unavailable)"
    return pixels, checked


# ----------------------------------------------------------------------------------------------
# Runs

def hf_ids(ids, n_img):
    out = []
    for t in ids:
        out += [IMAGE_ID] * n_img if t == -200 else [t]
    return out


@torch.no_grad()
def run(model, pixels, ids_hf, trace=False):
    pv = torch.from_numpy(pixels).permute(2, 0, 1)[None].float()
    acts = {}
    hooks = []
    if trace:
        tm = model.model.vision_tower.timm_model

        def hook(name):
            def f(_m, _i, o):
                acts[name] = o.detach()[0].permute(1, 2, 0).contiguous()    # NHWC
            return f
        hooks.append(tm.stem.register_forward_hook(hook("stem")))
        for s, st in enumerate(tm.stages):
            hooks.append(st.register_forward_hook(hook(f"stage{s}")))
        hooks.append(tm.final_conv.register_forward_hook(hook("final_conv")))

        def proj_hook(_m, _i, o):
            acts["projector"] = o.detach()[0]
        hooks.append(model.model.multi_modal_projector.register_forward_hook(proj_hook))
    inp = torch.tensor([ids_hf])
    logits = model(input_ids=inp, pixel_values=pv).logits[0].float()
    for h in hooks:
        h.remove()
    # greedy, with KV cache, as a user runs it
    out = model.generate(input_ids=inp, pixel_values=pv, attention_mask=torch.ones_like(inp),
                         do_sample=False, max_new_tokens=N_NEW, min_new_tokens=N_NEW,
                         eos_token_id=None, pad_token_id=EOT_ID, output_logits=True,
                         return_dict_in_generate=True, top_k=None, top_p=None, temperature=None)
    toks = out.sequences[0, len(ids_hf):].tolist()
    step = torch.stack([s[0] for s in out.logits]).float()
    assert step.argmax(-1).tolist() == toks
    # cross-check without KV cache: one forward over prompt + generated tokens
    full = model(input_ids=torch.tensor([ids_hf + toks[:-1]]), pixel_values=pv,
                 use_cache=False).logits[0].float()
    assert full[len(ids_hf) - 1:].argmax(-1).tolist() == toks, "no-cache greedy differs"
    return logits, toks, step, acts


def gap_stats(step):
    top = torch.topk(step, 2, dim=-1).values
    gap = top[:, 0] - top[:, 1]
    return gap, gap / step.abs().amax(-1)


def max_run(toks):
    best = r = 1
    for a, b in zip(toks, toks[1:]):
        r = r + 1 if a == b else 1
        best = max(best, r)
    return best


def search_seed(m, pixels, ids_hf):
    for k in range(MAX_SEED_TRIES):
        seed = m["seed_base"] + k
        model = build(m, seed)
        _, toks, step, _ = run(model, pixels, ids_hf)
        gap, rel = gap_stats(step)
        why = None
        if len(set(toks)) < MIN_DISTINCT or max_run(toks) > MAX_RUN:
            why = f"repetitive ({len(set(toks))} distinct, run {max_run(toks)})"
        elif max(toks) >= N_VOCAB_TOKENS:
            why = "generated a special / padding id"
        elif rel.min() < MIN_REL_GAP:
            why = f"min gap/max|logit| {rel.min():.2e}"
        elif m["dtype"] == "bfloat16" and gap.min() < BF16_MIN_GAP_ABS:
            why = f"min gap {gap.min():.3f}"
        if why is None:
            print(f"  [{m['name']}] seed {seed} chosen after {k + 1} tries "
                  f"(min gap {gap.min():.3f}, rel {rel.min():.2e})", file=sys.stderr)
            return seed, k + 1
        print(f"  [{m['name']}] seed {seed} rejected: {why}", file=sys.stderr)
    raise SystemExit(f"{m['name']}: no seed met the criteria")


# ----------------------------------------------------------------------------------------------
# Layouts

def hf_to_apple_name(k):
    """Inverse of transformers' convert_fastvlm_weights_to_hf.py key mapping (spec §7.2)."""
    if k.startswith("model.language_model."):
        return "model." + k[len("model.language_model."):]
    if k.startswith("model.multi_modal_projector."):
        return k.replace("model.multi_modal_projector.linear_1", "model.mm_projector.0").replace(
            "model.multi_modal_projector.linear_2", "model.mm_projector.2")
    if k == "lm_head.weight":
        return k
    pre = "model.vision_tower.timm_model."
    assert k.startswith(pre), k
    r = k[len(pre):]
    parts = r.split(".")
    if parts[0] == "stem":
        r = "patch_embed." + ".".join(parts[1:])
    elif parts[0] == "stages":
        s = int(parts[1])
        rest = parts[2:]
        if rest[0] == "blocks":
            r = f"network.{STAGE_NET_INDEX[s]}.{rest[1]}." + ".".join(rest[2:])
        elif rest[0] == "downsample":      # downsample.proj.{0,1}.reparam_conv.*
            i = rest[2]
            conv = "lkb_reparam" if i == "0" else "reparam_conv"
            r = f"network.{DOWNSAMPLE_NET_INDEX[s]}.proj.{i}.{conv}." + ".".join(rest[4:])
        elif rest[0] == "pos_emb":
            r = f"network.{POS_EMB_NET_INDEX[s]}." + ".".join(rest[1:])
        else:
            raise ValueError(k)
    elif parts[0] == "final_conv":
        r = "conv_exp." + ".".join(parts[1:])
        r = r.replace("se.fc1", "se.reduce").replace("se.fc2", "se.expand")
    else:
        raise ValueError(k)
    r = r.replace(".mlp.", ".convffn.").replace(".gamma", "")
    return "model.vision_tower.vision_tower.model." + r


def legacy_keys(cfg, dtype):
    """Real checkpoints (transformers 4.x) carry rope_theta and torch_dtype at the top level."""
    if "rope_parameters" in cfg:
        cfg["rope_theta"] = cfg["rope_parameters"]["rope_theta"]
    cfg["torch_dtype"] = dtype
    return cfg


def save_hf(model, m, folder):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    save = cast_model(model, torch.bfloat16) if m["dtype"] == "bfloat16" else model
    save.save_pretrained(folder, safe_serialization=True)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    legacy_keys(cfg["text_config"], m["dtype"])
    cfg["torch_dtype"] = m["dtype"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_tokenizer(folder, with_image_token=True)
    S = m["image_size"]
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True,
                   "size": {"shortest_edge": S}, "do_center_crop": True,
                   "crop_size": {"height": S, "width": S}, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0, 0, 0],
                   "image_std": [1, 1, 1], "resample": 3, "do_convert_rgb": True}, f, indent=2)
        f.write("\n")
    for fn in ("generation_config.json",):
        p = os.path.join(folder, fn)
        if os.path.exists(p):
            os.remove(p)


def save_apple(model, m, folder, seed):
    """Apple llava_qwen2 layout: same tensors renamed, plus the unused CLIP head.proj (the real
    checkpoint has it; loaders must ignore it)."""
    from safetensors.torch import load_file, save_file
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    hf_folder = folder.replace("-apple", "-hf")
    sd = load_file(os.path.join(hf_folder, "model.safetensors"))
    out = {hf_to_apple_name(k): v for k, v in sd.items()}
    g = torch.Generator().manual_seed(seed + 7)
    feat = 2 * m["widths"][-1]
    dt = torch.bfloat16 if m["dtype"] == "bfloat16" else torch.float32
    out["model.vision_tower.vision_tower.model.head.proj"] = torch.randn(feat, 16, generator=g).to(dt)
    save_file(out, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    tc = model.config.text_config
    cfg = {
        "architectures": ["LlavaQwen2ForCausalLM"], "model_type": "llava_qwen2",
        "hidden_size": tc.hidden_size, "intermediate_size": tc.intermediate_size,
        "num_attention_heads": tc.num_attention_heads,
        "num_key_value_heads": tc.num_key_value_heads, "num_hidden_layers": tc.num_hidden_layers,
        "vocab_size": tc.vocab_size, "rope_theta": 1e6, "rms_norm_eps": 1e-6,
        "max_position_embeddings": 32768, "hidden_act": "silu", "attention_dropout": 0.0,
        "bos_token_id": EOT_ID, "eos_token_id": IM_END_ID, "tie_word_embeddings": m["tie"],
        "torch_dtype": m["dtype"], "use_cache": True, "use_sliding_window": False,
        "sliding_window": 32768, "max_window_layers": tc.num_hidden_layers,
        "image_aspect_ratio": "pad", "mm_hidden_size": feat, "mm_projector_type": "mlp2x_gelu",
        "mm_vision_tower": f"mobileclip_l_{m['image_size']}", "mm_patch_merge_type": "flat",
        "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2,
        "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "tokenizer_model_max_length": 8192, "tokenizer_padding_side": "right",
        "transformers_version": "4.39.3",
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_tokenizer(folder, with_image_token=False)


# ----------------------------------------------------------------------------------------------
# Blocks at the real widths, PRNG-filled

MASK64 = (1 << 64) - 1


def prng_values(seed, n, lo, hi):
    """splitmix64 of (seed + (i+1)*golden) for i < n; top 24 bits -> u in [0,1);
    value = f32(lo + (hi-lo)*u) computed in double. Bit-identical in C++."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    return (lo + (hi - lo) * u).astype(np.float32)


def prng_sample_indices(seed, count, total):
    u = prng_values(seed, count, 0.0, 1.0).astype(np.float64)
    return np.minimum((u * total).astype(np.int64), total - 1)


def block_tensor_ranges(name, shape):
    """(lo, hi) of each tensor: weights ~ U(-a, a) with a = sqrt(3 / fan_in) (unit variance
    outputs); kernels that hold a folded identity get +1 on the centre tap via 'center_one'."""
    if ".bn." in name:
        return {"weight": (0.5, 1.5), "bias": (-0.2, 0.2), "running_mean": (-0.3, 0.3),
                "running_var": (0.5, 2.0)}[name.rsplit(".", 1)[1]]
    if "gamma" in name:
        return (0.2, 0.6)
    if name.endswith("norm.weight"):
        return (0.8, 1.2)
    if name.endswith("bias"):
        return (-0.2, 0.2)
    fan_in = int(np.prod(shape[1:]))
    a = math.sqrt(3.0 / fan_in)
    if "qkv" in name:
        a *= 2
    return (-a, a)


@torch.no_grad()
def make_blocks(out_dir):
    full = timm.create_model("fastvit_mci3", inference_mode=True, pretrained=False).eval()
    specs = [
        ("repmixer_384_64x64", full.stages[2].blocks[0], (64, 64, 384), 1000),
        ("attention_768_32x32", full.stages[3].blocks[0], (32, 32, 768), 2000),
        ("final_conv_1536_16x16", full.final_conv, (16, 16, 1536), 3000),
    ]
    data = []
    offset = 0
    blocks = []
    for name, mod, in_shape, seed0 in specs:
        tensors = []
        named = dict(mod.named_parameters())
        named.update({k: v for k, v in mod.named_buffers() if "running" in k})
        for k, (tname) in enumerate(sorted(named)):
            p = named[tname]
            lo, hi = block_tensor_ranges(tname, tuple(p.shape))
            seed = seed0 + 10 + k
            vals = prng_values(seed, p.numel(), lo, hi).reshape(tuple(p.shape))
            center = (p.dim() == 4 and p.shape[1] == 1 and
                      ("token_mixer" in tname or tname.startswith("reparam_conv")))
            t = torch.from_numpy(vals.copy())
            if center:
                k2 = p.shape[-1] // 2
                t[:, 0, k2, k2] += 1.0
            p.copy_(t)
            tensors.append({"name": tname, "shape": list(p.shape), "seed": seed, "lo": lo,
                            "hi": hi, "center_one": bool(center)})
        H, W, C = in_shape
        x = prng_values(seed0, H * W * C, -1.0, 1.0).reshape(H, W, C)
        y = mod(torch.from_numpy(x).permute(2, 0, 1)[None].contiguous())[0]
        y = y.permute(1, 2, 0).contiguous().double().numpy()         # NHWC
        oh, ow, oc = y.shape
        flat = y.reshape(-1)
        n_samples = 4096
        idx = prng_sample_indices(seed0 + 1, n_samples, flat.size)
        entry = {"name": name, "module": type(mod).__name__, "input": {"shape": [H, W, C],
                 "seed": seed0, "lo": -1.0, "hi": 1.0}, "tensors": tensors,
                 "output_shape": [oh, ow, oc], "max_abs": float(np.abs(flat).max()),
                 "samples": {"seed": seed0 + 1, "count": n_samples}}
        parts = {
            "channel_sum": y.sum((0, 1)), "channel_abs_sum": np.abs(y).sum((0, 1)),
            "pixel_sum": y.sum(2).reshape(-1), "pixel_abs_sum": np.abs(y).sum(2).reshape(-1),
            "sample_values": flat[idx],
        }
        for pn, arr in parts.items():
            arr = np.asarray(arr, dtype=np.float32).reshape(-1)
            entry[pn] = {"offset": offset, "count": int(arr.size)}
            data.append(arr)
            offset += arr.size
        blocks.append(entry)
        print(f"  block {name}: out {y.shape}, max|y| {entry['max_abs']:.3f}", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    np.concatenate(data).astype("<f4").tofile(os.path.join(out_dir, "blocks.f32"))
    doc = {"schema": BLOCKS_SCHEMA, "data": "blocks.f32", "prng": "splitmix64, see "
           "tools/reference/README.md", "eps_bn": 1e-5, "eps_layernorm": 1e-5,
           "versions": versions(), "blocks": blocks}
    with open(os.path.join(out_dir, "blocks.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def versions():
    import safetensors
    import PIL
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "timm": timm.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__,
            "safetensors": safetensors.__version__}


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "fastvlm"))
    ap.add_argument("--only", default=None, help="comma list of: tiny-f32,tiny-bf16,blocks")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    out = os.path.abspath(args.out)
    only = set(args.only.split(",")) if args.only else None
    for d in ("models", "golden", "images"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    t0 = time.time()
    for m in MODELS:
        if only and m["name"] not in only:
            continue
        img_path = os.path.join(out, "images", m["image"])
        make_image(m["image"]).save(img_path, optimize=True)
        pixels, checked = preprocess(img_path, m["image_size"])
        hf_folder = os.path.join(out, "models", m["name"] + "-hf")
        apple_folder = os.path.join(out, "models", m["name"] + "-apple")
        # tokenizer first (prompt ids), from a temp save
        tmp_tok = os.path.join(out, "models", ".tok")
        tok = save_tokenizer(tmp_tok, with_image_token=True)
        shutil.rmtree(tmp_tok)
        ids_apple = apple_ids(tok)
        n_img = (m["image_size"] // 64) ** 2
        ids_hf = hf_ids(ids_apple, n_img)
        # the transformers-native tokenizer on the whole string, <image> expanded, must agree
        whole = tok(prompt_text().replace("<image>", IMAGE_TOKEN * n_img),
                    add_special_tokens=False)["input_ids"]
        assert whole == ids_hf, "chunked (Apple) and whole-string (HF) tokenization differ"
        seed, tries = search_seed(m, pixels, ids_hf)
        model = build(m, seed)
        save_hf(model, m, hf_folder)
        save_apple(model, m, apple_folder, seed)
        # reference run from the saved folder, reloaded as a user would
        ref = FastVlmForConditionalGeneration.from_pretrained(hf_folder, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
        logits, toks, step, acts = run(ref, pixels, ids_hf, trace=True)
        _, toks0, _, _ = run(model, pixels, ids_hf)
        assert toks == toks0, "reloaded model generates differently"
        gap, rel = gap_stats(step)
        text = tok.decode(toks, skip_special_tokens=True)
        bf16_run = None
        if m["dtype"] == "bfloat16":
            # transformers' own bf16 computation (weights and activations bf16, as a user runs
            # it) against the f32_upcast reference: the error scale of a bf16 implementation.
            mb = FastVlmForConditionalGeneration.from_pretrained(
                hf_folder, dtype=torch.bfloat16, attn_implementation="eager").eval()
            with torch.no_grad():
                pv = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(torch.bfloat16)
                lb = mb(input_ids=torch.tensor([ids_hf]), pixel_values=pv).logits[0].float()
            _, toks_b, _, _ = run(mb, pixels, ids_hf)
            bf16_run = {"prompt_logits_nmse": float(((lb - logits) ** 2).sum() / (logits ** 2).sum()),
                        "prompt_logits_max_abs": float((lb - logits).abs().max()),
                        "greedy_identical": toks_b == toks}
        data, tensors, off = [], {}, 0
        for name, arr in [("pixels", torch.from_numpy(pixels))] + \
                         [(k, acts[k]) for k in ["stem", "stage0", "stage1", "stage2", "stage3",
                                                 "stage4", "final_conv", "projector"]] + \
                         [("prompt_logits", logits)]:
            a = arr.float().contiguous().numpy().astype("<f4")
            tensors[name] = {"offset": off, "shape": list(a.shape),
                             "max_abs": float(np.abs(a).max())}
            data.append(a.reshape(-1))
            off += a.size
        np.concatenate(data).tofile(os.path.join(out, "golden", m["name"] + ".f32"))
        top2 = torch.topk(step, 2, dim=-1)
        doc = {
            "schema": SCHEMA, "name": m["name"], "models": {"hf": f"models/{m['name']}-hf",
                                                             "apple": f"models/{m['name']}-apple"},
            "model": f"models/{m['name']}-hf", "weight_dtype": m["dtype"], "seed": seed,
            "seed_tries": tries,
            "reference_run": "f32" if m["dtype"] == "float32" else "f32_upcast",
            "image": f"images/{m['image']}", "image_size": m["image_size"], "fit": "pad",
            "pixels_checked_against": checked, "image_tokens": n_img,
            "prompt_text": prompt_text(), "user_text": USER_TEXT, "system": SYSTEM,
            "prompt_ids_apple": ids_apple, "prompt_ids_hf": ids_hf,
            "greedy_tokens": toks, "greedy_text": text,
            "top2_ids": top2.indices.tolist(), "top2_gap": [float(g) for g in gap],
            "min_top2_gap": float(gap.min()), "min_rel_gap": float(rel.min()),
            "valid_vocab": N_VOCAB_TOKENS + len(SPECIALS),
            "bf16_run_vs_reference": bf16_run,
            "data": m["name"] + ".f32", "tensors": tensors,
            "generate": {"do_sample": False, "max_new_tokens": N_NEW, "eos_token_id": None,
                         "attn_implementation": "eager", "TIMM_FUSED_ATTN": "0"},
            "versions": versions(),
        }
        with open(os.path.join(out, "golden", m["name"] + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"[{m['name']}] {len(ids_hf)} prompt tokens, greedy {toks[:8]}... text {text!r}",
              file=sys.stderr)
    if not only or "blocks" in only:
        make_blocks(os.path.join(out, "blocks"))
    print(f"done in {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
