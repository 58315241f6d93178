"""Independent PyTorch reference of `dnagpu attention` (the softmax
attention probabilities of every layer and head) and of `dnagpu embed
--pooling none --per-base` (per-base vectors of the last hidden state), for
the four small models of tests/fixtures, all in f64:

- DNABERT-2 (tiny): plain PyTorch (dnabert2_reference.py). Like upstream's
  bert_layers.py it returns no attention probabilities, so they are formed
  here from its hidden states exactly as its layers form them: layer l's
  input times Wqkv, q k^T / sqrt(D) minus the ALiBi slope times |i - j|,
  softmax over the keys.
- DNABERT (dnabert_tiny, BertModel) and the Nucleotide Transformer v1 / v2
  (nt_v1_tiny, nt_v2_tiny, EsmModel, v2's SwiGLU swapped in as
  nt_v2_layers.py does; rotary inside transformers' attention): the
  `attentions` that transformers returns with output_attentions=True
  (eager attention).

Tokens come from the upstream tokenizers (vep_fixtures.py's models). Per
base: the mean of the last hidden state's rows of the tokens whose bases
include it, special tokens excluded (one token for BPE and 6-mers; the k
k-mers over it for DNABERT, fewer near the ends; N belongs to the unknown
token that stands for it).

    pip install torch safetensors tokenizers transformers
    python3 scripts/reference/attention_fixtures.py --out tests/fixtures/attention

Writes into --out: input.fa (short random sequences, one with an N) and per
model M, M.safetensors: per record <id> [layers, heads, T, T] f32,
<id>.input_ids [T] int64, <id>.per_base [bases, H] f32.
"""
import argparse
import json
import math
import os
import random
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dnabert2_reference as d2  # noqa: E402
from nt_v2_layers import use_v2_feed_forward  # noqa: E402
from vep_fixtures import FIXTURES, Dnabert2  # noqa: E402


def sequences(rnd):
    out = {}
    for name, n in [("s1", 31), ("s2", 18), ("s3", 25)]:
        out[name] = "".join(rnd.choice("ACGT") for _ in range(n))
    s = list(out["s2"])
    s[7] = "N"
    out["s2"] = "".join(s)
    return out


class Dnabert2Maps(Dnabert2):
    def run(self, seq):
        ids, spans = self.tokens(seq)
        x = torch.tensor([ids])
        states = d2.encoder(self.p, self.cfg, x, torch.ones_like(x))
        P = {k: v.double() for k, v in self.p.items()}
        H, A = self.cfg["hidden_size"], self.cfg["num_attention_heads"]
        D, T = H // A, len(ids)
        pos = torch.arange(T, dtype=torch.float64)
        bias = -d2.alibi_slopes(A)[:, None, None] * (pos[:, None] - pos[None, :]).abs()
        maps = []
        for l in range(self.cfg["num_hidden_layers"]):
            pre = f"bert.encoder.layer.{l}.attention.self.Wqkv."
            qkv = states[l][0] @ P[pre + "weight"].T + P[pre + "bias"]
            q, k, _ = (t.view(T, A, D).transpose(0, 1) for t in qkv.split(H, dim=-1))
            maps.append(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D) + bias, dim=-1))
        return ids, spans, torch.stack(maps), states[-1][0]


class HfMaps:
    def __init__(self, folder, kind):
        from transformers import BertModel, BertTokenizer, EsmConfig, EsmModel, EsmTokenizer
        from safetensors.torch import load_file
        self.kind = kind
        if kind == "bert":
            self.model = BertModel.from_pretrained(folder, attn_implementation="eager", add_pooling_layer=False)
            self.tok = BertTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=False)
            self.k = len([t for t in self.tok.vocab if not t.startswith("[")][0])
        else:
            cfg = EsmConfig.from_pretrained(folder, attn_implementation="eager")
            self.model = EsmModel(cfg, add_pooling_layer=False)
            if cfg.position_embedding_type == "rotary":
                use_v2_feed_forward(self.model.encoder.layer, cfg.hidden_size, cfg.intermediate_size)
            state = load_file(os.path.join(folder, "model.safetensors"))
            mine = {k[len("esm."):]: v for k, v in state.items() if k.startswith("esm.")}
            missing, unexpected = self.model.load_state_dict(mine, strict=False)
            assert not [m for m in missing if "inv_freq" not in m], missing
            self.tok = EsmTokenizer(os.path.join(folder, "vocab.txt"), cls_token="<cls>", pad_token="<pad>",
                                    mask_token="<mask>", unk_token="<unk>", eos_token=None)
        self.model = self.model.double().eval()

    def tokens(self, seq):
        if self.kind == "bert":
            k = self.k
            ids = self.tok(" ".join(seq[i:i + k] for i in range(len(seq) - k + 1)))["input_ids"]
            return ids, [None] + [(i, i + k) for i in range(len(ids) - 2)] + [None]
        ids = self.tok(seq)["input_ids"]
        spans, at = [], 0
        for t in self.tok.convert_ids_to_tokens(ids):
            if t == "<cls>":
                spans.append(None)
                continue
            n = 1 if t == "<unk>" else len(t)
            spans.append((at, at + n))
            at += n
        assert at == len(seq), (seq, ids)
        return ids, spans

    def run(self, seq):
        ids, spans = self.tokens(seq)
        x = torch.tensor([ids])
        with torch.no_grad():
            out = self.model(input_ids=x, attention_mask=torch.ones_like(x), output_attentions=True)
        maps = torch.stack([a[0] for a in out.attentions])
        return ids, spans, maps, out.last_hidden_state[0]


def per_base(spans, bases, last):
    rows = [[] for _ in range(bases)]
    for t, span in enumerate(spans):
        if span is not None:
            for b in range(*span):
                rows[b].append(last[t])
    assert all(rows), "every base is in a token"
    return torch.stack([torch.stack(r).mean(0) for r in rows])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(FIXTURES, "attention"))
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seqs = sequences(random.Random(args.seed))
    with open(os.path.join(args.out, "input.fa"), "w") as f:
        for name, s in seqs.items():
            f.write(f">{name}\n{s}\n")
    models = {
        "tiny": lambda: Dnabert2Maps(os.path.join(FIXTURES, "tiny")),
        "dnabert_tiny": lambda: HfMaps(os.path.join(FIXTURES, "dnabert_tiny"), "bert"),
        "nt_v1_tiny": lambda: HfMaps(os.path.join(FIXTURES, "nt_v1_tiny"), "esm"),
        "nt_v2_tiny": lambda: HfMaps(os.path.join(FIXTURES, "nt_v2_tiny"), "esm"),
    }
    for name, make in models.items():
        model = make()
        out = {}
        for sid, s in seqs.items():
            ids, spans, maps, last = model.run(s)
            sums = maps.sum(-1)
            assert torch.allclose(sums, torch.ones_like(sums)), name
            out[sid] = maps.float().contiguous()
            out[f"{sid}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
            out[f"{sid}.per_base"] = per_base(spans, len(s), last).float().contiguous()
        save_file(out, os.path.join(args.out, f"{name}.safetensors"),
                  metadata={"sequences": json.dumps(list(seqs))})
        print(name, {k: list(v.shape) for k, v in out.items() if "." not in k})


if __name__ == "__main__":
    main()
