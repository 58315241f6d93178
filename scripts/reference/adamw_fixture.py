"""The AdamW fixture for src/ops/adamw/tests.rs: torch.optim.AdamW
(single-tensor path, foreach=False, on the CPU in f32) run for 3 steps on a
few random tensors, so that `dnagpu::ops::adamw` (CPU and GPU) can be
checked against PyTorch itself.

    pip install torch
    python3 scripts/reference/adamw_fixture.py --out tests/fixtures/adamw

Writes --out/adamw.json (a few KB):
  {"torch": version, "cases": [{"name", "lr", "beta1", "beta2", "eps",
    "weight_decay", "grad_scale", "tensors": [{"shape", "param0",
    "grads": [step 1, step 2, step 3], "param", "m", "v"}]}]}
`grads` are the raw gradients; PyTorch steps on grads * grad_scale (what
global-norm clipping or loss unscaling would leave in .grad), which the
Rust op receives as `AdamWStep::grad_scale`. `m` and `v` are the
optimizer's exp_avg and exp_avg_sq after the last step. Every f32 is
written as the shortest decimal that rounds back to it (numpy's f32 repr),
so the values are exact.
"""
import argparse
import json
import os
import re

import numpy as np
import torch

CASES = [
    # name, lr, betas, eps, weight_decay, grad_scale
    ("wd0.01", 1e-2, (0.9, 0.999), 1e-8, 0.01, 1.0),
    ("wd0_scale0.5", 5e-2, (0.8, 0.99), 1e-6, 0.0, 0.5),
    ("wd0.1_scale0.5", 3e-3, (0.9, 0.95), 1e-8, 0.1, 0.5),
]
SHAPES = [(7,), (3, 5)]
STEPS = 3


LISTS = []


def values(t):
    """A placeholder for the f32 list, replaced by its shortest decimals."""
    v = t.detach().reshape(-1).numpy().astype(np.float32)
    LISTS.append("[" + ",".join(str(x) for x in v) + "]")
    return f"@{len(LISTS) - 1}@"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/adamw")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20240607)
    cases = []
    for name, lr, betas, eps, wd, scale in CASES:
        params = [
            torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float32))
            for s in SHAPES
        ]
        param0 = [values(p) for p in params]
        grads = [
            [torch.randn(s, generator=gen, dtype=torch.float32) for s in SHAPES]
            for _ in range(STEPS)
        ]
        opt = torch.optim.AdamW(
            params, lr=lr, betas=betas, eps=eps, weight_decay=wd, foreach=False
        )
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g * scale
            opt.step()
        tensors = []
        for i, p in enumerate(params):
            st = opt.state[p]
            tensors.append(
                {
                    "shape": list(SHAPES[i]),
                    "param0": param0[i],
                    "grads": [values(step[i]) for step in grads],
                    "param": values(p),
                    "m": values(st["exp_avg"]),
                    "v": values(st["exp_avg_sq"]),
                }
            )
        cases.append(
            {
                "name": name,
                "lr": lr,
                "beta1": betas[0],
                "beta2": betas[1],
                "eps": eps,
                "weight_decay": wd,
                "grad_scale": scale,
                "tensors": tensors,
            }
        )
    path = os.path.join(out, "adamw.json")
    text = json.dumps({"torch": torch.__version__, "steps": STEPS, "cases": cases})
    text = re.sub(r'"@(\d+)@"', lambda m: LISTS[int(m.group(1))], text)
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
