#!/usr/bin/env bash
# Sets up, builds, and runs fastvlm generate.
#   scripts/quickstart.sh [MODEL_DIR] [PROMPT]
# MODEL_DIR: a Hugging Face folder of a Qwen2 / FastVLM checkpoint (e.g. a downloaded
# Qwen2-0.5B-Instruct or apple/FastVLM-0.5B). Without one, the tiny random-weight test model in
# tests/fixtures runs instead: it shows the pipeline working end to end, but its answer is noise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build fastvlm >/dev/null
model="${1:-}"
prompt="${2:-What is the capital of France?}"
if [ -z "$model" ]; then
  model=tests/fixtures/qwen2/models/realvocab-bf16
  echo "quickstart: no model folder given; running the random-weight test model $model" >&2
  echo "quickstart: (its output is meaningless; pass a real checkpoint folder as the first argument)" >&2
fi
exec build/fastvlm generate --model "$model" --prompt "$prompt" --max-tokens 64 --verbose
