#!/usr/bin/env bash
# Builds the browser page into web/dist: the web/ crate compiled to wasm32
# (release, SIMD128) and bound by wasm-bindgen, the page's files from
# web/www, the shipped model with its demo adapter, and the sample data,
# stamped with a version for the service worker (scripts/stamp-web.sh).
# Needs the wasm32 target and wasm-bindgen-cli (scripts/setup.sh installs
# both). `dnagpu serve` then serves web/dist; any static host can too.
set -euo pipefail
cd "$(dirname "$0")/.."

dist=web/dist
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -p dnagpu-web --target wasm32-unknown-unknown
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/pkg" "$dist.tmp/data"
wasm-bindgen --target web --no-typescript --out-dir "$dist.tmp/pkg" \
  "$target_dir"/wasm32-unknown-unknown/release/dnagpu_web.wasm

# The threaded build (pkg-threads/, picked by worker.js where the page is
# cross-origin isolated): wasm atomics and shared memory need a std rebuilt
# with them, which only a nightly toolchain does (this pinned one, with
# rust-src; scripts/setup.sh installs it). Its own target folder: other
# flags, other toolchain. DNAGPU_WEB_THREADS=0 skips it; under CI a missing
# toolchain fails the build.
nightly=${DNAGPU_NIGHTLY:-nightly-2026-05-20}
have_nightly() {
  local sysroot
  sysroot=$(rustup run "$nightly" rustc --print sysroot 2>/dev/null) &&
    [ -d "$sysroot/lib/rustlib/src/rust/library" ]
}
if [ "${DNAGPU_WEB_THREADS:-1}" = 0 ]; then
  echo "threaded page build skipped (DNAGPU_WEB_THREADS=0): the CPU backend runs on one thread" >&2
elif have_nightly; then
  # Replaces .cargo/config.toml's wasm32 rustflags: its two flags come first.
  # 4 GiB of shared memory at most (wasm32's whole address space).
  RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals -C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 -C link-arg=--import-memory -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base' \
    cargo "+$nightly" build -Z build-std=panic_abort,std --release -p dnagpu-web \
    --target wasm32-unknown-unknown --target-dir "$target_dir/wasm-threads"
  mkdir -p "$dist.tmp/pkg-threads"
  wasm-bindgen --target web --no-typescript --out-dir "$dist.tmp/pkg-threads" \
    "$target_dir"/wasm-threads/wasm32-unknown-unknown/release/dnagpu_web.wasm
elif [ "${CI:-}" = true ]; then
  echo "no $nightly with rust-src for the threaded page build (scripts/setup.sh installs it)" >&2
  exit 1
else
  echo "threaded page build skipped (no $nightly with rust-src; scripts/setup.sh installs it): the CPU backend runs on one thread" >&2
fi
find web/www -maxdepth 1 -type f ! -name README.md -exec cp {} "$dist.tmp/" \;
cp web/www/data/* examples/sample.fa examples/variants.vcf "$dist.tmp/data/"
model=models/dnabert2-small-gue
adapter=models/dnabert2-small-gue-promoter-lora
mkdir -p "$dist.tmp/$model" "$dist.tmp/$adapter"
cp "$model"/{config.json,tokenizer.json,model.safetensors} "$dist.tmp/$model/"
cp "$adapter"/{adapter_config.json,adapter_model.safetensors} "$dist.tmp/$adapter/"
# The service worker's cache is named after this build (offline use).
version=$(scripts/stamp-web.sh "$dist.tmp")
# Replace the old build only once the new one is complete.
rm -rf "$dist"
mv "$dist.tmp" "$dist"
wasm=$(stat -c %s "$dist/pkg/dnagpu_web_bg.wasm")
gz=$(gzip -9 -c "$dist/pkg/dnagpu_web_bg.wasm" | wc -c)
echo "built $dist (version $version): wasm $((wasm / 1024)) KiB ($((gz / 1024)) KiB gzipped); serve it with: cargo run --release -p dnagpu-cli -- serve"
