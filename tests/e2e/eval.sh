#!/usr/bin/env bash
# `fastvlm eval` and `fastvlm export-llm` as a user calls them, on the tiny f32 FastVLM fixture:
#  - the model against itself: KL 0 and top-1 100% (identical logits), full greedy prefix;
#  - against its q8_0 GGUF (made here with `fastvlm quantize`): KL > 0 and finite;
#  - the JSON has the fastvlm.eval.v1 fields; --text gives both perplexities;
#  - the llama.cpp export reads back as --model and scores KL 0 against the folder (text-only);
#  - bad flags give a clear error.
set -uo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/fastvlm"
model="$fx/models/tiny-f32-hf"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"
# check JSON EXPR...: python assertions on the JSON file $tmp/j.json (j = the parsed object).
check() {
  local name="$1"; shift
  if python3 - "$tmp/j.json" "$@" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
s = j["summary"]
for expr in sys.argv[2:]:
    if not eval(expr):
        print("  failed:", expr, "| summary:", json.dumps(s)[:400]); sys.exit(1)
PY
  then echo "ok   $name"; else fail "$name"; fi
}
printf 'Describe this image.\nWhat is in the picture?\n' > "$tmp/prompts.txt"
printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 1 20) > "$tmp/text.txt"

# Against itself: identical logits.
if "$bin" eval --reference "$model" --candidate "$model" --images "$fx/images" \
    --prompts "$tmp/prompts.txt" --tokens 8 --text "$tmp/text.txt" --ctx 64 -t 1 \
    --json "$tmp/j.json" > "$tmp/out" 2> "$tmp/err"; then
  cat "$tmp/out"
  check "self: KL 0, top-1 100%, full prefix, schema" \
    'j["schema"] == "fastvlm.eval.v1"' 'j["tokens"] == 8' 'len(j["items"]) == 4' \
    's["kl_mean"] == 0 and s["kl_max"] == 0 and s["kl_p99"] == 0' 's["top1_agreement"] == 1.0' \
    's["greedy_prefix_mean"] == 8' 's["positions"] == 32' \
    's["perplexity_reference"] == s["perplexity_candidate"] > 1' \
    'all(k in j for k in ("created", "reference", "candidate", "reference_weight_type", "candidate_weight_type"))' \
    'all(set(("image", "prompt", "kl_mean", "kl_max", "top1", "greedy_prefix")) <= set(i) for i in j["items"])' \
    'j["reference_weight_type"] == "f32"'
else
  fail "self eval: exit status"; cat "$tmp/err"
fi

# Against its q8_0 GGUF: KL > 0, finite.
if ! "$bin" quantize --model "$model" --out "$tmp/q8.gguf" --type q8_0 2> "$tmp/err"; then
  fail "quantize"; cat "$tmp/err"
fi
if "$bin" eval --reference "$model" --candidate "$tmp/q8.gguf" --images "$fx/images/street-300x200.png" \
    --tokens 16 --text "$tmp/text.txt" --ctx 64 -t 1 --json "$tmp/j.json" > "$tmp/out" 2> "$tmp/err"; then
  cat "$tmp/out"
  grep -q "top-1" "$tmp/out" || fail "q8_0: no table on stdout"
  check "q8_0: KL > 0 and finite" 's["kl_mean"] > 0' 'math.isfinite(s["kl_mean"])' \
    'math.isfinite(s["kl_max"]) and s["kl_max"] >= s["kl_p99"] >= 0' \
    '0 <= s["top1_agreement"] <= 1' 's["positions"] == 48' 'len(j["items"]) == 3' \
    'j["candidate_weight_type"] == "q8_0"' 'math.isfinite(s["perplexity_candidate"])' \
    's["prompt"]["positions"] > 0'
else
  fail "q8_0 eval: exit status"; cat "$tmp/err"
fi

# Text-only prompts (default questions) against the llama.cpp-style export of the same weights.
if "$bin" export-llm --model "$model" --out "$tmp/llm.gguf" 2> "$tmp/err" &&
   "$bin" eval --reference "$model" --candidate "$tmp/llm.gguf" --tokens 4 -t 1 \
     --json "$tmp/j.json" > "$tmp/out" 2> "$tmp/err"; then
  check "export-llm read back: KL 0" 's["kl_max"] == 0' 's["top1_agreement"] == 1.0' \
    'len(j["items"]) == 3' 'all(i["image"] is None for i in j["items"])' \
    's["perplexity_reference"] is None'
else
  fail "export-llm + text-only eval"; cat "$tmp/err"
fi

expect_error "no reference" "--reference" -- "$bin" eval --candidate "$model"
expect_error "missing candidate" "no-such-model" -- "$bin" eval --reference "$model" --candidate "$tmp/no-such-model"
expect_error "missing prompts file" "prompts" -- "$bin" eval --reference "$model" --candidate "$model" --prompts "$tmp/none.txt"
expect_error "missing images" "no-such-dir" -- "$bin" eval --reference "$model" --candidate "$model" --images "$tmp/no-such-dir"
expect_error "tokens 0" "tokens" -- "$bin" eval --reference "$model" --candidate "$model" --tokens 0
expect_error "unwritable json" "cannot write" -- "$bin" eval --reference "$model" --candidate "$model" --json "$tmp/no/dir/x.json"
expect_error "images with a text-only candidate" "no vision tower" -- "$bin" eval --reference "$model" --candidate "$tmp/llm.gguf" --images "$fx/images"
expect_error "kld-base not a llama.cpp file" "_logits_" -- "$bin" eval --candidate "$tmp/llm.gguf" --kld-base "$tmp/text.txt"
expect_error "export-llm of a folder without a model" "config.json" -- "$bin" export-llm --model "$tmp" --out "$tmp/x.gguf"
expect_error "export-llm bad type" "--type" -- "$bin" export-llm --model "$model" --out "$tmp/x.gguf" --type q3_k

if [ "$fails" != 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all passed"
