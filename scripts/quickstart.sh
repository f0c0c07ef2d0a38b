#!/usr/bin/env bash
# Sets up, builds, and asks a FastVLM model about an image (fastvlm run).
#   scripts/quickstart.sh [MODEL [IMAGE [PROMPT]]]
# MODEL: a Hugging Face folder, a GGUF file of `fastvlm quantize`, or a Hub name (ORG/NAME).
# A text-only Qwen2 folder runs `fastvlm generate` with PROMPT instead.
# Without MODEL: apple/FastVLM-0.5B from the Hugging Face cache, or downloaded into it (about
# 1.5 GB); when that is impossible (no network, HF_HUB_OFFLINE=1 with an empty cache), it says so
# and runs the small trained demo model models/fastvlm-demo.gguf on a synthetic image instead
# (a demo that knows five kinds of question about synthetic pictures, not FastVLM-0.5B).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "quickstart: building (a few minutes the first time)" >&2
ninja -C build fastvlm >/dev/null
model="${1:-}"
image="${2:-}"
prompt="${3:-}"

if [ -z "$model" ]; then
  echo "quickstart: no model given; getting apple/FastVLM-0.5B (Hugging Face cache, or a download)" >&2
  if build/fastvlm pull apple/FastVLM-0.5B; then
    model=apple/FastVLM-0.5B
  else
    model=models/fastvlm-demo.gguf
    echo "quickstart: apple/FastVLM-0.5B is not available here (see the message above)." >&2
    echo "quickstart: running the small trained DEMO model $model instead, on a synthetic" >&2
    echo "quickstart: image (it answers colour, shape, count, text and description questions" >&2
    echo "quickstart: about such images; see models/README.md). Pass a model to use another." >&2
    if [ -z "$image" ]; then
      dir=$(mktemp -d)
      build/fastvlm synth --task shape --count 1 --seed 7 --out "$dir" >/dev/null
      image="$dir/shape-0000.png"
      truth=$(sed -n 's/.*"answer":"\([^"]*\)".*/\1/p' "$dir/shape-0000.json")
      [ -n "$prompt" ] || prompt=$(sed -n 's/.*"question":"\([^"]*\)".*/\1/p' "$dir/shape-0000.json")
      echo "quickstart: image $image (drawn by \`fastvlm synth\`; the right answer is \"$truth\")" >&2
    fi
  fi
fi
image="${image:-tests/fixtures/fastvlm/images/street-300x200.png}"
prompt="${prompt:-Describe this image.}"

if [ -d "$model" ] && ! grep -Eq '"model_type": *"(llava_qwen2|fast_vlm)"' "$model/config.json" 2>/dev/null; then
  exec build/fastvlm generate --model "$model" --prompt "$prompt" --max-tokens 64 --verbose
fi
exec build/fastvlm run --model "$model" --image "$image" --prompt "$prompt" --max-tokens 64 --verbose
