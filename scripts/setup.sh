#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages fastvlm.cpp needs to build and test. Safe to re-run: it only
# calls apt-get when something is missing.
#   scripts/setup.sh          build + test dependencies (native)
#   scripts/setup.sh --arm64  also the aarch64 cross toolchain, :arm64 libraries and qemu-user
set -euo pipefail

want_arm64=0
for arg in "$@"; do
  case "$arg" in
    --arm64) want_arm64=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake ninja-build git pkg-config
      libhwy-dev nlohmann-json3-dev libicu-dev libcli11-dev libgtest-dev
      libjpeg-dev libpng-dev libgif-dev libwebp-dev  # image decoders (src/image)
      libfreetype-dev fonts-dejavu-core  # text in the synthetic images (src/image/synth.cc)
      libcurl4-openssl-dev  # fastvlm pull: Hugging Face Hub downloads (src/hub)
      python3  # python3: the end-to-end tests read their JSON fixtures with it
      python3-jsonschema  # tests/e2e/bench.sh: fastvlm bench output against docs/schema/
      chromium)  # tests/e2e/report.sh: the report rendered by a headless browser
if [ "$want_arm64" = 1 ]; then
  pkgs+=(g++-aarch64-linux-gnu qemu-user libhwy-dev:arm64 libicu-dev:arm64 libgtest-dev:arm64
        libjpeg62-turbo-dev:arm64 libpng-dev:arm64 libgif-dev:arm64 libwebp-dev:arm64
        libfreetype-dev:arm64 libcurl4-openssl-dev:arm64)
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ "$want_arm64" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  need_update=1
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [ "${need_update:-0}" = 1 ]; then
  $SUDO apt-get update -qq
fi
echo "setup.sh: all build dependencies present" >&2
