#!/usr/bin/env bash
# End to end: `fastvlm eval-tasks` on the tiny random fixture model (accuracy ~0, but the counts,
# the table and the fastvlm.eval_tasks.v1 JSON must be right, and `fastvlm report` must read it);
# bad flags give clear errors.
set -uo pipefail
bin="$1"; src="$2"
model="$src/tests/fixtures/fastvlm/models/tiny-f32-apple"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"

if ! "$bin" eval-tasks --model "$model" --count 2 --max-tokens 6 -t 2 --json "$tmp/all.json" \
    > "$tmp/all.out" 2> "$tmp/all.err"; then
  fail "eval-tasks exited $?"; cat "$tmp/all.err"
fi
for task in colour shape count text describe; do
  grep -q "^$task " "$tmp/all.out" || fail "table lacks a $task row: $(cat "$tmp/all.out")"
done
grep -q "seeds 1000000..1000001" "$tmp/all.out" || fail "table lacks the seed range"
python3 - "$tmp/all.json" "$model" <<'PY' || fail "JSON check"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "fastvlm.eval_tasks.v1", d["schema"]
assert d["model"] == sys.argv[2] and d["weight_type"] == "f32", (d["model"], d["weight_type"])
assert d["count"] == 2 and d["seed"] == 1000000 and d["synth_size"] == 256, d
assert isinstance(d["created"], str) and d["created"].endswith("Z")
tasks = [t["task"] for t in d["tasks"]]
assert tasks == ["colour", "shape", "count", "text", "describe"], tasks
for t in d["tasks"]:
    assert t["n"] == 2, t
    assert 0 <= t["accuracy"] <= 1 and 0 <= t["exact"] <= 1, t
    assert t["metric"] == {"describe": "attribute_f1"}.get(t["task"], "exact"), t
    assert t["correct"] == round(t["exact"] * t["n"]), t
    assert t["mean_generated_tokens"] <= 6, t
text = d["tasks"][3]
assert 0 <= text["char_accuracy"] <= 1, text
desc = d["tasks"][4]
assert desc["accuracy"] == desc["f1"] and 0 <= desc["precision"] <= 1 and 0 <= desc["recall"] <= 1
items = d["items"]
assert len(items) == 10, len(items)
for k, it in enumerate(items):
    assert it["task"] == tasks[k // 2] and it["seed"] == 1000000 + k % 2, it
    assert isinstance(it["answer"], str) and it["truth"], it
    assert isinstance(it["correct"], bool), it
assert "char_accuracy" in items[6] and "f1" in items[8], items
# The truths are the synthetic generator's answers for those seeds.
assert items[2]["truth"] in ["circle", "square", "triangle", "star", "diamond", "hexagon", "cross"]
assert items[4]["truth"].isdigit() and 1 <= int(items[4]["truth"]) <= 6
assert items[6]["truth"].isalpha() and items[6]["truth"].isupper()
print("ok   JSON: schema, counts, metrics, 10 items with truths")
PY
# Same flags, same answers (deterministic images, greedy decoding).
"$bin" eval-tasks --model "$model" --count 2 --max-tokens 6 -t 2 --json "$tmp/again.json" \
    > /dev/null 2>&1 || fail "second run"
python3 - "$tmp/all.json" "$tmp/again.json" <<'PY' || fail "two runs differ"
import json, sys
a, b = (json.load(open(p))["items"] for p in sys.argv[1:3])
assert a == b
print("ok   two runs give the same answers")
PY
# A subset of tasks, another seed; `fastvlm report` accepts the file.
"$bin" eval-tasks --model "$model" --tasks text,color --count 1 --seed 5 --max-tokens 4 \
    --json "$tmp/sub.json" > "$tmp/sub.out" 2>&1 || fail "--tasks text,color"
python3 -c "
import json, sys
d = json.load(open('$tmp/sub.json'))
assert [t['task'] for t in d['tasks']] == ['text', 'colour'], d['tasks']
assert d['seed'] == 5 and d['items'][0]['seed'] == 5
print('ok   --tasks text,color --seed 5')" || fail "subset JSON"
if "$bin" report "$src/tests/fixtures/bench/sample-fastvlm.json" "$tmp/all.json" --out "$tmp/report" > "$tmp/report.out" 2>&1; then
  echo "ok   fastvlm report reads the JSON"
else
  fail "fastvlm report rejected the JSON: $(cat "$tmp/report.out")"
fi
"$bin" eval-tasks --help > "$tmp/help" 2>&1 || fail "--help exited non-zero"
grep -q "attribute F1" "$tmp/help" && grep -q "Levenshtein" "$tmp/help" || fail "--help lacks the scoring rules"

expect_error "unknown task" "--tasks 'colour,smell'" -- "$bin" eval-tasks --model "$model" --tasks colour,smell
expect_error "count 0" "--count 0" -- "$bin" eval-tasks --model "$model" --count 0
expect_error "size too small" "--size 16" -- "$bin" eval-tasks --model "$model" --size 16
expect_error "seed overflow" "overflows" -- "$bin" eval-tasks --model "$model" --seed 18446744073709551615
expect_error "missing model" "no-such-model" -- "$bin" eval-tasks --model "$tmp/no-such-model" --count 1 --json "$tmp/never.json"
[ -e "$tmp/never.json" ] && fail "a failed run left $tmp/never.json behind"
expect_error "json names a folder" "--json" -- "$bin" eval-tasks --model "$model" --json "$tmp"
expect_error "unwritable json" "--json" -- "$bin" eval-tasks --model "$model" --json "$tmp/no/such/dir/x.json"
expect_error "missing font" "no-such-font.ttf" -- "$bin" eval-tasks --model "$model" --font "$tmp/no-such-font.ttf"
expect_error "text-only model" "no vision tower" -- "$bin" eval-tasks --model "$src/tests/fixtures/qwen2/models/realvocab-bf16" --count 1

if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all eval-tasks checks passed"
