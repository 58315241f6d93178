"""Baseline for `dnagpu bench embed --family bert|esm --config C`: the same
architecture in Hugging Face transformers (BertModel, or EsmModel; for NT v2
configs, rotary positions with SwiGLU swapped into the feed-forward as NT's
checkpoints define it), random init, float32 (TF32 off), eager attention
(and SDPA for reference), B x T random tokens, no grad.

    python3 benches/baselines/hf_encoder.py --family bert --config benches/configs/dnabert6.json --device cuda
"""
import argparse
import json
import os
import sys
import time

import torch
from transformers import BertConfig, BertModel, EsmConfig, EsmModel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference"))
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--family", choices=["bert", "esm"], required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--iters", type=int, default=3)
ap.add_argument("--device", default="cuda")
args = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
c = json.load(open(args.config))


def build(attn):
    if args.family == "bert":
        cfg = BertConfig(**c, attn_implementation=attn)
        return BertModel(cfg, add_pooling_layer=False)
    cfg = EsmConfig(**c, attn_implementation=attn)
    m = EsmModel(cfg, add_pooling_layer=False)
    if c.get("position_embedding_type") == "rotary":
        use_v2_feed_forward(m.encoder.layer, c["hidden_size"], c["intermediate_size"])
    return m


def sync():
    if args.device != "cpu":
        torch.cuda.synchronize()


out = {"torch": torch.__version__, "family": args.family, "config": args.config, "batch": args.batch, "tokens": args.seq}
ids = torch.randint(5, c["vocab_size"], (args.batch, args.seq), device=args.device)
mask = torch.ones_like(ids)
for attn in ["eager", "sdpa"]:
    model = build(attn).to(args.device).eval()
    with torch.no_grad():
        model(input_ids=ids[:1, :8], attention_mask=mask[:1, :8])
        best = float("inf")
        for _ in range(args.iters):
            sync()
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask).last_hidden_state.mean(1)
            sync()
            best = min(best, time.perf_counter() - t0)
    out[f"{attn}_seconds"] = best
    out[f"{attn}_tokens_per_s"] = args.batch * args.seq / best
    del model
print(json.dumps(out))
