#!/usr/bin/env python3
"""Trains the small FastVLM demo model on the project's synthetic question/answer images, on CPU,
deterministically, and exports it as a transformers-native FastVlmForConditionalGeneration folder
that fastvlm.cpp loads (then `fastvlm quantize` makes the GGUF).

Data: `fastvlm synth --task all --count N --seed 1 --size 256 --out DIR` (training, seeds
1..N) and `--seed 900000` (validation, seeds 900000..900000+V-1). `fastvlm eval-tasks` tests on
seeds 1000000+ by default: the three ranges are disjoint as long as N < 900000. Nothing of ours is
imported: the only interface is that binary's PNG + JSON files (and `fastvlm tokenize`, which
checks that the prompt token ids below are the ones our engine builds).

Model (defaults; see --help): timm fastvit_mci3 at widths 16,32,64,128,256 and depths 1,1,1,1,1
(every FastViTHD block type our engine supports: RepMixer stages, attention stages, conv_exp +
squeeze-excite), input 256x256 -> (256/64)^2 = 16 image tokens of 512 features, the mlp2x_gelu
projector, and a Qwen2 decoder of hidden 64, 4 layers, 2 heads of 64/2 = 32 dims (1 KV head),
MLP 256, over the full real Qwen2 vocabulary (151,936 rows) with tied embeddings. The
embedding is 9.7M of the ~11.2M parameters: 22.5 MB of bf16 weights; `fastvlm quantize --type bf16`
adds the tokenizer (~4.4 MB) for 26.9 MB, --type q8_0 gives 17.6 MB (README.md: sizes, options).

Prompt (as our engine renders it, src/tokenizer/chat.cc: Apple's conv_qwen_2 with the default
system prompt, image first in the user turn):
  <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n<image>\\n
  QUESTION<|im_end|>\\n<|im_start|>assistant\\n ANSWER<|im_end|>
The text around <image> is tokenized in two chunks (llava tokenizer_image_token); <image> becomes
16 copies of the image token id 151646 (transformers' layout). The loss is the cross-entropy of
the answer tokens and the closing <|im_end|> only, averaged per sample, then over the batch (so
one-word answers weigh as much as descriptions).

Determinism: torch.manual_seed, numpy Generator(seed) for the sample order,
torch.use_deterministic_algorithms(True), 2 threads, TIMM_FUSED_ATTN=0; the same flags give the
same weights on the same machine / torch build. Checkpoints (--ckpt-every) hold the model,
optimizer and sampler state; --resume continues bit-exactly.

Usage (see README.md):
  /work/refvenv/bin/python tools/train/train.py --out /work/train-out/demo --steps 1400
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TIMM_FUSED_ATTN", "0")  # explicit softmax(QK^T)V, as our engine computes

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_DIR = os.path.join(REPO, "tests", "fixtures", "qwen2_tokenizer")
TOKENIZER_FILES = ["merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
TASKS = ["colour", "shape", "count", "text", "describe"]
SYSTEM = "You are a helpful assistant."
VOCAB_ROWS = 151936
EOT_ID, IM_START_ID, IM_END_ID, IMAGE_ID = 151643, 151644, 151645, 151646
TRAIN_SEED0, VAL_SEED0, TEST_SEED0 = 1, 900000, 1000000


# ----------------------------------------------------------------------------------------------
# Scoring: the rules of src/eval/task_scoring.h (fastvlm eval-tasks is the authority; this is for
# the validation printout during training).

COLOURS = {"red", "green", "blue", "yellow", "orange", "purple", "pink", "black"}
SHAPES = {"circle", "square", "triangle", "star", "diamond", "hexagon", "cross"}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def normalize(s):
    s = " ".join(s.split()).lower()
    return s.rstrip(". ")


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[len(b)]


def parse_description(text):
    objs, cur = [], {"size": "", "colour": "", "shape": ""}
    word = ""
    for ch in text + " ":
        if ch.isascii() and ch.isalpha():
            word += ch.lower()
            continue
        if word in ("small", "large"):
            cur["size"] = word
        elif word in COLOURS:
            cur["colour"] = word
        else:
            shape = word if word in SHAPES else (
                word[:-1] if word.endswith("s") and word[:-1] in SHAPES else (
                    word[:-2] if word.endswith("es") and word[:-2] in SHAPES else ""))
            if shape:
                cur["shape"] = shape
                objs.append(cur)
                cur = {"size": "", "colour": "", "shape": ""}
        word = ""
    if cur["size"] or cur["colour"]:
        objs.append(cur)
    return objs


def attribute_f1(pred, truth):
    npred = sum(bool(v) for o in pred for v in o.values())
    ntruth = 3 * len(truth)
    if npred == 0 and ntruth == 0:
        return 1.0
    pred = pred[:8]

    def score(p, t):
        return sum(bool(p[k]) and p[k] == t[k] for k in ("size", "colour", "shape"))

    def best(t, used):
        if t == len(truth):
            return 0
        b = best(t + 1, used)
        for i, p in enumerate(pred):
            s = score(p, truth[t]) if i not in used else 0
            if s:
                b = max(b, s + best(t + 1, used | {i}))
        return b

    m = best(0, frozenset())
    p = m / npred if npred else 0.0
    r = m / ntruth if ntruth else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def score(task, answer, truth):
    """(score in [0, 1], exact match) of one answer under the task's rule."""
    a, t = normalize(answer), normalize(truth["answer"])
    if task == "count":
        ok = a == t or (t.isdigit() and int(t) < len(NUMBER_WORDS) and a == NUMBER_WORDS[int(t)])
        return float(ok), ok
    if task == "describe":
        objs = [{"size": o["size"], "colour": o["colour"], "shape": o["shape"]}
                for o in truth["objects"]]
        return attribute_f1(parse_description(answer), objs), a == t
    return float(a == t), a == t


def char_accuracy(answer, truth):
    a, t = normalize(answer), normalize(truth)
    return max(0.0, 1.0 - levenshtein(a, t) / len(t)) if t else float(not a)


# ----------------------------------------------------------------------------------------------
# Data

def find_fastvlm(arg):
    for c in ([arg] if arg else []) + [os.path.join(REPO, "build-train", "fastvlm"),
                                        os.path.join(REPO, "build", "fastvlm"),
                                        shutil.which("fastvlm") or ""]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    sys.exit("train.py: no fastvlm binary found; build it (README.md) or pass --fastvlm PATH")


def synth(fastvlm, out_dir, count, seed, size):
    """Runs `fastvlm synth` once; reuses a directory that a finished run left (stamp file)."""
    stamp = os.path.join(out_dir, "SYNTH_DONE")
    want = f"count={count} seed={seed} size={size}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    t0 = time.time()
    subprocess.run([fastvlm, "synth", "--task", "all", "--count", str(count), "--seed", str(seed),
                    "--size", str(size), "--out", out_dir], check=True, stdout=subprocess.DEVNULL)
    with open(stamp, "w") as f:
        f.write(want)
    print(f"synth: {5 * count} images (seeds {seed}..{seed + count - 1}) in {out_dir}, "
          f"{time.time() - t0:.0f} s", flush=True)


def load_items(d, count):
    digits = max(4, len(str(count - 1)))
    items = []
    for task in TASKS:
        for i in range(count):
            base = os.path.join(d, f"{task}-{i:0{digits}d}")
            with open(base + ".json") as f:
                truth = json.load(f)
            items.append({"task": task, "png": base + ".png", "truth": truth})
    return items


def load_pixels(paths, size):
    """[B, 3, size, size] float32 in [0, 1]: our engine's preprocessing (pad to square with black,
    Pillow bicubic to the input size, /255, no normalization) for square images of that size."""
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for k, p in enumerate(paths):
        im = Image.open(p).convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        out[k] = np.asarray(im)
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


class PromptBuilder:
    def __init__(self, n_image_tokens):
        from transformers import AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
        self.n_img = n_image_tokens
        self.cache = {}

    def chunks(self, question):
        return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n",
                f"\n{question}<|im_end|>\n<|im_start|>assistant\n")

    def encode(self, text):
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def prompt(self, question):
        if question not in self.cache:
            a, b = self.chunks(question)
            self.cache[question] = self.encode(a) + [IMAGE_ID] * self.n_img + self.encode(b)
        return self.cache[question]

    def answer(self, text, task):
        """Answer ids + <|im_end|>. The text task's answers are spelled one token per letter
        (each capital A-Z is a single Qwen2 token) instead of BPE's merges ("HELLO" is BPE
        "HEL"+"LO", "KQZVX" five letters): the decoded string is the same, so the engine and the
        scoring see no difference, but the model learns 26 classes per position instead of
        thousands of letter clusters, each seen a handful of times."""
        if task == "text":
            ids = []
            for c in text:
                t = self.encode(c)
                assert len(t) == 1, f"{c!r} is not a single token"
                ids += t
            assert self.tok.decode(ids) == text
            return ids + [IM_END_ID]
        return self.encode(text) + [IM_END_ID]

    def check_with_engine(self, fastvlm, questions):
        """The ids must be the ones `fastvlm run` builds: compare each chunk with
        `fastvlm tokenize` on the same tokenizer files."""
        for q in questions:
            for chunk in self.chunks(q):
                out = subprocess.run([fastvlm, "tokenize", "--model", TOKENIZER_DIR, "--text", chunk],
                                     check=True, capture_output=True, text=True).stdout.split()
                ours = [int(v) for v in out]
                if ours != self.encode(chunk):
                    sys.exit(f"train.py: prompt ids differ from fastvlm tokenize for {chunk!r}: "
                             f"{self.encode(chunk)} vs {ours}")


# ----------------------------------------------------------------------------------------------
# Model

def make_config(a, inference_mode):
    from transformers import FastVlmConfig
    widths = tuple(int(v) for v in a.widths.split(","))
    depths = tuple(int(v) for v in a.depths.split(","))
    assert len(widths) == 5 and len(depths) == 5, "--widths / --depths: five stages"
    assert widths[3] % 32 == 0 and widths[4] % 32 == 0, "attention stages need widths % 32 == 0"
    assert a.image_size % 64 == 0, "--image-size must be a multiple of 64"
    assert a.hidden % a.heads == 0 and a.heads % a.kv_heads == 0
    cfg = FastVlmConfig(
        vision_config=dict(model_type="timm_wrapper", architecture="fastvit_mci3",
                           do_pooling=False, hidden_size=2 * widths[-1],
                           model_args=dict(inference_mode=inference_mode, layers=depths,
                                               embed_dims=widths)),
        text_config=dict(model_type="qwen2", hidden_size=a.hidden, intermediate_size=a.intermediate,
                         num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                         num_hidden_layers=a.layers, vocab_size=VOCAB_ROWS, rope_theta=1e6,
                         rms_norm_eps=1e-6, max_position_embeddings=32768,
                         tie_word_embeddings=True, bos_token_id=EOT_ID, eos_token_id=IM_END_ID,
                         pad_token_id=EOT_ID, use_sliding_window=False, attention_dropout=0.0),
        image_token_id=IMAGE_ID, image_seq_length=(a.image_size // 64) ** 2,
        tie_word_embeddings=True)
    cfg._attn_implementation = "eager"
    cfg.text_config._attn_implementation = "eager"
    return cfg


def build_model(a, inference_mode=False):
    """Training uses timm's train-time FastViT (MobileOne / RepMixer branches with BatchNorm):
    the reparameterized inference layout, freshly initialized, has no normalization and its
    activations shrink ~100x per stage (measured: 1.7e-5 after the stem, 5e-22 at the output,
    identical for every image), so no gradient reaches the vision tower. export() folds the
    branches into the inference layout (timm's reparameterize), which is what our engine and
    transformers load."""
    from transformers import FastVlmForConditionalGeneration
    torch.manual_seed(a.seed)
    model = FastVlmForConditionalGeneration(make_config(a, inference_mode))
    model.tie_weights()
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    return model


def forward_hidden(model, ids, pixels):
    """Last hidden states [B, T, H]: the image features spliced at the image token positions."""
    lm = model.model.language_model
    emb = lm.embed_tokens(ids)
    feats = model.model.get_image_features(pixel_values=pixels).pooler_output.to(emb.dtype)
    mask = (ids == IMAGE_ID).unsqueeze(-1)
    emb = emb.masked_scatter(mask, feats)
    return lm(inputs_embeds=emb).last_hidden_state


def make_batch(items, pb, size):
    seqs, targets = [], []
    for it in items:
        p = pb.prompt(it["truth"]["question"])
        ans = pb.answer(it["truth"]["answer"], it["truth"]["task"])
        seqs.append(p + ans)
        targets.append((len(p), ans))
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), EOT_ID, dtype=torch.long)
    rows, cols, tgt, w = [], [], [], []
    for b, (s, (start, ans)) in enumerate(zip(seqs, targets)):
        ids[b, :len(s)] = torch.tensor(s)
        for j, t in enumerate(ans):  # position start+j-1 predicts answer token j
            rows.append(b)
            cols.append(start + j - 1)
            tgt.append(t)
            w.append(1.0 / len(ans))
    pixels = load_pixels([it["png"] for it in items], size)
    return (ids, pixels, torch.tensor(rows), torch.tensor(cols), torch.tensor(tgt),
            torch.tensor(w) / len(items))


def loss_fn(model, batch):
    ids, pixels, rows, cols, tgt, w = batch
    h = forward_hidden(model, ids, pixels)[rows, cols]
    logits = model.lm_head(h)
    nll = F.cross_entropy(logits.float(), tgt, reduction="none")
    return (nll * w).sum()


@torch.no_grad()
def greedy(model, pb, items, size, max_new=24, batch=50):
    """Greedy answers, stopping at <|im_end|> / <|endoftext|>; batched per question (one prompt
    length), recomputing the full sequence each step (tiny model, short answers)."""
    answers = [None] * len(items)
    by_q = {}
    for k, it in enumerate(items):
        by_q.setdefault(it["truth"]["question"], []).append(k)
    lm = model.model.language_model
    for q, idx in by_q.items():
        prompt = pb.prompt(q)
        for s in range(0, len(idx), batch):
            part = idx[s:s + batch]
            pixels = load_pixels([items[k]["png"] for k in part], size)
            feats = model.model.get_image_features(pixel_values=pixels).pooler_output
            ids = torch.tensor([prompt] * len(part))
            out = [[] for _ in part]
            done = [False] * len(part)
            for _ in range(max_new):
                emb = lm.embed_tokens(ids).masked_scatter((ids == IMAGE_ID).unsqueeze(-1), feats)
                h = lm(inputs_embeds=emb).last_hidden_state[:, -1]
                nxt = model.lm_head(h)[:, :IMAGE_ID].argmax(-1)  # rows > 151645: no text
                for b in range(len(part)):
                    if not done[b]:
                        if int(nxt[b]) in (IM_END_ID, EOT_ID):
                            done[b] = True
                        else:
                            out[b].append(int(nxt[b]))
                if all(done):
                    break
                ids = torch.cat([ids, nxt[:, None]], 1)
            for b, k in enumerate(part):
                answers[k] = pb.tok.decode(out[b])
    return answers


def evaluate(model, pb, items, size):
    was_training = model.training
    model.eval()
    answers = greedy(model, pb, items, size)
    model.train(was_training)
    res = {}
    for it, ans in zip(items, answers):
        r = res.setdefault(it["task"], {"n": 0, "score": 0.0, "exact": 0, "char": 0.0})
        s, ok = score(it["task"], ans, it["truth"])
        r["n"] += 1
        r["score"] += s
        r["exact"] += ok
        if it["task"] == "text":
            r["char"] += char_accuracy(ans, it["truth"]["answer"])
    out = {}
    for t, r in res.items():
        out[t] = {"accuracy": r["score"] / r["n"], "exact": r["exact"] / r["n"], "n": r["n"]}
        if t == "text":
            out[t]["char_accuracy"] = r["char"] / r["n"]
    examples = [(it["task"], it["truth"]["answer"], ans) for it, ans in zip(items, answers)]
    return out, examples


# ----------------------------------------------------------------------------------------------
# Export

def cast_bf16(model):
    import copy
    m = copy.deepcopy(model)
    for p in m.parameters():
        p.data = p.data.to(torch.bfloat16)
    for name, b in m.named_buffers():
        if "running" in name:
            b.data = b.data.to(torch.bfloat16)
    return m


def reparameterized(model, a):
    """The trained model in the inference layout: a copy whose vision tower has its branches and
    BatchNorms folded (timm.utils.reparameterize_model), loaded strictly into a model built with
    inference_mode=True, so every tensor name and shape is the one that layout has."""
    import copy
    from timm.utils import reparameterize_model
    m = copy.deepcopy(model).eval()
    reparameterize_model(m.model.vision_tower.timm_model, inplace=True)
    inf = build_model(a, inference_mode=True).eval()
    inf.load_state_dict(m.state_dict(), strict=True)
    return inf


def export(model, a, folder, info):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    model.eval()
    m = cast_bf16(reparameterized(model, a))
    m.save_pretrained(folder, safe_serialization=True)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    tc = cfg["text_config"]
    if "rope_parameters" in tc:  # transformers 4.x readers (and real checkpoints) use the top key
        tc["rope_theta"] = tc["rope_parameters"]["rope_theta"]
    tc["torch_dtype"] = cfg["torch_dtype"] = "bfloat16"
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    gc = os.path.join(folder, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    for fn in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(TOKENIZER_DIR, fn), os.path.join(folder, fn))
    with open(os.path.join(folder, "added_tokens.json"), "w") as f:
        json.dump({"<|endoftext|>": EOT_ID, "<|im_start|>": IM_START_ID, "<|im_end|>": IM_END_ID,
                   "<image>": IMAGE_ID}, f)
    S = a.image_size
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True,
                   "size": {"shortest_edge": S}, "do_center_crop": True,
                   "crop_size": {"height": S, "width": S}, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0, 0, 0],
                   "image_std": [1, 1, 1], "resample": 3, "do_convert_rgb": True}, f, indent=2)
        f.write("\n")
    with open(os.path.join(folder, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------------------------

def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def param_groups(model, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and "embed_tokens" not in n else no_decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def versions():
    import timm
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "timm": timm.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (data, checkpoints, export)")
    ap.add_argument("--fastvlm", default="", help="our binary (default: build-train/, build/, PATH)")
    ap.add_argument("--seed", type=int, default=0, help="weights and sample order")
    ap.add_argument("--train-count", type=int, default=12000, help="training images per task")
    ap.add_argument("--val-count", type=int, default=40, help="validation images per task")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--depths", default="1,1,1,1,1")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--intermediate", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--kv-heads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--task-weights", default="1,1,1.5,2,1.5",
                    help="sampling weights of colour,shape,count,text,describe")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--time-only", type=int, default=0,
                    help="run N steps, print the time per step and the projected total, exit")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)
    fastvlm = find_fastvlm(a.fastvlm)
    if a.train_count >= VAL_SEED0 - TRAIN_SEED0:
        sys.exit("--train-count must stay below 899999 (validation seeds start at 900000)")
    train_dir, val_dir = os.path.join(a.out, "data-train"), os.path.join(a.out, "data-val")
    synth(fastvlm, train_dir, a.train_count, TRAIN_SEED0, a.image_size)
    synth(fastvlm, val_dir, a.val_count, VAL_SEED0, a.image_size)
    train = load_items(train_dir, a.train_count)
    val = load_items(val_dir, a.val_count)

    model = build_model(a)
    n_img = (a.image_size // 64) ** 2
    pb = PromptBuilder(n_img)
    pb.check_with_engine(fastvlm, sorted({it["truth"]["question"] for it in val}))
    total = sum(p.numel() for p in model.parameters())
    emb = model.model.language_model.embed_tokens.weight.numel()
    print(f"model: {total:,} parameters ({emb:,} embedding, tied), {n_img} image tokens, "
          f"{2 * total / 1e6:.1f} MB of bf16 weights (+ ~4.4 MB tokenizer in a GGUF)", flush=True)

    opt = torch.optim.AdamW(param_groups(model, a.weight_decay), lr=a.lr, betas=(0.9, 0.95),
                            eps=1e-8)
    weights = np.array([float(v) for v in a.task_weights.split(",")])
    weights /= weights.sum()
    rng = np.random.Generator(np.random.PCG64(a.seed))
    step = 0
    log = []
    ckpt = os.path.join(a.out, "ckpt.pt")
    if a.resume and os.path.exists(ckpt):
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        step, log = st["step"], st["log"]
        print(f"resumed at step {step}", flush=True)

    per_task = a.train_count
    model.train()
    t_run = time.time()
    t_win, loss_win, n_win = time.time(), 0.0, 0
    steps = a.time_only or a.steps
    while step < steps:
        tasks = rng.choice(len(TASKS), size=a.batch, p=weights)
        idx = rng.integers(0, per_task, size=a.batch)
        items = [train[int(t) * per_task + int(i)] for t, i in zip(tasks, idx)]
        batch = make_batch(items, pb, a.image_size)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_win += float(loss.detach())
        n_win += 1
        if step % a.log_every == 0 or step == steps:
            dt = (time.time() - t_win) / n_win
            eta = dt * (steps - step)
            print(f"step {step:6d}  loss {loss_win / n_win:.4f}  lr {lr_at(step - 1, a):.2e}  "
                  f"{dt:.2f} s/step  eta {eta / 60:.1f} min", flush=True)
            log.append({"step": step, "loss": loss_win / n_win, "s_per_step": dt,
                        "elapsed_s": time.time() - t_run})
            t_win, loss_win, n_win = time.time(), 0.0, 0
        if a.time_only:
            continue
        if step % a.eval_every == 0 or step == steps:
            t0 = time.time()
            res, ex = evaluate(model, pb, val, a.image_size)
            summary = "  ".join(f"{t} {res[t]['accuracy']:.2f}" for t in TASKS if t in res)
            print(f"eval step {step}: {summary}  (text char {res['text']['char_accuracy']:.2f}; "
                  f"{time.time() - t0:.0f} s)", flush=True)
            for t, truth, ans in ex[::a.val_count][:5]:
                print(f"    {t:9s} truth {truth!r:40s} answer {ans!r}", flush=True)
            log.append({"step": step, "val": res})
        if step % a.ckpt_every == 0 or step == steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "step": step, "log": log, "args": vars(a)}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
    if a.time_only:
        per = log[-1]["s_per_step"]
        print(f"time per step (batch {a.batch}): {per:.2f} s; {a.steps} steps ~ "
              f"{per * a.steps / 3600:.2f} h plus evaluation", flush=True)
        return

    info = {"schema": "fastvlm.train_info.v1", "args": vars(a), "parameters": total,
            "train_seeds": [TRAIN_SEED0, TRAIN_SEED0 + a.train_count - 1],
            "val_seeds": [VAL_SEED0, VAL_SEED0 + a.val_count - 1],
            "test_seeds_from": TEST_SEED0, "versions": versions(),
            "train_seconds": time.time() - t_run, "log": log}
    hf = os.path.join(a.out, "hf")
    export(model, a, hf, info)
    print(f"exported {hf}", flush=True)


if __name__ == "__main__":
    main()
