#!/usr/bin/env bash
# Run llama.cpp's llama-bench (the peer baseline) on one or more GGUF files with
# the settings we compare fastvlm.cpp against, writing JSON (+ markdown) per run.
#
# usage: tools/peers/llamacpp_bench.sh <llama.cpp-build-dir> <out-dir> <model.gguf>...
#   <llama.cpp-build-dir>: directory holding bin/llama-bench (see build_llamacpp.sh)
# env: THREADS (2)  PROMPT (256)  GEN (128)  REPS (5, llama-bench -r)
#      RUNS (2, separate llama-bench invocations per model; the machine is noisy)
#      EXTRA_ARGS (appended to every llama-bench command line)
# Output: <out-dir>/<model>.run<K>.json / .md / .log, meta.txt, summary.tsv
#         (summary = median/min/max over runs of llama-bench's mean tokens/s, and the
#          median and best of all single repetitions).
set -euo pipefail

build=${1:?usage: $0 <llama.cpp-build-dir> <out-dir> <model.gguf>...}
out=${2:?usage: $0 <llama.cpp-build-dir> <out-dir> <model.gguf>...}
shift 2
[ $# -ge 1 ] || { echo "no GGUF files given" >&2; exit 1; }
bench=$build/bin/llama-bench
[ -x "$bench" ] || { echo "no llama-bench at $bench" >&2; exit 1; }
T=${THREADS:-2} P=${PROMPT:-256} N=${GEN:-128} R=${REPS:-5} RUNS=${RUNS:-2}
mkdir -p "$out"

src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
{
  echo "date: $(date -u +%FT%TZ)"
  echo "llama.cpp commit: $(git -C "${src:-.}" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')  nproc: $(nproc)"
  echo "cpu flags (avx512/amx): $(grep -m1 -o -E '\b(avx512[a-z_0-9]*|amx[a-z_0-9]*)\b' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "settings: -p $P -n $N -t $T -r $R, $RUNS run(s) per model ${EXTRA_ARGS:-}"
} > "$out/meta.txt"

# run-major order (all models, then again) so slow load drift hits every model alike
for k in $(seq 1 "$RUNS"); do
  for m in "$@"; do
    name=$(basename "$m" .gguf)
    echo "load before $name run $k: $(uptime)" | tee -a "$out/meta.txt"
    cmd=("$bench" -m "$m" -p "$P" -n "$N" -t "$T" -r "$R" -o json ${EXTRA_ARGS:-})
    echo "${cmd[*]}" >> "$out/meta.txt"
    "${cmd[@]}" > "$out/$name.run$k.json" 2> "$out/$name.run$k.log"
    jq -r '.[] | "| \(.model_filename|split("/")|last) | \(.model_type) | t=\(.n_threads) | pp\(.n_prompt) tg\(.n_gen) | \(.avg_ts|.*100|round/100) ± \(.stddev_ts|.*100|round/100) t/s |"' \
      "$out/$name.run$k.json" | tee "$out/$name.run$k.md"
  done
done

# per model and test: median / min / max over runs of llama-bench's mean tokens/s, plus the
# median and best of all individual repetitions (more robust than means on a loaded machine)
jq -s -r 'def med: sort | length as $n | if $n % 2 == 1 then .[($n-1)/2] else (.[$n/2-1] + .[$n/2]) / 2 end;
  def r2: .*100|round/100;
  [.[][]] | group_by([.model_filename, .n_gen, .n_prompt])[] | (map(.avg_ts) | sort) as $v |
  [(.[0].model_filename|split("/")|last), (if .[0].n_prompt > 0 then "pp\(.[0].n_prompt)" else "tg\(.[0].n_gen)" end),
   ($v|med|r2), ($v[0]|r2), ($v[-1]|r2), ($v|length), (map(.samples_ts[])|med|r2), (map(.samples_ts[])|max|r2)] | @tsv' \
  "$out"/*.run*.json | { printf 'model\ttest\tmedian_tps\tmin_tps\tmax_tps\truns\tmedian_sample_tps\tbest_sample_tps\n'; cat; } > "$out/summary.tsv"
column -t "$out/summary.tsv"
