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
cargo build --release -p dnagpu-web --target wasm32-unknown-unknown
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/pkg" "$dist.tmp/data"
wasm-bindgen --target web --no-typescript --out-dir "$dist.tmp/pkg" \
  "${CARGO_TARGET_DIR:-target}"/wasm32-unknown-unknown/release/dnagpu_web.wasm
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
