#!/usr/bin/env bash
# The study's benchmark, reproduced: fastvlm.cpp (one run per model file), PyTorch (transformers
# on the CPU, the whole pipeline) and llama.cpp (llama-bench, language model only) on the same
# weights, the same synthetic images and the same generation length, one after the other in one
# session, then `fastvlm report` over all of it. Results in our schema (docs/bench-schema.md).
#
# usage: tools/peers/study.sh OUT_DIR
# env:   FASTVLM (build/fastvlm)  PYTHON (/work/refvenv/bin/python: torch + transformers + timm)
#        MODELS  comma list of our model files/folders (default: the full-size random FastVLM-0.5B
#                as bf16 / q8_0 / q4_0 GGUF under /work/models, made by
#                tools/reference/make_full_fastvlm.py + `fastvlm quantize`)
#        HF_MODEL  transformers-native folder of the same weights, for PyTorch
#        LLAMA_BENCH  llama.cpp's llama-bench;  LLAMA_MODELS  comma list of `fastvlm export-llm`
#                files of the same weights (default: bf16 / q8_0 / q4_0 exports under /work/models)
#        THREADS (2)  TOKENS (100)  REPS (3)  WARMUP (1)  SYNTH_SIZE (512)  ROUNDS (1)
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
cd "$(dirname "$0")/../.."
FASTVLM=${FASTVLM:-build/fastvlm}
PYTHON=${PYTHON:-/work/refvenv/bin/python}
M=/work/models
MODELS=${MODELS:-$M/fastvlm-0.5b-random-bf16.gguf,$M/fastvlm-0.5b-random-q8_0.gguf,$M/fastvlm-0.5b-random-q4_0.gguf}
HF_MODEL=${HF_MODEL:-$M/fastvlm-0.5b-random-hf}
LLAMA_BENCH=${LLAMA_BENCH:-/work/peers/llama.cpp/build-cpu/bin/llama-bench}
LLAMA_MODELS=${LLAMA_MODELS:-$M/fastvlm-0.5b-random-llm-bf16.gguf,$M/fastvlm-0.5b-random-llm-q8_0.gguf,$M/fastvlm-0.5b-random-llm-q4_0.gguf}
THREADS=${THREADS:-2} TOKENS=${TOKENS:-100} REPS=${REPS:-3} WARMUP=${WARMUP:-1}
SYNTH_SIZE=${SYNTH_SIZE:-512} ROUNDS=${ROUNDS:-1}
mkdir -p "$out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) logical CPUs"
  echo "settings: threads $THREADS, tokens $TOKENS, repetitions $REPS (+$WARMUP warm-up), synthetic images ${SYNTH_SIZE}px, rounds $ROUNDS"
} | tee "$out/meta.txt"

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: fastvlm.cpp ($MODELS)" | tee -a "$out/meta.txt"
  uptime >> "$out/meta.txt"
  "$FASTVLM" bench --model "$MODELS" --threads "$THREADS" --tokens "$TOKENS" -r "$REPS" \
    --warmup "$WARMUP" --synth-size "$SYNTH_SIZE" --output json --out "$out/fastvlm-r$r.json"
  echo "== round $r: PyTorch ($HF_MODEL)" | tee -a "$out/meta.txt"
  uptime >> "$out/meta.txt"
  "$PYTHON" tools/peers/pytorch_bench.py --fastvlm "$FASTVLM" --model "$HF_MODEL" \
    --threads "$THREADS" --tokens "$TOKENS" --repetitions "$REPS" --warmup "$WARMUP" \
    --synth-size "$SYNTH_SIZE" --out "$out/pytorch-r$r.json"
  # llama.cpp's prompt: the FastVLM prompt length measured by our run (image tokens included).
  prompt=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['runs'][0]['tasks'][0]['prompt_tokens'])" "$out/fastvlm-r$r.json")
  echo "== round $r: llama.cpp ($LLAMA_MODELS, prompt $prompt)" | tee -a "$out/meta.txt"
  uptime >> "$out/meta.txt"
  "$PYTHON" tools/peers/llamacpp_bench.py --llama-bench "$LLAMA_BENCH" --model "$LLAMA_MODELS" \
    --threads "$THREADS" --prompt "$prompt" --tokens "$TOKENS" --repetitions "$REPS" \
    --out "$out/llamacpp-r$r.json"
done
"$FASTVLM" report "$out"/fastvlm-r*.json "$out"/pytorch-r*.json "$out"/llamacpp-r*.json \
  --out "$out/report" --title "FastVLM-0.5B (random weights), $THREADS threads"
echo "report: $out/report/index.html"
