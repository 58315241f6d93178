"""Baseline for `dnagpu bench kernels` on a CUDA GPU: PyTorch matmul (cuBLAS)
on the same shapes and layouts, mean of 10 products after a warm-up,
GFLOP/s. --dtype f32 (default, TF32 off), f16 or bf16 (tensor cores: what
the cooperative-matrix kernels compare with).

    python3 benches/baselines/torch_matmul.py [--dtype f16]
"""
import argparse
import json
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
args = ap.parse_args()
dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
torch.backends.cuda.matmul.allow_tf32 = False
dev = "cuda"
# (name, M, N, K, layout): as src/bench/kernels.rs FULL.
CASES = [
    ("square 2048", 2048, 2048, 2048, "NN"),
    ("Wqkv fwd", 16384, 2304, 768, "NT"),
    ("gated MLP fwd", 16384, 6144, 768, "NT"),
    ("mlp.wo fwd", 16384, 768, 3072, "NT"),
    ("Wqkv dX", 16384, 768, 2304, "NN"),
    ("gated MLP dW", 6144, 768, 16384, "TN"),
    ("Wqkv dW 32x128", 2304, 768, 4096, "TN"),
]
rows = []
for name, m, n, k, layout in CASES:
    a = torch.randn(*((k, m) if layout[0] == "T" else (m, k)), device=dev, dtype=dtype)
    b = torch.randn(*((n, k) if layout[1] == "T" else (k, n)), device=dev, dtype=dtype)
    op_a = a.T if layout[0] == "T" else a
    op_b = b.T if layout[1] == "T" else b
    op_a @ op_b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        op_a @ op_b
    torch.cuda.synchronize()
    secs = (time.perf_counter() - t0) / 10
    rows.append({"case": name, "m": m, "n": n, "k": k, "layout": layout, "gflops": 2 * m * n * k / secs / 1e9})
    print(f"{name:<14} {m} x {n} x {k} {layout}: {rows[-1]['gflops']:.0f} GFLOP/s")
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(), "dtype": args.dtype, "results": rows}))
