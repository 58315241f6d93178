"""Baseline for benches/matmul.rs: the same shapes through NumPy's BLAS on
the same machine, GFLOP/s (best of 5 after a warm-up). Run:
    python3 benches/baselines/numpy_matmul.py
"""
import time

import numpy as np

SHAPES = [
    ("square512", 512, 512, 512),
    ("square1024", 1024, 1024, 1024),
    ("square2048", 2048, 2048, 2048),
    ("wqkv_4096x768x2304", 4096, 2304, 768),
    ("gated_4096x768x6144", 4096, 6144, 768),
    ("wo_4096x3072x768", 4096, 768, 3072),
]

rng = np.random.default_rng(0)
for name, m, n, k in SHAPES:
    a = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    a @ w.T
    best = min((lambda t0: (a @ w.T, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
    print(f"{name:24s} {2 * m * n * k / best / 1e9:7.1f} GFLOP/s")
