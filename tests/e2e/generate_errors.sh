#!/usr/bin/env bash
# End to end: bad input to `fastvlm generate` gives a clear error and a non-zero exit, no crash.
set -uo pipefail
bin="$1"; src="$2"
model="$src/tests/fixtures/qwen2/models/realvocab-bf16"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
expect_error() {  # description, expected substring, command...
  local what="$1" needle="$2"; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ] || ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL: $what (exit $rc): $out"; fail=1
  else
    echo "ok: $what -> $(head -n1 <<<"$out")"
  fi
}
expect_error "missing model folder" "does not exist" "$bin" generate --model "$tmp/nope" --prompt hi
mkdir -p "$tmp/empty"
expect_error "folder without config.json" "config.json" "$bin" generate --model "$tmp/empty" --prompt hi
cp -r "$model" "$tmp/trunc"
truncate -s 1000 "$tmp/trunc/model.safetensors"
expect_error "truncated safetensors" "model.safetensors" "$bin" generate --model "$tmp/trunc" --prompt hi
cp -r "$model" "$tmp/badcfg"
echo '{"model_type": "qwen2", "hidden_size": ' > "$tmp/badcfg/config.json"
expect_error "malformed config.json" "config.json" "$bin" generate --model "$tmp/badcfg" --prompt hi
expect_error "context overflow" "context" "$bin" generate --model "$model" --prompt "$(printf 'word %.0s' $(seq 1 200))" --ctx-size 64
expect_error "bad flag value" "--max-tokens" "$bin" generate --model "$model" --prompt hi --max-tokens -3
expect_error "bad id to decode" "not a token id" "$bin" tokenize --model "$model" --ids --text "12 abc"
exit $fail
