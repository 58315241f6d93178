"""Half-precision baseline for `dnagpu bench embed --precision f16` on a CUDA
GPU: the DNABERT-2-117M encoder as PyTorch users run it in half precision —
autocast (f16 or bf16) with scaled_dot_product_attention, ALiBi and padding
as one additive float mask, layer norm and softmax as autocast keeps them
(f32). Random weights from scripts/reference/dnabert2_reference.py, B x T
random tokens, best of --iters after a warm-up.

    python3 benches/baselines/torch_encoder_half.py --batch 32 --seq 512 --dtype f16 --iters 3
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference"))
from dnabert2_reference import alibi_slopes, random_params  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--dtype", default="f16", choices=["f16", "bf16"])
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--device", default="cuda", help="cuda, or cpu to check the script (bf16)")
args = ap.parse_args()
dtype = {"f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
dev = args.device


def sync():
    if dev != "cpu":
        torch.cuda.synchronize()

cfg = dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, layer_norm_eps=1e-12, num_labels=2)
P = {k: v.to(dev) for k, v in random_params(cfg, torch.Generator().manual_seed(0)).items()}
H, A, L, I = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["intermediate_size"]
D, eps = H // A, cfg["layer_norm_eps"]


def encoder(ids, mask):
    B, T = ids.shape
    x = P["bert.embeddings.word_embeddings.weight"][ids] + P["bert.embeddings.token_type_embeddings.weight"][0]
    x = F.layer_norm(x, (H,), P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"], eps)
    pos = torch.arange(T, device=dev, dtype=torch.float32)
    alibi = -alibi_slopes(A).to(dev, torch.float32)[:, None, None] * (pos[:, None] - pos[None, :]).abs()
    attn_mask = (alibi[None] + (1.0 - mask)[:, None, None, :] * -10000.0).to(dtype)  # [B, A, T, T]
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."
        qkv = F.linear(x, P[pre + "attention.self.Wqkv.weight"], P[pre + "attention.self.Wqkv.bias"])
        q, k, v = (t.view(B, T, A, D).transpose(1, 2) for t in qkv.split(H, dim=-1))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=1 / math.sqrt(D))
        ctx = ctx.transpose(1, 2).reshape(B, T, H)
        a = F.linear(ctx, P[pre + "attention.output.dense.weight"], P[pre + "attention.output.dense.bias"]) + x
        a = F.layer_norm(a, (H,), P[pre + "attention.output.LayerNorm.weight"], P[pre + "attention.output.LayerNorm.bias"], eps)
        g = F.linear(a, P[pre + "mlp.gated_layers.weight"])
        f = F.gelu(g[..., :I]) * g[..., I:]
        x = F.linear(f, P[pre + "mlp.wo.weight"], P[pre + "mlp.wo.bias"]) + a
        x = F.layer_norm(x, (H,), P[pre + "mlp.layernorm.weight"], P[pre + "mlp.layernorm.bias"], eps)
    return x


ids = torch.randint(5, 4096, (args.batch, args.seq), device=dev)
mask = torch.ones(args.batch, args.seq, device=dev)
with torch.no_grad(), torch.autocast(dev, dtype=dtype):
    encoder(ids, mask).mean(1)
    best = float("inf")
    for _ in range(args.iters):
        sync()
        t0 = time.perf_counter()
        encoder(ids, mask).mean(1)
        sync()
        best = min(best, time.perf_counter() - t0)
tokens = args.batch * args.seq
name = torch.cuda.get_device_name() if dev != "cpu" else "cpu"
print(json.dumps({"torch": torch.__version__, "device": name, "dtype": args.dtype,
                  "attention": "sdpa", "batch": args.batch, "tokens": args.seq, "seconds": best,
                  "tokens_per_s": tokens / best}))
