#!/usr/bin/env bash
# End to end: `fastvlm bench` runs every combination of its comma-list flags on the tiny fixture
# models, writes JSON that validates against docs/schema/bench.v1.schema.json (fastvlm.bench.v1),
# CSV and Markdown with one row per run and task, and gives clear errors for bad flags.
set -uo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures"
vlm="$fx/fastvlm/models/tiny-f32-apple"
vlm_bf16="$fx/fastvlm/models/tiny-bf16-hf"
llm="$fx/qwen2/models/realvocab-bf16"
schema="$src/docs/schema/bench.v1.schema.json"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"

validate() {  # validate FILE: against the JSON Schema, plus checks the schema cannot express
  python3 - "$1" "$schema" "$2" <<'PY'
import json, sys
import jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
want_runs = int(sys.argv[3])
assert len(doc["runs"]) == want_runs, f"{len(doc['runs'])} runs, expected {want_runs}"
labels = [r["label"] for r in doc["runs"]]
assert len(set(labels)) == len(labels), f"labels not unique: {labels}"
for r in doc["runs"]:
    for t in r["tasks"]:
        assert len(t["samples"]) == r["repetitions"], (t["task"], len(t["samples"]))
        for s in t["samples"]:
            assert s["generated_tokens"] == r["tokens"], s
        p = t["phases"]
        for k, st in p.items():
            assert st["min"] <= st["median"] <= st["max"] and st["min"] <= st["p95"] <= st["max"], (k, st)
            assert st["n"] >= 1
        # total covers every phase of the generation
        assert p["total_s"]["min"] > 0
print("valid", sys.argv[1].rsplit("/", 1)[-1], len(doc["runs"]), "runs")
PY
}

# Vision models: 2 models x 2 thread counts = 4 runs, the five synthetic tasks each.
if "$bin" bench --model "$vlm,$vlm_bf16" --threads 1,2 --tokens 6 -r 2 --warmup 1 \
     --synth-size 96 --output json --out "$tmp/b.json" > "$tmp/table.txt" 2> "$tmp/err"; then
  validate "$tmp/b.json" 4 || fail "bench JSON does not validate"
  python3 - "$tmp/b.json" <<'PY' || fail "vision runs lack the five tasks or their phases"
import json, sys
doc = json.load(open(sys.argv[1]))
for r in doc["runs"]:
    assert [t["task"] for t in r["tasks"]] == ["colour", "shape", "text", "count", "describe"], r["label"]
    for t in r["tasks"]:
        for k in ("image_decode_s", "preprocess_s", "vision_encode_s", "projector_s", "prefill_s",
                  "prefill_tokens_per_s", "ttft_s", "decode_tokens_per_s", "total_s"):
            assert k in t["phases"], (r["label"], t["task"], k)
        assert t["prompt_tokens"] > 16, t["prompt_tokens"]  # image tokens are spliced in
    assert r["load"]["warm_s"]["n"] == 3 and r["peak_rss_bytes"] > 0
print("ok   four runs x five tasks with every phase")
PY
  # The table still goes to stdout: a header, a rule and 20 rows.
  [ "$(wc -l < "$tmp/table.txt")" = 22 ] || fail "table has $(wc -l < "$tmp/table.txt") lines, expected 22"
else
  fail "bench on the vision models exited $?"; cat "$tmp/err"
fi

# A text-only model runs the 'llm' task; CSV and Markdown outputs.
if "$bin" bench --model "$llm" --threads 1 --tokens 5,7 -r 2 --prompt-tokens 40 --no-cold \
     --output json > "$tmp/llm.json" 2> "$tmp/err"; then
  validate "$tmp/llm.json" 2 || fail "llm bench JSON does not validate"
  python3 - "$tmp/llm.json" <<'PY' || fail "llm runs wrong"
import json, sys
doc = json.load(open(sys.argv[1]))
for r in doc["runs"]:
    assert [t["task"] for t in r["tasks"]] == ["llm"]
    t = r["tasks"][0]
    assert t["prompt_tokens"] == 40 and "vision_encode_s" not in t["phases"]
    assert "cold_s" not in r["load"]
print("ok   text-only model: task llm, 40-token prompt, no vision phases")
PY
else
  fail "bench on the text-only model exited $?"; cat "$tmp/err"
fi
"$bin" bench --model "$llm" -t 1 -n 3 -r 1 --prompt-tokens 8 --no-cold --output csv > "$tmp/b.csv" 2>/dev/null
head -1 "$tmp/b.csv" | grep -q '^label,model,weight_type,threads,tokens,image_size,task,phase,n,mean' \
  || fail "CSV header: $(head -1 "$tmp/b.csv")"
grep -q ',"llm",decode_tokens_per_s,1,' "$tmp/b.csv" || fail "CSV lacks the llm decode row"
"$bin" bench --model "$llm" -t 1 -n 3 -r 1 --prompt-tokens 8 --no-cold --output md > "$tmp/b.md" 2>/dev/null
grep -q '^| run | task |' "$tmp/b.md" && grep -q '| llm |' "$tmp/b.md" || fail "Markdown table: $(cat "$tmp/b.md")"

# Own images and prompts: tasks named by the prompts file, images cycled over the samples.
mkdir -p "$tmp/imgs"
cp "$fx/fastvlm/images/street-300x200.png" "$tmp/imgs/"
cp "$fx/fastvlm/images/"*120x250* "$tmp/imgs/" 2>/dev/null
printf 'caption\tDescribe this image.\nWhat is on the left?\n' > "$tmp/prompts.txt"
if "$bin" bench --model "$vlm" -t 1 -n 4 -r 3 --warmup 0 --no-cold --images "$tmp/imgs" \
     --prompts "$tmp/prompts.txt" --output json > "$tmp/own.json" 2> "$tmp/err"; then
  validate "$tmp/own.json" 1 || fail "own-images JSON does not validate"
  python3 - "$tmp/own.json" <<'PY' || fail "own images/prompts not used as given"
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
assert [t["task"] for t in r["tasks"]] == ["caption", "prompt2"], [t["task"] for t in r["tasks"]]
assert r["tasks"][1]["prompt"] == "What is on the left?"
imgs = [s["image"].rsplit("/", 1)[-1] for s in r["tasks"][0]["samples"]]
assert imgs[0] == imgs[2] != imgs[1], imgs  # two images, cycled
print("ok   --images/--prompts: tasks", [t["task"] for t in r["tasks"]], "images", imgs)
PY
else
  fail "bench with --images/--prompts exited $?"; cat "$tmp/err"
fi

# Bad flags: one clear line, non-zero exit.
expect_error "missing model" "no such file or folder" -- "$bin" bench --model "$tmp/nope"
expect_error "bad threads" "--threads: 'x'" -- "$bin" bench --model "$llm" --threads 1,x
expect_error "bad task" "unknown task 'colours'" -- "$bin" bench --model "$vlm" --tasks colours
expect_error "image size" "multiple of 64" -- "$bin" bench --model "$vlm" --image-size 100
expect_error "images without prompts" "go together" -- "$bin" bench --model "$vlm" --images "$tmp"
expect_error "bad output" "output" -- "$bin" bench --model "$vlm" --output xml

[ "$fails" = 0 ] && echo "bench: all checks passed" || { echo "bench: $fails failed"; exit 1; }
