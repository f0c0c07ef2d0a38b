#!/usr/bin/env bash
# End to end: the `fastvlm generate` binary, as a user runs it, on the real-vocabulary fixture
# model must stream exactly the text transformers generated greedily (32 tokens) for the same
# chat prompt. --exact: f32 activations, so the comparison is against transformers' f32 run
# without bf16 near-ties (tests/unit/llm_qwen2_golden_test.cc covers the fast path).
set -euo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/qwen2/golden/realvocab-bf16.chat.json"
model="$src/tests/fixtures/qwen2/models/realvocab-bf16"
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"]["f32_upcast"]["greedy_text"], end="")' "$fx")
got=$("$bin" generate --model "$model" --prompt "What is the capital of France?" \
        --max-tokens 32 --ignore-eos --exact --threads 2)
if [ "$got" != "$want" ]; then
  echo "FAIL: streamed text differs from transformers' greedy text"
  echo "want: $want"
  echo "got:  $got"
  exit 1
fi
# More threads than the machine has (and than any fixed scratch size): same text, no crash.
got_many=$("$bin" generate --model "$model" --prompt "What is the capital of France?" \
             --max-tokens 32 --ignore-eos --exact --threads 100)
[ "$got_many" = "$want" ] || { echo "FAIL: --threads 100 gave: $got_many"; exit 1; }
# The same prompt through --raw with the template written out must give the same text.
# (--prompt-file: the rendered template ends in a newline, which $(...) would strip.)
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
python3 -c 'import json,sys; open(sys.argv[2], "w").write(json.load(open(sys.argv[1]))["prompt_text"])' "$fx" "$tmp"
got_raw=$("$bin" generate --model "$model" --raw --prompt-file "$tmp" --max-tokens 32 --ignore-eos --exact)
[ "$got_raw" = "$want" ] || { echo "FAIL: --raw with the rendered template differs: $got_raw"; exit 1; }
# Tokenize agrees with the fixture's prompt ids.
ids=$("$bin" tokenize --model "$model" --text "$(cat "$tmp")
")
want_ids=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_ids"])))' "$fx")
[ "$ids" = "$want_ids" ] || { echo "FAIL: tokenize ids differ: $ids vs $want_ids"; exit 1; }
# A stop string ends the stream right before it; text before it is streamed unchanged.
stop="detached"
want_stop="${want%%"$stop"*}"
[ "$want_stop" != "$want" ] || { echo "FAIL: fixture text no longer contains '$stop'"; exit 1; }
got_stop=$("$bin" generate --model "$model" --prompt "What is the capital of France?" \
             --max-tokens 32 --ignore-eos --exact --stop "$stop")
[ "$got_stop" = "$want_stop" ] || { echo "FAIL: --stop: got '$got_stop', want '$want_stop'"; exit 1; }
echo "PASS"
