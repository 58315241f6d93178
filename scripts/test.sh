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
  # lavapipe has shader-f16: the half-precision activations' tests run on it.
  export DNAGPU_REQUIRE_F16=1
  # A one-off build gains nothing from incremental state but its disk space.
  export CARGO_INCREMENTAL=0
fi

echo "== native tests (lavapipe + CPU backend)"
cargo test --workspace --exclude dnagpu-web

# Data-parallel training (the `mpi` feature, Open MPI from scripts/setup.sh):
# `mpirun -np 2` on the CPU backend and on lavapipe against one process with
# the doubled batch, resume after a killed rank, SIGTERM, a failing rank.
echo "== data-parallel training over MPI (mpirun -np 2)"
cargo test -p dnagpu-cli --features mpi --test distributed

# Debian 12's lavapipe has no cooperative matrices: their kernels' tests
# (the library's coop_* tests; tests/precision.rs and
# tests/mixed_precision.rs and tests/train_classify.rs' half tests: whole
# models with f16 weights, inference and mixed-precision training) run again in the Debian testing root
# scripts/setup.sh makes, whose lavapipe has them, with DNAGPU_COOP=on
# (they are opt-in: src/gpu/coop.rs), where they fail rather than skip.
coop_root="${DNAGPU_COOP_ROOT:-/opt/dnagpu-coop-root}"
echo "== cooperative-matrix kernels (Mesa's current lavapipe in $coop_root)"
if [ "$coop_root" != none ] && [ -x "$coop_root/usr/bin/vulkaninfo" ]; then
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  # The binaries the native run above built (same features: no rebuild).
  artifacts=$(cargo test --workspace --exclude dnagpu-web --no-run --message-format=json |
    grep '"test":true' || true)
  test_bin() { # NAME KIND
    echo "$artifacts" | grep "\"name\":\"$1\"" | grep "\"kind\":\[\"$2\"\]" |
      sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1 || true
  }
  lib_tests=$(test_bin dnagpu rlib)
  precision_tests=$(test_bin precision test)
  mixed_tests=$(test_bin mixed_precision test)
  classify_tests=$(test_bin train_classify test)
  [ -n "$lib_tests" ] && [ -n "$precision_tests" ] && [ -n "$mixed_tests" ] &&
    [ -n "$classify_tests" ] ||
    { echo "test binaries not found"; exit 1; }
  # The fixtures at this checkout's path inside the root, fresh.
  sudo_if_needed rm -rf "$coop_root$PWD/tests/fixtures" "$coop_root/tmp/dnagpu"
  sudo_if_needed mkdir -p "$coop_root$PWD/tests" "$coop_root/tmp/dnagpu"
  sudo_if_needed cp -r tests/fixtures "$coop_root$PWD/tests/"
  sudo_if_needed cp "$lib_tests" "$coop_root/tmp/dnagpu/lib-tests"
  sudo_if_needed cp "$precision_tests" "$coop_root/tmp/dnagpu/precision-tests"
  sudo_if_needed cp "$mixed_tests" "$coop_root/tmp/dnagpu/mixed-precision-tests"
  sudo_if_needed cp "$classify_tests" "$coop_root/tmp/dnagpu/train-classify-tests"
  in_root() {
    sudo_if_needed chroot "$coop_root" env XDG_RUNTIME_DIR=/tmp WGPU_BACKEND=vulkan \
      DNAGPU_COOP=on DNAGPU_REQUIRE_GPU=1 DNAGPU_REQUIRE_COOP=1 sh -c "cd \"\$0\" && \"\$@\"" "$PWD" "$@"
  }
  in_root sh -c 'dpkg-query -W -f "Mesa \${Version}\n" mesa-vulkan-drivers'
  in_root /tmp/dnagpu/lib-tests coop_
  in_root /tmp/dnagpu/precision-tests --nocapture f16_weights
  in_root /tmp/dnagpu/mixed-precision-tests --nocapture
  # Mixed-precision fine-tuning (f16 activations, products on cooperative
  # matrices; the fixtures' heads of 8 and 16 keep attention on the row
  # kernels: tests/mixed_precision.rs covers the cooperative attention
  # backward in a model) against PyTorch's gradients.
  in_root /tmp/dnagpu/train-classify-tests --nocapture half
elif [ "${CI:-}" = true ]; then
  echo "no $coop_root (scripts/setup.sh makes it)"
  exit 1
else
  echo "SKIPPED: no $coop_root (scripts/setup.sh makes it): the cooperative-matrix kernels are checked by naga only"
fi

echo "== browser tests (headless Chromium, WebGPU)"
if [ -x "$CHROMEDRIVER" ] || [ "${CI:-}" = true ]; then
  cargo test -p dnagpu-web --target wasm32-unknown-unknown
  echo "== browser test: the CPU backend's kernels in the relaxed-SIMD build (fused multiply-add)"
  cargo test -p dnagpu-web --target wasm32-unknown-unknown --features dnagpu/relaxed-simd -- wasm_cpu_backend
  echo "== page lint (undefined names in web/www are errors)"
  (cd web && e2e/node_modules/.bin/eslint -c eslint.config.mjs www e2e)
  echo "== page test (dnagpu serve + the built page in headless Chromium, against the native CLI)"
  scripts/build-web.sh
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/page.test.mjs
  echo "== page test: Variants, Attention and per-base embeddings against the native CLI"
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/analysis.test.mjs
  echo "== page test: offline after one visit (service worker), a new build replacing the old cache"
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/offline.test.mjs
  echo "== page test: hub downloads against a stand-in hub on loopback (policy, progress, cancel, cache, size limit)"
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/hub.test.mjs
  echo "== page test: the threaded CPU backend (2 Web Workers) against one thread"
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/threads.test.mjs
  echo "== page test: a 64 MB FASTA read in slices, embedded in bounded memory, downloads written as they come"
  DNAGPU_BIN="$PWD/target/debug/dnagpu" node web/e2e/large.test.mjs
else
  echo "SKIPPED: no chromedriver at $CHROMEDRIVER (scripts/setup.sh installs it)"
fi
