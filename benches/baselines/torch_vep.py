"""Baseline for `dnagpu bench vep --backend cpu`: the same variant-effect
definition (src/vep/mod.rs) in PyTorch f32 on the independent reference
encoder (scripts/reference/dnabert2_reference.py), random DNABERT-2-117M
weights (or --small: the shipped model's size), DNABERT-2's tokenizer, N
random SNVs on a random chromosome at --flank; each variant's four windows
(REF/ALT, both strands) run masked (MLM head, log-softmax at the masked
ids) and plain (mean of the last hidden state), padded batches of --batch
windows sorted by length, as dnagpu batches them.

    python3 benches/baselines/torch_vep.py --variants 16 --flank 256 --threads 2
"""
import argparse
import os
import random
import sys
import time

import torch
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts", "reference"))
from dnabert2_reference import encoder, gelu, layer_norm, random_params  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--variants", type=int, default=64)
ap.add_argument("--flank", type=int, default=256)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--small", action="store_true", help="H=256, 4 layers, 4 heads (the shipped model's size)")
args = ap.parse_args()
torch.set_num_threads(args.threads)

cfg = dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, layer_norm_eps=1e-12, num_labels=2)
if args.small:
    cfg.update(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
P = {k: v.float() for k, v in random_params(cfg, torch.Generator().manual_seed(0)).items()}
tok = Tokenizer.from_file(os.path.join(REPO, "assets", "dnabert2", "tokenizer.json"))
MASK = tok.token_to_id("[MASK]")
COMP = str.maketrans("ACGT", "TGCA")

rnd = random.Random(17)
n, F = args.variants, args.flank
length = (n + 1) * (F + 16) + 2 * F
chrom = "".join(rnd.choice("ACGT") for _ in range(length))
windows = []  # (ids, masked positions)
for i in range(n):
    p = F + i * (length - 2 * F) // n
    ref = chrom[p]
    alt = rnd.choice([b for b in "ACGT" if b != ref])
    lo, hi = max(0, p - F), min(length, p + 1 + F)
    for seq in (chrom[lo:hi], chrom[lo:p] + alt + chrom[p + 1:hi]):
        a = p - lo
        for s, (x, y) in ((seq, (a, a + 1)), (seq[::-1].translate(COMP), (len(seq) - a - 1, len(seq) - a))):
            e = tok.encode(s)
            masked = [j for j, (o, sp) in enumerate(zip(e.offsets, e.special_tokens_mask))
                      if not sp and o[0] < y and x < o[1]]
            windows.append((e.ids, masked))


def mlm_logits(x):
    t = gelu(x @ P["cls.predictions.transform.dense.weight"].T + P["cls.predictions.transform.dense.bias"])
    t = layer_norm(t, P["cls.predictions.transform.LayerNorm.weight"], P["cls.predictions.transform.LayerNorm.bias"], 1e-12)
    return t @ P["bert.embeddings.word_embeddings.weight"].T + P["cls.predictions.decoder.bias"]


def batches():
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i][0]))
    for k in range(0, len(order), args.batch):
        yield order[k:k + args.batch]


def run():
    L, means = {}, {}
    with torch.no_grad():
        for members in batches():
            t = len(windows[members[0]][0])
            for masked_pass in (True, False):
                ids = torch.full((len(members), t), 3, dtype=torch.int64)
                mask = torch.zeros(len(members), t)
                for r, i in enumerate(members):
                    w, m = windows[i]
                    row = [MASK if (masked_pass and j in m) else v for j, v in enumerate(w)]
                    ids[r, :len(w)] = torch.tensor(row)
                    mask[r, :len(w)] = 1
                x = encoder(P, cfg, ids, mask, dtype=torch.float32)[-1]
                for r, i in enumerate(members):
                    w, m = windows[i]
                    if masked_pass:
                        logp = torch.log_softmax(mlm_logits(x[r, m]), -1)
                        L[i] = float(logp[torch.arange(len(m)), torch.tensor([w[j] for j in m])].sum())
                    else:
                        means[i] = x[r, :len(w)].mean(0)
    return L, means


run_windows = windows
windows = run_windows[:4]
run()  # warm-up
windows = run_windows
t0 = time.time()
run()
secs = time.time() - t0
tokens = 2 * sum(len(w) for w, _ in windows)
print(f"torch {torch.__version__}, {args.threads} threads, H={cfg['hidden_size']}, {cfg['num_hidden_layers']} layers; "
      f"flank {F}, batch {args.batch}")
print(f"{n} variants ({len(windows)} windows) in {secs:.3f} s: {n / secs:.2f} variants/s, {tokens / secs:.0f} tokens/s")
