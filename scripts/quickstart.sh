#!/usr/bin/env bash
# Sets up, builds, and asks a FastVLM model about an image (fastvlm run).
#   scripts/quickstart.sh [MODEL_DIR [IMAGE [PROMPT]]]
# MODEL_DIR: a Hugging Face folder, e.g. a downloaded apple/FastVLM-0.5B (or its transformers
# conversion). A text-only Qwen2 folder runs `fastvlm generate` with PROMPT instead. Without a
# folder, the tiny random-weight FastVLM test model in tests/fixtures runs on a test image: it
# shows the whole pipeline working (image decode, FastViTHD, projector, Qwen2), but its answer is
# noise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build fastvlm >/dev/null
model="${1:-}"
image="${2:-tests/fixtures/fastvlm/images/street-300x200.png}"
prompt="${3:-Describe this image.}"
if [ -z "$model" ]; then
  model=tests/fixtures/fastvlm/models/tiny-f32-apple
  echo "quickstart: no model folder given; running the random-weight test model $model" >&2
  echo "quickstart: (its output is meaningless; pass a real checkpoint folder as the first argument)" >&2
fi
if grep -Eq '"model_type": *"(llava_qwen2|fast_vlm)"' "$model/config.json" 2>/dev/null; then
  exec build/fastvlm run --model "$model" --image "$image" --prompt "$prompt" --max-tokens 64 --verbose
fi
exec build/fastvlm generate --model "$model" --prompt "$prompt" --max-tokens 64 --verbose
