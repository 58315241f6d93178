#!/usr/bin/env bash
# Runs every dnagpu test: set-up (scripts/setup.sh), then the native tests
# (GPU kernels on lavapipe against the CPU backend, CLI) and the browser
# tests (headless Chromium, WebGPU on SwiftShader). Under CI (CI=true) a
# missing adapter or browser fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${DNAGPU_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# SwiftShader runs ~0.5 GFLOP/s: the browser suite takes ~80 s here (the default limit is 20 s).
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
if [ "${CI:-}" = true ]; then
  export DNAGPU_REQUIRE_GPU=1
  # A one-off build gains nothing from incremental state but its disk space.
  export CARGO_INCREMENTAL=0
fi

echo "== native tests (lavapipe + CPU backend)"
cargo test --workspace --exclude dnagpu-web

echo "== browser tests (headless Chromium, WebGPU)"
if [ -x "$CHROMEDRIVER" ] || [ "${CI:-}" = true ]; then
  cargo test -p dnagpu-web --target wasm32-unknown-unknown
  echo "== page lint (undefined names in web/www are errors)"
  (cd web && e2e/node_modules/.bin/eslint -c eslint.config.mjs www e2e)
  echo "== page test (dnagpu serve + the built page in headless Chromium, against the native CLI)"
  scripts/build-web.sh
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/page.test.mjs
else
  echo "SKIPPED: no chromedriver at $CHROMEDRIVER (scripts/setup.sh installs it)"
fi
