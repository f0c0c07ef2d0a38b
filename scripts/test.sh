#!/usr/bin/env bash
# Sets up, builds and runs every test suite of fastvlm.cpp:
#   1. unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   2. unit tests of an aarch64 cross build under qemu-user: the NEON path (build-arm64/)
#   3. all tests (unit, golden, end-to-end) of the Release build (build/), last, so the final
#      line is ctest's summary.
# Options: --quick  only step 3.  Environment: JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs="${JOBS:-$(nproc)}"

if [ "$quick" = 1 ]; then scripts/setup.sh; else scripts/setup.sh --arm64; fi

configure() {  # dir, extra cmake args...
  local dir="$1"; shift
  mkdir -p "$dir"
  if ! cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" > "$dir/configure.log" 2>&1; then
    tail -n 40 "$dir/configure.log"; echo "test.sh: configuring $dir failed" >&2; exit 1
  fi
}
build() {  # dir [targets...]: quiet on success, the errors and the log's tail on failure
  if ! ninja -j "$jobs" -C "$@" > "$1/build.log" 2>&1; then
    grep -E "error|FAILED" "$1/build.log" | head -n 20; tail -n 20 "$1/build.log"
    echo "test.sh: building $1 failed (log: $1/build.log)" >&2; exit 1
  fi
}

if [ "$quick" = 0 ]; then
  echo "== unit tests, ASan + UBSan =="
  configure build-asan -DFASTVLM_SANITIZE=address,undefined
  build build-asan unit_tests
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest -L unit --output-on-failure -j "$jobs" | tail -n 3)

  echo "== unit tests, aarch64 (NEON) under qemu-user =="
  configure build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
  build build-arm64 unit_tests
  (cd build-arm64 && ctest -L unit --output-on-failure -j "$jobs" | tail -n 3)
fi

echo "== all tests, Release =="
configure build
build build
cd build && ctest --output-on-failure -j "$jobs"
