#!/usr/bin/env bash
# End to end: `fastvlm run` and `fastvlm chat`, as a user calls them, on the tiny FastVLM fixture
# models (tools/reference/make_fastvlm_fixtures.py). The streamed answer must be exactly the text
# transformers generated greedily (32 tokens) for the same image and prompt, in both checkpoint
# layouts; --jsonl over a directory gives one line per image (errors included, run continues).
set -euo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/fastvlm"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]], end="")' "$1" "$2"; }
# Compares file $1 (the binary's stdout: the answer + one newline) with golden $2's greedy_text.
same_text() {
  python3 - "$1" "$2" <<'PY'
import json, sys
got = open(sys.argv[1], encoding="utf-8", errors="strict", newline="").read()
want = json.load(open(sys.argv[2]))["greedy_text"] + "\n"
if got != want:
    print("FAIL: streamed text differs from transformers' greedy text")
    print("want:", repr(want)); print("got: ", repr(got)); sys.exit(1)
PY
}

for g in tiny-f32 tiny-bf16; do
  golden="$fx/golden/$g.json"
  img="$fx/$(field "$golden" image)"
  prompt=$(field "$golden" user_text)
  for layout in hf apple; do
    "$bin" run --model "$fx/models/$g-$layout" --image "$img" --prompt "$prompt" \
      -n 32 --ignore-eos --threads 2 > "$tmp/out.txt"
    same_text "$tmp/out.txt" "$golden" || { echo "  ($g, $layout layout)"; exit 1; }
  done
done
echo "run: text identical to transformers (2 models x 2 layouts)"

# --verbose prints every phase (to stderr; stdout stays the answer).
g="$fx/golden/tiny-f32.json"; model="$fx/models/tiny-f32-apple"; img="$fx/$(field "$g" image)"
prompt=$(field "$g" user_text)
"$bin" run --model "$model" --image "$img" --prompt "$prompt" -n 32 --ignore-eos --verbose \
  > "$tmp/out.txt" 2> "$tmp/err.txt"
same_text "$tmp/out.txt" "$g"
for phase in "load:" "img decode:" "preprocess:" "vision:" "projector:" "prefill:" "ttft:"; do
  grep -q "^$phase" "$tmp/err.txt" || { echo "FAIL: --verbose lacks '$phase'"; cat "$tmp/err.txt"; exit 1; }
done

# --jsonl over a directory: images sorted by name, a broken one reported in its own line, the
# others still answered, exit status 1 because one failed; non-image files are skipped.
mkdir "$tmp/batch"
cp "$img" "$tmp/batch/a.png"
head -c 300 "$img" > "$tmp/batch/b-truncated.png"
cp "$fx/images/tall-120x250.png" "$tmp/batch/c.png"
echo "not an image" > "$tmp/batch/notes.txt"
set +e
"$bin" run --model "$model" --image "$tmp/batch" --prompt "$prompt" -n 32 --ignore-eos --jsonl \
  > "$tmp/out.jsonl" 2> "$tmp/err.txt"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "FAIL: --jsonl batch with a broken image exited $rc, want 1"; cat "$tmp/err.txt"; exit 1; }
python3 - "$tmp/out.jsonl" "$g" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = json.load(open(sys.argv[2]))["greedy_text"]
assert len(lines) == 3, f"want 3 JSON lines, got {len(lines)}"
a, b, c = lines
assert a["image"].endswith("a.png") and a["text"] == want, a
assert a["generated_tokens"] == 32 and a["finish_reason"] == "length", a
for k in ("decode", "preprocess", "vision_encoder", "projector", "prefill", "ttft"):
    assert k in a["seconds"], k
assert b["image"].endswith("b-truncated.png") and "error" in b and "b-truncated.png" in b["error"], b
assert c["image"].endswith("c.png") and c["width"] == 120 and c["height"] == 250 and len(c["text"]) > 0, c
PY
echo "run --jsonl: 3 lines (2 answers, 1 error)"

# chat: two identical questions separated by /reset give the golden answer twice; a second turn
# in the same conversation continues from the KV cache.
printf '%s\n/reset\n%s\nAnd the colours?\n/exit\n' "$prompt" "$prompt" |
  "$bin" chat --model "$model" --image "$img" -n 32 --ignore-eos > "$tmp/chat.txt" 2> "$tmp/err.txt"
python3 - "$tmp/chat.txt" "$g" <<'PY'
import json, sys
want = json.load(open(sys.argv[2]))["greedy_text"] + "\n"
got = open(sys.argv[1], encoding="utf-8", newline="").read()
assert got.startswith(want + want), f"chat answers differ from the golden text:\n{got!r}\n{want!r}"
assert len(got) > 2 * len(want), "no third answer"
PY
echo "chat: answers identical to transformers; /reset works"
# The same model as one GGUF file (fastvlm quantize --type f32: the weights unchanged) streams the
# same text; its embedded tokenizer gives the same ids.
"$bin" quantize --model "$model" --out "$tmp/tiny.gguf" --type f32 2> "$tmp/err.txt" ||
  { echo "FAIL: quantize"; cat "$tmp/err.txt"; exit 1; }
"$bin" run --model "$tmp/tiny.gguf" --image "$img" --prompt "$prompt" -n 32 --ignore-eos > "$tmp/out.txt"
same_text "$tmp/out.txt" "$g" || { echo "  (f32 GGUF)"; exit 1; }
[ "$("$bin" tokenize --model "$tmp/tiny.gguf" --text "Hello world")" = \
  "$("$bin" tokenize --model "$model" --text "Hello world")" ] || { echo "FAIL: GGUF tokenizer ids"; exit 1; }
echo "quantize --type f32 -> GGUF: same text, same token ids"
echo "PASS"
