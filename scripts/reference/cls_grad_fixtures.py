"""Sequence-classification gradient fixtures (BertForSequenceClassification
as GUE fine-tuning uses it) from the independent reference and PyTorch
autograd in float64.

    python3 scripts/reference/cls_grad_fixtures.py --out tests/fixtures/train/cls

Writes into --out: config.json, tokenizer.json, model.safetensors (the
H=32 model of grad_fixtures.py plus a random pooler and 3-class
classifier), batch.safetensors (input_ids, attention_mask [3, T] int64,
labels [3] int64; padded) and expected.safetensors (loss [1], grad.<name>
for every encoder, pooler and classifier parameter), dropout off; and
lora.safetensors: LoRA r=2, alpha 4 on every Wqkv with random A and B
(<module>.lora_A.weight [2, in], .lora_B.weight [out, 2]), with
lora_loss [1] and grad.<name> for every A, B and the head, the base frozen.
"""
import argparse
import json
import os
import random
import shutil

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

from dnabert2_reference import REPO, encoder, random_params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "train", "cls"))
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cfg = json.load(open(os.path.join(REPO, "assets", "dnabert2", "config.json")))
    cfg.pop("_name_or_path", None)
    cfg.update(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48, num_labels=3)
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(REPO, "assets", "dnabert2", "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))
    params = {k: v for k, v in random_params(cfg, torch.Generator().manual_seed(args.seed)).items() if not k.startswith("cls.")}
    save_file(params, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})

    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    rnd = random.Random(args.seed)
    enc = [tok.encode("".join(rnd.choice("ACGT") for _ in range(n))).ids for n in (60, 25, 44)]
    T = max(len(e) for e in enc)
    ids = torch.full((3, T), 3, dtype=torch.int64)
    mask = torch.zeros(3, T, dtype=torch.int64)
    for b, e in enumerate(enc):
        ids[b, : len(e)] = torch.tensor(e)
        mask[b, : len(e)] = 1
    labels = torch.tensor([2, 0, 1])
    save_file({"input_ids": ids, "attention_mask": mask, "labels": labels}, os.path.join(args.out, "batch.safetensors"))

    p64 = {k: v.double().requires_grad_(True) for k, v in params.items()}
    x = encoder(p64, cfg, ids, mask)[-1]  # [B, T, H]
    pooled = torch.tanh(x[:, 0] @ p64["bert.pooler.dense.weight"].T + p64["bert.pooler.dense.bias"])
    logits = pooled @ p64["classifier.weight"].T + p64["classifier.bias"]
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    out = {"loss": loss.detach().reshape(1).float()}
    for k, v in p64.items():
        out["grad." + k] = v.grad.float().contiguous()
    save_file(out, os.path.join(args.out, "expected.safetensors"))

    # LoRA on Wqkv: y = x W^T + b + (alpha / r) (x A^T) B^T, base frozen.
    r, alpha = 2, 4.0
    gen = torch.Generator().manual_seed(args.seed + 1)
    lora = {}
    for l in range(cfg["num_hidden_layers"]):
        m = f"bert.encoder.layer.{l}.attention.self.Wqkv"
        H = cfg["hidden_size"]
        lora[m + ".lora_A.weight"] = (torch.randn(r, H, generator=gen) * 0.3).double().requires_grad_(True)
        lora[m + ".lora_B.weight"] = (torch.randn(3 * H, r, generator=gen) * 0.3).double().requires_grad_(True)
    base = {k: v.double() for k, v in params.items()}
    head = {k: base[k].clone().requires_grad_(True) for k in ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]}
    merged = dict(base)
    for l in range(cfg["num_hidden_layers"]):
        m = f"bert.encoder.layer.{l}.attention.self.Wqkv"
        merged[m + ".weight"] = base[m + ".weight"] + (alpha / r) * lora[m + ".lora_B.weight"] @ lora[m + ".lora_A.weight"]
    merged.update(head)
    x = encoder(merged, cfg, ids, mask)[-1]
    pooled = torch.tanh(x[:, 0] @ merged["bert.pooler.dense.weight"].T + merged["bert.pooler.dense.bias"])
    logits = pooled @ merged["classifier.weight"].T + merged["classifier.bias"]
    lloss = torch.nn.functional.cross_entropy(logits, labels)
    lloss.backward()
    lout = {"lora_loss": lloss.detach().reshape(1).float()}
    for k, v in list(lora.items()) + list(head.items()):
        lout[k] = v.detach().float().contiguous()
        lout["grad." + k] = v.grad.float().contiguous()
    save_file(lout, os.path.join(args.out, "lora.safetensors"))
    print(f"wrote {args.out}: T={T}, loss {loss.item():.9g}")


if __name__ == "__main__":
    main()
