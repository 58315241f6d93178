"""Independent PyTorch reference of DNABERT-2, written from
docs/models/dnabert2.md (not from dnagpu's code), for fixture generation only:
the Rust tests read the files it writes and never need Python.

    pip install torch safetensors tokenizers
    python3 scripts/reference/dnabert2_reference.py --out tests/fixtures/tiny

Writes into --out:
  config.json, tokenizer.json     a small DNABERT-2-layout model (H=128,
                                  2 layers, 4 heads, I=512, V=4096) with
                                  both heads (MLM, 3-class classification)
  model.safetensors               its weights under Hugging Face names
  pytorch_model.bin               the same weights through torch.save
  fixtures.safetensors            per sequence s: s.input_ids [T] (int64),
                                  s.hidden.L [T, H] for L = 0..layers
                                  (0 = embedding output), s.mean [H],
                                  s.mlm_logits [T, V] (short sequences),
                                  s.probs [C] (classification head)
  fixtures.json                   the sequences, in order
"""
import argparse
import json
import math
import os
import random
import shutil

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def alibi_slopes(heads):
    """Model doc: n = largest power of two <= heads; 2^(-8(k+1)/n) for k < n,
    then every other slope of the 2n sequence from the first."""
    n = 2 ** int(math.floor(math.log2(heads)))
    first = [2 ** (-8 * (k + 1) / n) for k in range(n)]
    extra = [2 ** (-8 * (k + 1) / (2 * n)) for k in range(2 * n)][0::2][: heads - n]
    return torch.tensor(first + extra, dtype=torch.float64)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def random_params(cfg, gen):
    H, I, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]

    def n(*shape, std=0.02):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    # Biases and LayerNorm parameters are random too, so that a kernel that
    # ignores one of them fails the fixtures.
    p = {
        "bert.embeddings.word_embeddings.weight": n(V, H, std=0.5),
        "bert.embeddings.token_type_embeddings.weight": n(2, H, std=0.5),
        "bert.embeddings.LayerNorm.weight": 1 + n(H, std=0.1),
        "bert.embeddings.LayerNorm.bias": n(H, std=0.1),
    }
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."
        p[pre + "attention.self.Wqkv.weight"] = n(3 * H, H, std=0.15)
        p[pre + "attention.self.Wqkv.bias"] = n(3 * H, std=0.1)
        p[pre + "attention.output.dense.weight"] = n(H, H, std=0.1)
        p[pre + "attention.output.dense.bias"] = n(H, std=0.1)
        p[pre + "attention.output.LayerNorm.weight"] = 1 + n(H, std=0.1)
        p[pre + "attention.output.LayerNorm.bias"] = n(H, std=0.1)
        p[pre + "mlp.gated_layers.weight"] = n(2 * I, H, std=0.1)
        p[pre + "mlp.wo.weight"] = n(H, I, std=0.05)
        p[pre + "mlp.wo.bias"] = n(H, std=0.1)
        p[pre + "mlp.layernorm.weight"] = 1 + n(H, std=0.1)
        p[pre + "mlp.layernorm.bias"] = n(H, std=0.1)
    p["cls.predictions.transform.dense.weight"] = n(H, H, std=0.1)
    p["cls.predictions.transform.dense.bias"] = n(H, std=0.1)
    p["cls.predictions.transform.LayerNorm.weight"] = 1 + n(H, std=0.1)
    p["cls.predictions.transform.LayerNorm.bias"] = n(H, std=0.1)
    p["cls.predictions.decoder.bias"] = n(V, std=0.1)
    # A sequence-classification head too (BertForSequenceClassification),
    # so one small checkpoint serves `embed`, MLM and `classify`.
    C = cfg["num_labels"]
    p["bert.pooler.dense.weight"] = n(H, H, std=0.1)
    p["bert.pooler.dense.bias"] = n(H, std=0.1)
    p["classifier.weight"] = n(C, H, std=0.5)
    p["classifier.bias"] = n(C, std=0.1)
    return p


def encoder(p, cfg, ids, mask, dtype=torch.float64):
    """ids, mask: [B, T]. Returns the hidden states of every layer (f64 by
    default; benches/baselines/torch_encoder.py runs it in f32)."""
    P = {k: v.to(dtype) for k, v in p.items()}
    H, A, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    D, eps = H // A, cfg["layer_norm_eps"]
    B, T = ids.shape
    x = P["bert.embeddings.word_embeddings.weight"][ids] + P["bert.embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"], eps)
    states = [x]
    pos = torch.arange(T, dtype=dtype)
    dist = (pos[:, None] - pos[None, :]).abs()  # [T, T], symmetric
    bias = -alibi_slopes(A).to(dtype)[:, None, None] * dist  # [A, T, T]
    pad = (1.0 - mask.to(dtype))[:, None, None, :] * -10000.0  # [B, 1, 1, T]
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."
        qkv = x @ P[pre + "attention.self.Wqkv.weight"].T + P[pre + "attention.self.Wqkv.bias"]
        q, k, v = qkv.split(H, dim=-1)
        q, k, v = (t.view(B, T, A, D).transpose(1, 2) for t in (q, k, v))  # [B, A, T, D]
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + bias[None] + pad
        ctx = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
        a = ctx @ P[pre + "attention.output.dense.weight"].T + P[pre + "attention.output.dense.bias"] + x
        a = layer_norm(a, P[pre + "attention.output.LayerNorm.weight"], P[pre + "attention.output.LayerNorm.bias"], eps)
        g = a @ P[pre + "mlp.gated_layers.weight"].T
        u, gate = g[..., : cfg["intermediate_size"]], g[..., cfg["intermediate_size"] :]
        f = gelu(u) * gate
        x = f @ P[pre + "mlp.wo.weight"].T + P[pre + "mlp.wo.bias"] + a
        x = layer_norm(x, P[pre + "mlp.layernorm.weight"], P[pre + "mlp.layernorm.bias"], eps)
        states.append(x)
    return states


def mlm_logits(p, x):
    P = {k: v.double() for k, v in p.items()}
    t = gelu(x @ P["cls.predictions.transform.dense.weight"].T + P["cls.predictions.transform.dense.bias"])
    t = layer_norm(t, P["cls.predictions.transform.LayerNorm.weight"], P["cls.predictions.transform.LayerNorm.bias"], 1e-12)
    return t @ P["bert.embeddings.word_embeddings.weight"].T + P["cls.predictions.decoder.bias"]


def classify(p, x):
    """x: [T, H] last hidden state of one sequence -> class probabilities."""
    P = {k: v.double() for k, v in p.items()}
    pooled = torch.tanh(x[0] @ P["bert.pooler.dense.weight"].T + P["bert.pooler.dense.bias"])
    logits = pooled @ P["classifier.weight"].T + P["classifier.bias"]
    return torch.softmax(logits, dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "tiny"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    src_cfg = json.load(open(os.path.join(REPO, "assets", "dnabert2", "config.json")))
    cfg = dict(src_cfg)
    cfg.update(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512)
    cfg.pop("_name_or_path", None)
    cfg["id2label"] = {str(i): f"LABEL_{i}" for i in range(3)}
    cfg["num_labels"] = 3
    json.dump(cfg, open(os.path.join(args.out, "config.json"), "w"), indent=2)
    shutil.copy(os.path.join(REPO, "assets", "dnabert2", "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))

    gen = torch.Generator().manual_seed(args.seed)
    params = random_params(cfg, gen)
    save_file(params, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    torch.save(params, os.path.join(args.out, "pytorch_model.bin"))

    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    rnd = random.Random(args.seed)
    seqs = ["ACGTA", "".join(rnd.choice("ACGT") for _ in range(37))]
    seqs += ["".join(rnd.choice("ACGT") for _ in range(n)) for n in (200, 1000, 2000)]
    fixtures = {}
    for i, s in enumerate(seqs):
        ids = torch.tensor(tok.encode(s).ids, dtype=torch.int64)
        states = encoder(params, cfg, ids[None], torch.ones(1, len(ids)))
        fixtures[f"{i}.input_ids"] = ids
        for l, h in enumerate(states):
            fixtures[f"{i}.hidden.{l}"] = h[0].float().contiguous()
        fixtures[f"{i}.mean"] = states[-1][0].mean(0).float().contiguous()
        fixtures[f"{i}.probs"] = classify(params, states[-1][0]).float().contiguous()
        if len(ids) <= 64:
            fixtures[f"{i}.mlm_logits"] = mlm_logits(params, states[-1][0]).float().contiguous()
    save_file(fixtures, os.path.join(args.out, "fixtures.safetensors"))
    json.dump({"sequences": seqs}, open(os.path.join(args.out, "fixtures.json"), "w"), indent=1)
    print(f"wrote {args.out}: {sum(v.numel() for v in params.values())} parameters, {len(seqs)} sequences")


if __name__ == "__main__":
    main()
