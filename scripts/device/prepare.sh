#!/usr/bin/env bash
# Prepares what scripts/device/bench.sh runs on a lent GPU machine (which
# has no network): the release CLI (dist/dnagpu), the library's test binary
# in release (dist/dnagpu-lib-tests: the coop_* tests), and the Vulkan
# loader's packages (.gl/: libvulkan1, and libglvnd0, without which the
# NVIDIA ICD finds no libGLdispatch). dist/ and .gl/ are untracked, so the
# device tool carries them with the working tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p dnagpu-cli
lib_tests=$(cargo test --release -p dnagpu --lib --no-run --message-format=json 2>/dev/null |
  grep '"name":"dnagpu"' | grep '"test":true' |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
mkdir -p dist .gl
cp target/release/dnagpu dist/dnagpu
cp "$lib_tests" dist/dnagpu-lib-tests
strip dist/dnagpu dist/dnagpu-lib-tests
(cd .gl && apt-get download libvulkan1 libglvnd0 >/dev/null 2>&1)
ls -l dist .gl
