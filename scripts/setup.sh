#!/usr/bin/env bash
# Installs what dnagpu's tests need on a fresh Debian/Ubuntu machine with a
# Rust toolchain (rustup): Mesa's lavapipe (Vulkan on the CPU), Chromium and
# ChromeDriver (browser tests on WebGPU/SwiftShader), a Debian testing root
# with Mesa's current lavapipe (cooperative matrices), the wasm32 target,
# wasm-bindgen-cli at the version Cargo.lock pins, playwright-core for
# the page test (npm; Node.js must be present), and Snakemake (PyPI, in
# .venv) for the workflows. Safe to run again: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
for pkg in mesa-vulkan-drivers libvulkan1 chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# Snakemake's virtual environment (below) needs Python 3.11+ with venv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
have=$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "setup: installing wasm-bindgen-cli $want (found: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want" --quiet
fi
# The page test drives Chromium with Playwright (playwright-core only: it
# uses the system Chromium and downloads no browser); eslint checks the
# page's modules for undefined names.
if [ ! -d web/e2e/node_modules/playwright-core ] || [ ! -d web/e2e/node_modules/eslint ]; then
  echo "setup: installing playwright-core and eslint (web/e2e)"
  (cd web/e2e && npm ci --no-audit --no-fund --silent)
fi
# The Snakemake workflows (workflows/) and their test (native/tests/workflows.rs):
# Snakemake and its SLURM executor plugin from PyPI, in a virtual environment
# in .venv (ignored by git; the test finds .venv/bin/snakemake).
snakemake_pkgs=("snakemake~=9.27" "snakemake-executor-plugin-slurm~=2.8")
if ! .venv/bin/python -c 'import snakemake, snakemake_executor_plugin_slurm' >/dev/null 2>&1; then
  echo "setup: installing Snakemake and its SLURM executor plugin in .venv (PyPI)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "${snakemake_pkgs[@]}"
fi
# Cooperative-matrix kernels: Debian 12's lavapipe (Mesa 22) has none;
# Mesa 26's has 8x8x8 f16->f32. scripts/test.sh runs those kernels' tests in
# a Debian testing root with it (debootstrap: ~130 MB down, ~1 minute, root
# or sudo). DNAGPU_COOP_ROOT moves it; DNAGPU_COOP_ROOT=none skips it.
coop_root="${DNAGPU_COOP_ROOT:-/opt/dnagpu-coop-root}"
if [ "$coop_root" != none ] && [ ! -x "$coop_root/usr/bin/vulkaninfo" ]; then
  echo "setup: installing Mesa's current lavapipe in $coop_root (debootstrap of Debian testing)"
  for pkg in debootstrap debian-archive-keyring; do
    dpkg -s "$pkg" >/dev/null 2>&1 || {
      sudo_if_needed apt-get update -qq
      sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    }
  done
  existed=0
  [ -e "$coop_root" ] && existed=1
  log=$(mktemp)
  if ! sudo_if_needed debootstrap --variant=minbase \
      --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      --include=mesa-vulkan-drivers,libvulkan1,vulkan-tools \
      testing "$coop_root" http://deb.debian.org/debian >"$log" 2>&1; then
    tail -20 "$log"
    echo "setup: debootstrap of $coop_root failed (log above)"
    # Only what this script made goes.
    [ "$existed" = 0 ] && sudo_if_needed rm -rf "$coop_root"
    [ "${CI:-}" = true ] && exit 1
  fi
  rm -f "$log"
fi
echo "setup: done"
