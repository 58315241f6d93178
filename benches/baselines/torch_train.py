"""Baseline for `dnagpu bench train --backend cpu`: one MLM training step
(forward, autograd backward, torch.optim.AdamW) of the independent PyTorch
reference (scripts/reference/dnabert2_reference.py) in float32 on the same
CPU and thread count, random DNABERT-2-117M weights, B x T random tokens with
15% labelled. The reference has no dropout (dnagpu's step applies it).

    python3 benches/baselines/torch_train.py --batch 32 --seq 128 --threads 2
    python3 benches/baselines/torch_train.py --device cuda --amp f16   # AMP: autocast + GradScaler
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference"))
from dnabert2_reference import encoder, mlm_logits, random_params  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu", help="cpu or cuda (TF32 off: PyTorch f32 eager)")
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--amp", choices=["off", "f16", "bf16"], default="off",
                help="automatic mixed precision: autocast in f16 (with GradScaler) or bf16")
args = ap.parse_args()
amp_dtype = {"off": None, "f16": torch.float16, "bf16": torch.bfloat16}[args.amp]
torch.set_num_threads(args.threads)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def sync():
    if args.device != "cpu":
        torch.cuda.synchronize()


cfg = dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, layer_norm_eps=1e-12, num_labels=2)
params = {k: v.to(args.device).requires_grad_(True)
          for k, v in random_params(cfg, torch.Generator().manual_seed(0)).items()
          if not k.startswith(("bert.pooler", "classifier"))}
torch.set_default_device(args.device)
opt = torch.optim.AdamW(list(params.values()), lr=1e-4)
scaler = torch.amp.GradScaler(args.device, enabled=args.amp == "f16")


def step():
    ids = torch.randint(5, 4096, (args.batch, args.seq))
    labels = torch.where(torch.rand(args.batch, args.seq) < 0.15, ids, torch.full_like(ids, -100))
    mask = torch.ones(args.batch, args.seq)
    with torch.autocast(args.device, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        x = encoder(params, cfg, ids, mask, dtype=torch.float32)[-1]
        keep = labels > 0
        loss = torch.nn.functional.cross_entropy(mlm_logits_f32(x[keep]), labels[keep])
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
    scaler.step(opt)
    scaler.update()


def mlm_logits_f32(x):
    # mlm_logits widens to f64; keep the baseline in f32 throughout.
    P = params
    t = x @ P["cls.predictions.transform.dense.weight"].T + P["cls.predictions.transform.dense.bias"]
    t = 0.5 * t * (1.0 + torch.erf(t / 2 ** 0.5))
    mu = t.mean(-1, keepdim=True)
    var = ((t - mu) ** 2).mean(-1, keepdim=True)
    t = (t - mu) / torch.sqrt(var + 1e-12) * P["cls.predictions.transform.LayerNorm.weight"] + P["cls.predictions.transform.LayerNorm.bias"]
    return t @ P["bert.embeddings.word_embeddings.weight"].T + P["cls.predictions.decoder.bias"]


step()  # warm-up
sync()
t0 = time.perf_counter()
for _ in range(args.iters):
    step()
sync()
secs = (time.perf_counter() - t0) / args.iters
print(json.dumps({"torch": torch.__version__, "device": args.device, "amp": args.amp, "threads": args.threads, "batch": args.batch, "tokens": args.seq,
                  "seconds_per_step": secs, "tokens_per_s": args.batch * args.seq / secs}))
