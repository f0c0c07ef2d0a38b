#!/usr/bin/env bash
# End to end: `fastvlm synth` writes the same files on every run, with the ground truth beside
# each image, and gives clear errors for bad flags.
set -uo pipefail
bin="$1"; src="$2"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"

# Two runs with the same flags: byte-identical output.
for run in a b; do
  if ! "$bin" synth --task all --count 3 --out "$tmp/$run/new/sub" > "$tmp/$run.out" 2> "$tmp/$run.err"; then
    fail "synth run $run exited $?"; cat "$tmp/$run.err"
  fi
done
n=$(ls "$tmp/a/new/sub" | wc -l)
[ "$n" = 30 ] || fail "expected 30 files (5 tasks x 3 x png+json), got $n: $(ls "$tmp/a/new/sub")"
for task in colour shape count text describe; do
  for i in 0000 0001 0002; do
    for ext in png json; do
      [ -s "$tmp/a/new/sub/$task-$i.$ext" ] || fail "missing $task-$i.$ext"
    done
  done
done
if diff -r "$tmp/a/new/sub" "$tmp/b/new/sub" > /dev/null; then
  echo "ok   two runs wrote identical files ($n files)"
else
  fail "two runs with the same flags differ"
fi
grep -q "wrote 15 images" "$tmp/a.out" || fail "no summary line: $(cat "$tmp/a.out")"
# The truth files are one JSON object each, naming the task, the seed (S + index) and the answer.
python3 - "$tmp/a/new/sub" <<'PY' || fail "truth JSON check"
import json, os, sys
d = sys.argv[1]
for task in ["colour", "shape", "count", "text", "describe"]:
    for i in range(3):
        t = json.load(open(os.path.join(d, f"{task}-{i:04d}.json")))
        assert t["task"] == task and t["seed"] == 1 + i and t["size"] == 256, t
        assert t["question"] and t["answer"], t
        png = open(os.path.join(d, f"{task}-{i:04d}.png"), "rb").read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
print("ok   truth JSON files parse and name task, seed and answer")
PY
# Another seed gives other images; one task alone; "color" and a list are accepted.
"$bin" synth --task shape --count 2 --seed 1000000 --out "$tmp/c" > /dev/null 2>&1 || fail "--seed 1000000"
cmp -s "$tmp/a/new/sub/shape-0000.png" "$tmp/c/shape-0000.png" && fail "--seed 1000000 gave the seed-1 image"
[ "$(ls "$tmp/c" | wc -l)" = 4 ] || fail "--task shape --count 2 wrote $(ls "$tmp/c" | wc -l) files"
"$bin" synth --task color,text --count 1 --size 64 --out "$tmp/d" > /dev/null 2>&1 || fail "--task color,text"
[ -s "$tmp/d/colour-0000.png" ] && [ -s "$tmp/d/text-0000.json" ] || fail "--task color,text files"
"$bin" synth --help > "$tmp/help" 2>&1 || fail "--help exited non-zero"
grep -q "How many objects" "$tmp/help" && grep -q -- "--seed" "$tmp/help" || fail "--help lacks the task list"

touch "$tmp/a-file"
expect_error "unknown task" "valid: colour, shape, count, text, describe, all" -- "$bin" synth --task colours --count 1 --out "$tmp/e"
expect_error "count 0" "--count 0: must be at least 1" -- "$bin" synth --count 0 --out "$tmp/e"
expect_error "negative count" "must be at least 1" -- "$bin" synth --count -2 --out "$tmp/e"
expect_error "size too small" "--size 16" -- "$bin" synth --count 1 --size 16 --out "$tmp/e"
expect_error "out is a file" "a-file" -- "$bin" synth --count 1 --out "$tmp/a-file"
expect_error "out under a file" "a-file/sub" -- "$bin" synth --count 1 --out "$tmp/a-file/sub"
expect_error "missing font" "fonts-dejavu-core" -- "$bin" synth --task text --count 1 --font "$tmp/NoFont.ttf" --out "$tmp/e"
expect_error "no --out" "--out" -- "$bin" synth --count 1
expect_error "bad count range" "count-min" -- "$bin" synth --task count --count 1 --count-min 5 --count-max 2 --out "$tmp/e"
[ ! -e "$tmp/e" ] || [ -z "$(ls "$tmp/e")" ] || fail "a failed run left files in $tmp/e: $(ls "$tmp/e")"
[ "$fails" = 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS"
