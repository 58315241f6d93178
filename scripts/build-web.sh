#!/usr/bin/env bash
# Builds the browser page into web/dist: the web/ crate compiled to wasm32
# (release, SIMD128, and again with relaxed SIMD) and bound by
# wasm-bindgen, the page's files from web/www, the shipped model with its
# demo adapter, and the sample data,
# stamped with a version for the service worker (scripts/stamp-web.sh).
# Needs the wasm32 target and wasm-bindgen-cli (scripts/setup.sh installs
# both). `dnagpu serve` then serves web/dist; any static host can too.
set -euo pipefail
cd "$(dirname "$0")/.."

dist=web/dist
target_dir=${CARGO_TARGET_DIR:-target}
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/data"
# bind OUT TARGET_DIR: wasm-bindgen's bindings of one build into $dist.tmp/OUT.
bind() {
  mkdir -p "$dist.tmp/$1"
  wasm-bindgen --target web --no-typescript --out-dir "$dist.tmp/$1" \
    "$2"/wasm32-unknown-unknown/release/dnagpu_web.wasm
}
# Every build twice: plain SIMD128 (pkg*/) and with dnagpu's
# `relaxed-simd` feature (pkg*-relaxed/: the packed matmul's kernel
# multiplies and adds in one fused f32x4.relaxed_madd; Chromium has it,
# Safari not), picked by worker.js after WebAssembly.validate of a relaxed
# instruction. The feature touches dnagpu alone: the dependencies' builds
# are shared.
for relaxed in "" dnagpu/relaxed-simd; do
  cargo build --release -p dnagpu-web --target wasm32-unknown-unknown --features "$relaxed"
  bind "pkg${relaxed:+-relaxed}" "$target_dir"
done

# The threaded builds (pkg-threads*/, picked by worker.js where the page is
# cross-origin isolated): wasm atomics and shared memory need a std rebuilt
# with them, which only a nightly toolchain does (this pinned one, with
# rust-src; scripts/setup.sh installs it). Their own target folder: other
# flags, other toolchain. Their rustflags replace .cargo/config.toml's
# wasm32 ones, whose two flags come first. DNAGPU_WEB_THREADS=0 skips
# them; under CI a missing toolchain fails the build.
nightly=${DNAGPU_NIGHTLY:-nightly-2026-05-20}
have_nightly() {
  local sysroot
  sysroot=$(rustup run "$nightly" rustc --print sysroot 2>/dev/null) &&
    [ -d "$sysroot/lib/rustlib/src/rust/library" ]
}
# 4 GiB of shared memory at most (wasm32's whole address space).
thread_flags='-C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 -C link-arg=--import-memory -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base'
if [ "${DNAGPU_WEB_THREADS:-1}" = 0 ]; then
  echo "threaded page build skipped (DNAGPU_WEB_THREADS=0): the CPU backend runs on one thread" >&2
elif have_nightly; then
  for relaxed in "" dnagpu/relaxed-simd; do
    RUSTFLAGS="--cfg getrandom_backend=\"wasm_js\" -C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals $thread_flags" \
      cargo "+$nightly" build -Z build-std=panic_abort,std --release -p dnagpu-web \
      --target wasm32-unknown-unknown --target-dir "$target_dir/wasm-threads" --features "$relaxed"
    bind "pkg-threads${relaxed:+-relaxed}" "$target_dir/wasm-threads"
  done
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
