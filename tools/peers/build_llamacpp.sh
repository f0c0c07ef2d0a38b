#!/usr/bin/env bash
# Configure and build the llama.cpp peer baseline (CPU only, Release) OUTSIDE
# this repository. llama.cpp code is never copied into or committed to fastvlm.cpp.
#
# usage: tools/peers/build_llamacpp.sh <llama.cpp-checkout> [build-dir] [targets...]
#   build-dir defaults to <checkout>/build-cpu
#   targets default to: llama-bench llama-simple llama-completion llama-quantize llama-perplexity
# env: JOBS (default 2), EXTRA_CMAKE_ARGS (appended to the configure line)
set -euo pipefail

src=${1:?usage: $0 <llama.cpp-checkout> [build-dir] [targets...]}
src=$(cd "$src" && pwd)
build=${2:-$src/build-cpu}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(llama-bench llama-simple llama-completion llama-quantize llama-perplexity)
jobs=${JOBS:-2}

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
case "$build/" in "$repo_root"/*) echo "refusing to build inside the repository: $build" >&2; exit 1;; esac
[ -f "$src/CMakeLists.txt" ] && [ -d "$src/ggml" ] || { echo "not a llama.cpp checkout: $src" >&2; exit 1; }

# Server/UI/tests off (the server pulls a web UI, possibly from the network);
# llama-cli depends on the server, so use llama-simple / llama-completion instead.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CPU=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
  -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF ${EXTRA_CMAKE_ARGS:-}

cmake --build "$build" --config Release -j "$jobs" --target "${targets[@]}"

echo "llama.cpp commit: $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
echo "binaries in: $build/bin"
ls -l "$build/bin"
