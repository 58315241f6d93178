"""Baseline for `dnagpu bench embed --backend cpu`: the independent PyTorch
reference encoder (scripts/reference/dnabert2_reference.py) in float32 on the
same CPU and thread count, random DNABERT-2-117M weights, B x T random tokens.
Like the reference model it materialises the [heads, T, T] ALiBi bias.

    python3 benches/baselines/torch_encoder.py --batch 32 --seq 512 --threads 2
    python3 benches/baselines/torch_encoder.py --batch 32 --seq 512 --device cuda --iters 3
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference"))
from dnabert2_reference import encoder, random_params  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu", help="cpu or cuda (TF32 off: PyTorch f32 eager)")
ap.add_argument("--iters", type=int, default=1)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def sync():
    if args.device != "cpu":
        torch.cuda.synchronize()


cfg = dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, layer_norm_eps=1e-12, num_labels=2)
params = {k: v.to(args.device) for k, v in random_params(cfg, torch.Generator().manual_seed(0)).items()}
torch.set_default_device(args.device)
ids = torch.randint(5, 4096, (args.batch, args.seq))
mask = torch.ones(args.batch, args.seq)
with torch.no_grad():
    encoder(params, cfg, ids[:1, :8], mask[:1, :8], dtype=torch.float32)
    best = float("inf")
    for _ in range(args.iters):
        sync()
        t0 = time.perf_counter()
        encoder(params, cfg, ids, mask, dtype=torch.float32)[-1].mean(1)
        sync()
        best = min(best, time.perf_counter() - t0)
tokens = args.batch * args.seq
print(json.dumps({"torch": torch.__version__, "device": args.device, "threads": args.threads, "batch": args.batch, "tokens": args.seq,
                  "seconds": best, "tokens_per_s": tokens / best}))
