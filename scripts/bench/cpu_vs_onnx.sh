#!/usr/bin/env bash
# dnagpu's CPU backend beside ONNX Runtime's CPU execution provider on the
# same machine, threads and shapes (DNABERT-2-117M config, random weights,
# mean pooling, f32), alternating them so that all see the same load:
# dnagpu as it runs (linear layers on weights packed at load where the CPU
# has the kernel), dnagpu with DNAGPU_CPU_PACKED=off (every product on
# gemm), ONNX Runtime.
#
#   scripts/bench/cpu_vs_onnx.sh [PYTHON] [THREADS]
#
# PYTHON needs torch, onnx, onnxruntime and tokenizers (pip install torch onnx
# onnxruntime tokenizers); the ONNX export is written once to $ONNX (default
# target/bench/dnabert2-117m.onnx, ~670 MB). Prints one JSON line per run
# and a table of the best of ROUNDS (default 3) per shape.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-python3}
threads=${2:-2}
rounds=${ROUNDS:-3}
onnx=${ONNX:-target/bench/dnabert2-117m.onnx}
shapes=${SHAPES:-"32x64 1x70 32x512 8x512"}
cargo build --release -p dnagpu-cli >&2
bin=target/release/dnagpu
if [ ! -f "$onnx" ]; then
  mkdir -p "$(dirname "$onnx")"
  "$python" benches/baselines/onnx_encoder.py --export "$onnx" >&2
fi
export RAYON_NUM_THREADS=$threads
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for _ in $(seq "$rounds"); do
  for shape in $shapes; do
    b=${shape%x*} t=${shape#*x}
    # dnagpu as it runs, and with every product on gemm (no packed weights).
    for run in dnagpu:on dnagpu-gemm:off; do
      runner=${run%:*} packed=${run#*:}
      json=$(mktemp)
      DNAGPU_CPU_PACKED=$packed "$bin" --backend cpu bench embed --batch "$b" --seq "$t" --iters 2 --json "$json" >/dev/null 2>&1
      s=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["seconds"])' "$json")
      rm -f "$json"
      echo "{\"runner\": \"$runner\", \"shape\": \"$shape\", \"seconds\": $s}" | tee -a "$results"
    done
    o=$("$python" benches/baselines/onnx_encoder.py --model "$onnx" --batch "$b" --seq "$t" --threads "$threads" --iters 2)
    echo "$o" | "$python" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"runner": "onnxruntime", "shape": sys.argv[1], "seconds": d["seconds"]}))' "$shape" | tee -a "$results"
  done
done
"$python" - "$results" <<'EOF'
import json, sys
best = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    k = (d["shape"], d["runner"])
    best[k] = min(best.get(k, float("inf")), d["seconds"])
print("| batch x tokens | dnagpu CPU (s) | dnagpu, gemm only (s) | ONNX Runtime (s) | dnagpu / ORT speed | gemm only / ORT |")
print("|---|---:|---:|---:|---:|---:|")
for shape in dict.fromkeys(s for s, _ in best):
    d, g, o = best[(shape, "dnagpu")], best[(shape, "dnagpu-gemm")], best[(shape, "onnxruntime")]
    print(f"| {shape.replace('x', ' x ')} | {d:.3f} | {g:.3f} | {o:.3f} | {o / d:.2f} | {o / g:.2f} |")
EOF
