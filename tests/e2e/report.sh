#!/usr/bin/env bash
# `fastvlm report` on the synthetic sample results of tests/fixtures/bench/: the samples validate
# against docs/schema/bench.v1.schema.json; the command writes index.html, report.md and the
# chart-*.svg files; bad input gets a clear error; and headless Chromium renders every chart of
# the page (an inline script in the page counts the <svg class="chart"> elements with a non-empty
# bounding box into <body data-charts-rendered="N">) and takes a non-trivial screenshot.
# Needs python3-jsonschema and chromium (scripts/setup.sh installs both); fails without them.
set -uo pipefail
bin="$1"; src="$2"
fx="$src/tests/fixtures/bench"
schema="$src/docs/schema/bench.v1.schema.json"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$src/tests/e2e/lib/expect.sh"

# 1. The samples validate against the schema, and a broken copy does not (the check can fail).
if python3 - "$schema" "$fx"/sample-fastvlm.json "$fx"/sample-pytorch.json "$fx"/sample-llamacpp.json \
    > "$tmp/validate.log" 2>&1 <<'PY'
import copy, json, sys
try:
    import jsonschema
except ImportError:
    sys.exit("python3 module jsonschema is missing: run scripts/setup.sh (python3-jsonschema)")
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    doc = json.load(open(path))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        sys.exit(f"{path}: {errors[0].message} at {'/'.join(map(str, errors[0].path))}")
    broken = copy.deepcopy(doc)
    broken["runs"][0]["threads"] = 0
    if validator.is_valid(broken):
        sys.exit(f"{path}: the schema accepted threads = 0")
    print(f"{path}: valid")
PY
then ok "samples validate against bench.v1.schema.json"; else fail "schema validation:"; cat "$tmp/validate.log"; fi

# 2. The report from all samples (3 bench files + 2 accuracy files): five charts.
out="$tmp/out"
if "$bin" report "$fx"/sample-fastvlm.json "$fx"/sample-pytorch.json "$fx"/sample-llamacpp.json \
    "$fx"/sample-eval.json "$fx"/sample-eval-tasks.json --out "$out" > "$tmp/report.log" 2>&1; then
  ok "fastvlm report: $(head -n 1 "$tmp/report.log")"
else
  fail "fastvlm report exited with $?:"; cat "$tmp/report.log"
fi
for f in index.html report.md chart-decode-rate.svg chart-latency.svg chart-speedup.svg \
         chart-memory.svg chart-accuracy.svg; do
  if [ -s "$out/$f" ]; then ok "wrote $f ($(wc -c < "$out/$f") bytes)"; else fail "missing $out/$f"; fi
done
for needle in "pytorch f32 t8" "fastvlm.cpp q8_0 t8" "llama.cpp q8_0 t8" "chart-speedup.svg"; do
  grep -qF "$needle" "$out/report.md" 2>/dev/null || fail "report.md lacks '$needle'"
done

# 3. Without accuracy files the accuracy chart is omitted, and the page says why.
if "$bin" report "$fx"/sample-fastvlm.json "$fx"/sample-pytorch.json --out "$tmp/noacc" > /dev/null 2>&1 &&
   grep -q "Chart omitted: no accuracy results were given" "$tmp/noacc/index.html" &&
   [ ! -e "$tmp/noacc/chart-accuracy.svg" ]; then
  ok "accuracy chart omitted without eval files"
else
  fail "report without eval files"
fi

# 4. Bad input: exit status 1 and a message naming the file and the problem.
echo '{"schema": "fastvlm.bench.v7", "runs": []}' > "$tmp/v7.json"
sed 's/"threads": 8/"threads": "eight"/' "$fx/sample-fastvlm.json" > "$tmp/threads.json"
head -c 300 "$fx/sample-pytorch.json" > "$tmp/truncated.json"
expect_error "unknown schema" "v7.json: unknown schema 'fastvlm.bench.v7'" -- "$bin" report "$tmp/v7.json" --out "$tmp/x"
expect_error "wrong type" "threads.json (fastvlm.bench.v1): runs[0].threads: expected an integer" -- "$bin" report "$tmp/threads.json" --out "$tmp/x"
expect_error "truncated JSON" "truncated.json: not valid JSON" -- "$bin" report "$tmp/truncated.json" --out "$tmp/x"
expect_error "missing file" "no-such.json: cannot open" -- "$bin" report "$tmp/no-such.json" --out "$tmp/x"
expect_error "unknown baseline" "--baseline: no run is labelled 'nope'" -- "$bin" report "$fx/sample-fastvlm.json" --baseline nope --out "$tmp/x"

# 5. Headless Chromium renders the page: every chart has a layout box, the screenshot has content.
chrome=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" > /dev/null; then chrome="$c"; break; fi
done
if [ -z "$chrome" ]; then
  fail "chromium is not installed: run scripts/setup.sh (it installs the Debian package chromium)"
else
  # --no-sandbox: tests run as root in containers; a private profile and HOME keep it hermetic.
  run_chrome() {
    HOME="$tmp/home" timeout 60 "$chrome" --headless --no-sandbox --disable-gpu \
      --disable-dev-shm-usage --no-first-run --no-default-browser-check --disable-extensions \
      --user-data-dir="$tmp/profile" --hide-scrollbars --virtual-time-budget=2000 "$@" \
      2>> "$tmp/chromium.log"
  }
  mkdir -p "$tmp/home"
  run_chrome --dump-dom "file://$out/index.html" > "$tmp/dom.html"
  rendered=$(grep -o 'data-charts-rendered="[0-9]*"' "$tmp/dom.html" | grep -o '[0-9]\+')
  if [ "${rendered:-}" = 5 ]; then
    ok "chromium rendered 5 of 5 charts"
  else
    fail "chromium rendered '${rendered:-no attribute}' charts, expected 5"; tail -n 5 "$tmp/chromium.log"
  fi
  run_chrome --window-size=1280,2400 --screenshot="$tmp/report.png" "file://$out/index.html" > /dev/null
  # A page with one word, same window: the report's screenshot must be well above its size.
  echo '<!DOCTYPE html><html><body><p>blank</p></body></html>' > "$tmp/blank.html"
  run_chrome --window-size=1280,2400 --screenshot="$tmp/blank.png" "file://$tmp/blank.html" > /dev/null
  shot=$(wc -c < "$tmp/report.png" 2>/dev/null || echo 0)
  blank=$(wc -c < "$tmp/blank.png" 2>/dev/null || echo 0)
  if [ "$shot" -gt 20000 ] && [ "$shot" -gt $((3 * blank)) ]; then
    ok "screenshot $shot bytes (a blank page: $blank bytes)"
  else
    fail "screenshot $shot bytes, blank page $blank bytes: the page did not render"
  fi
fi

[ "$fails" = 0 ] || { echo "$fails failures"; exit 1; }
echo "PASS"
