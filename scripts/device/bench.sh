#!/usr/bin/env bash
# Benchmarks on a lent GPU machine (see docs/benchmarks.md): carried release
# binary in dist/, the Vulkan loader's .deb in .gl/. Results under $OUT.
# Usage there: scripts/device/bench.sh [GROUP...]  (default: all groups)
# Groups: coop kernels embed f16 train lora full nt dnabert6 cublas torch peft
# (scripts/device/prepare.sh builds dist/ and .gl/ here first.)
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
[ -f "$VK_DRIVER_FILES" ] || unset VK_DRIVER_FILES
B=./dist/dnagpu
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv | tee "$OUT/gpu.txt"
$B info 2>&1 | tee "$OUT/info.txt"
step() { echo "== $*"; timeout "${STEP_TIMEOUT:-150}" "$@" 2>&1; echo "(rc $?)"; }
groups=${*:-coop kernels embed f16 train lora full nt dnabert6 cublas torch peft}
want() { [[ " $groups " == *" $1 "* ]]; }
if want coop; then
  # Cooperative matrices (issue 16; opt-in with DNAGPU_COOP=on until they
  # pass on hardware: src/gpu/coop.rs): their numerical tests on this GPU
  # (the library's coop_* tests, failing rather than skipping), the
  # matmuls with f16 weights on them, the encoder with --precision f16
  # with them and without (DNAGPU_COOP=off), and PyTorch in half precision.
  DNAGPU_COOP=on DNAGPU_REQUIRE_GPU=1 DNAGPU_REQUIRE_COOP=1 step ./dist/dnagpu-lib-tests coop_
  DNAGPU_COOP=on step $B --backend gpu bench kernels --json "$OUT/kernels_coop.json"
  for coop in on off; do
    DNAGPU_COOP=$coop step $B --backend gpu bench embed --batch 32 --seq 512 --iters 3 --precision f16 --profile --json "$OUT/embed_f16_coop_$coop.json"
    DNAGPU_COOP=$coop step $B --backend gpu bench embed --batch 1 --seq 128 --iters 10 --precision f16 --json "$OUT/embed_b1_f16_coop_$coop.json"
  done
  # Mixed-precision training (f32 masters, f16 products, loss scaling).
  for coop in on off; do
    DNAGPU_COOP=$coop step $B --backend gpu bench train --batch 32 --seq 128 --iters 5 --precision f16 --profile --json "$OUT/train_f16_coop_$coop.json"
  done
  step python3 benches/baselines/torch_train.py --batch 32 --seq 128 --device cuda --iters 5 --amp f16
  for dt in f16 bf16; do
    step python3 benches/baselines/torch_matmul.py --dtype $dt
    step python3 benches/baselines/torch_encoder_half.py --batch 32 --seq 512 --dtype $dt --iters 3
    step python3 benches/baselines/torch_encoder_half.py --batch 1 --seq 128 --dtype $dt --iters 10
  done
fi
if want kernels; then
  # The default shader checks (bounds), then the others' matmuls for comparison.
  step $B --backend gpu bench kernels --json "$OUT/kernels.json"
  for c in ${CHECKS:-}; do
    DNAGPU_SHADER_CHECKS=$c step $B --backend gpu bench kernels --no-attention --json "$OUT/kernels_$c.json"
  done
fi
if want embed; then
  step $B --backend gpu bench embed --batch 32 --seq 512 --long 16384 --iters 3 --profile --json "$OUT/embed.json"
fi
if want f16; then
  # f16 weight matrices with f16 activations (the default where the GPU
  # has shader-f16) and without them: the large batch and the memory-bound
  # one (batch 1).
  for acts in on off; do
    DNAGPU_F16_ACTIVATIONS=$acts step $B --backend gpu bench embed --batch 32 --seq 512 --iters 3 --precision f16 --profile --json "$OUT/embed_f16_acts_$acts.json"
    DNAGPU_F16_ACTIVATIONS=$acts step $B --backend gpu bench embed --batch 1 --seq 128 --iters 10 --precision f16 --json "$OUT/embed_b1_f16_acts_$acts.json"
  done
  step $B --backend gpu bench embed --batch 1 --seq 128 --iters 10 --precision f32 --profile --json "$OUT/embed_b1_f32.json"
fi
if want train; then
  step $B --backend gpu bench train --batch 32 --seq 128 --iters 5 --profile --json "$OUT/train.json"
fi
for m in lora full; do
  want $m && step $B --backend gpu bench finetune --mode $m --batch 32 --seq 128 --iters 5 --json "$OUT/finetune_$m.json"
done
if want nt; then
  # NT v2 500M with LoRA, beside f32 and f16 weights.
  for p in f32 f16; do
    step $B --backend gpu bench finetune --family esm --config benches/configs/nt_v2_500m.json --precision $p --batch 16 --seq 128 --iters 3 --json "$OUT/finetune_nt_v2_lora_$p.json"
  done
fi
if want dnabert6; then
  step $B --backend gpu bench finetune --family bert --config benches/configs/dnabert6.json --mode full --batch 32 --seq 128 --iters 3 --json "$OUT/finetune_dnabert6_full.json"
fi
want cublas && step python3 benches/baselines/torch_matmul.py
if want torch; then
  step python3 benches/baselines/torch_encoder.py --batch 32 --seq 512 --device cuda --iters 3
  step python3 benches/baselines/torch_encoder.py --batch 1 --seq 128 --device cuda --iters 5
  step python3 benches/baselines/torch_train.py --batch 32 --seq 128 --device cuda --iters 5
fi
if want peft; then
  step python3 benches/baselines/peft_finetune.py --family esm --config benches/configs/nt_v2_500m.json --batch 16 --seq 128 --iters 3 --device cuda
fi
