"""Gradient and optimizer fixtures for `dnagpu grad` and the training code,
from the independent reference (dnabert2_reference.py) and PyTorch autograd
in float64.

    python3 scripts/reference/grad_fixtures.py --out tests/fixtures/train

Writes into --out:
  config.json, tokenizer.json, model.safetensors
                     a small DNABERT-2-layout MLM model (H=32, 2 layers,
                     2 heads, I=48, the real V=4096 tokenizer), every
                     parameter random (biases and LayerNorms too)
  batch.safetensors  input_ids, attention_mask, labels [2, T] int64: two
                     sequences, the second padded; masked positions
                     labelled, the rest -100, one label 0 (ignored too)
  expected.safetensors
                     loss [1]; grad.<name> for every parameter (the tied
                     decoder weight is the word embedding and holds both
                     contributions); step1.<name> and step10.<name>: the
                     parameters after 1 and 10 steps of torch.optim.AdamW
                     (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01)
                     on the same batch, dropout off
"""
import argparse
import json
import os
import random
import shutil

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

from dnabert2_reference import REPO, encoder, mlm_logits, random_params

LR, WD, EPS, BETAS = 1e-3, 0.01, 1e-8, (0.9, 0.999)


def mlm_loss(params, cfg, ids, mask, labels):
    """One mean over all labelled positions (label > 0) of the batch."""
    x = encoder(params, cfg, ids, mask)[-1]  # [B, T, H] f64
    keep = labels > 0
    logits = mlm_logits(params, x[keep])  # [n, V]
    return torch.nn.functional.cross_entropy(logits, labels[keep], reduction="mean")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "train"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    cfg = json.load(open(os.path.join(REPO, "assets", "dnabert2", "config.json")))
    cfg.pop("_name_or_path", None)
    cfg.update(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48)
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(REPO, "assets", "dnabert2", "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))

    gen = torch.Generator().manual_seed(args.seed)
    cfg["num_labels"] = 2
    params = {k: v for k, v in random_params(cfg, gen).items() if not k.startswith(("bert.pooler", "classifier"))}
    save_file(params, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})

    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    rnd = random.Random(args.seed)
    seqs = ["".join(rnd.choice("ACGT") for _ in range(n)) for n in (90, 40)]
    enc = [tok.encode(s).ids for s in seqs]
    T = max(len(e) for e in enc)
    ids = torch.full((2, T), 3, dtype=torch.int64)  # [PAD]
    mask = torch.zeros(2, T, dtype=torch.int64)
    labels = torch.full((2, T), -100, dtype=torch.int64)
    for b, e in enumerate(enc):
        ids[b, : len(e)] = torch.tensor(e)
        mask[b, : len(e)] = 1
        for t in range(1, len(e) - 1):
            r = rnd.random()
            if r < 0.4:
                labels[b, t] = e[t]
                ids[b, t] = 4 if r < 0.3 else rnd.randrange(5, 4096)
    labels[0, 1] = 0  # label 0 ([UNK]) is ignored like -100
    assert (labels > 0).sum() >= 4 and mask[1].sum() < T
    save_file({"input_ids": ids, "attention_mask": mask, "labels": labels}, os.path.join(args.out, "batch.safetensors"))

    p64 = {k: v.double().clone().requires_grad_(True) for k, v in params.items()}
    loss = mlm_loss(p64, cfg, ids, mask, labels)
    loss.backward()
    out = {"loss": loss.detach().reshape(1).float()}
    for k, v in p64.items():
        out["grad." + k] = v.grad.float().contiguous()

    opt = torch.optim.AdamW(list(p64.values()), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    for step in range(1, 11):
        opt.zero_grad()
        mlm_loss(p64, cfg, ids, mask, labels).backward()
        opt.step()
        if step in (1, 10):
            for k, v in p64.items():
                out[f"step{step}.{k}"] = v.detach().float().contiguous()
    save_file(out, os.path.join(args.out, "expected.safetensors"))
    n = sum(v.numel() for v in params.values())
    print(f"wrote {args.out}: {n} parameters, T={T}, {(labels > 0).sum().item()} labelled, loss {loss.item():.9g}")


if __name__ == "__main__":
    main()
