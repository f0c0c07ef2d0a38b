#!/usr/bin/env bash
# Configure and build the llama.cpp peer baseline (CPU only, Release) OUTSIDE
# this repository. llama.cpp code is never copied into or committed to fastvlm.cpp.
#
# usage: tools/peers/build_llamacpp.sh <llama.cpp-checkout> [build-dir] [targets...]
#   build-dir defaults to <checkout>/build-cpu
#   targets default to: llama-bench llama-simple llama-completion llama-quantize llama-perplexity
# env: JOBS (default 2), EXTRA_CMAKE_ARGS (appended to the configure line, split on spaces),
#      NO_AMX=1: compile without Intel AMX (-mno-amx-*). On the Xeon (Emerald Rapids) KVM guest of
#      session 10, a GGML_NATIVE build at 3f545be died with SIGILL on its first AMX instruction
#      (tilezero in ggml_backend_amx_mul_mat), although XCR0 enables the tile state and
#      arch_prctl(ARCH_REQ_XCOMP_PERM) succeeds in a test program; without AMX it runs its
#      AVX-512 VNNI kernels.
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
flags=()
if [ "${NO_AMX:-0}" = 1 ]; then
  flags=("-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
         "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release "${flags[@]}" \
  -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CPU=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
  -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF ${EXTRA_CMAKE_ARGS:-}

cmake --build "$build" --config Release -j "$jobs" --target "${targets[@]}"

echo "llama.cpp commit: $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"
echo "binaries in: $build/bin"
ls -l "$build/bin"
