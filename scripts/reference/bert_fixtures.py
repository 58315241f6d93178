"""Fixtures for DNABERT (k-mer BERT) support, written by Hugging Face
`transformers` itself: a small random BertForMaskedLM (k = 3 vocabulary,
H = 64, 2 layers, 4 heads, 64 positions) with a pooler, saved as a model
folder, and its outputs for a few sequences.

    python3 scripts/reference/bert_fixtures.py --out tests/fixtures/dnabert_tiny

Writes into --out: config.json, vocab.txt, tokenizer_config.json,
model.safetensors (bert.*, cls.*, bert.pooler.*), fixtures.json (the
sequences) and fixtures.safetensors: per sequence s, s.input_ids [T]
(BertTokenizer on DNABERT's seq2kmer text), s.hidden.l [T, H] for l = 0..L
(HF output_hidden_states), s.mean [H] (mean of the last layer over all
tokens), s.pooler [H] (BertModel's pooler output), s.mlm_logits [T, V].
Parameters are drawn wider than BERT's init (LayerNorm weights around 1,
biases nonzero) so that a wrong op shows.
"""
import argparse
import itertools
import json
import os

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
torch.manual_seed(0)

K = 3
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["".join(p) for p in itertools.product("ATCG", repeat=K)]
with open(os.path.join(args.out, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
    json.dump({"do_lower_case": False, "max_len": 64}, f)

cfg = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12,
                 hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, pad_token_id=0)
mlm = BertForMaskedLM(cfg).eval()
base = BertModel(cfg, add_pooling_layer=True).eval()
with torch.no_grad():
    for name, p in list(mlm.named_parameters()) + list(base.pooler.named_parameters(prefix="pooler")):
        if name.endswith("LayerNorm.weight"):
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn_like(p))
        else:
            p.copy_(0.15 * torch.randn_like(p))
    base.load_state_dict(mlm.bert.state_dict(), strict=False)

state = {k: v.clone().contiguous() for k, v in mlm.state_dict().items() if not k.endswith("position_ids")}
for k, v in base.pooler.state_dict().items():
    state[f"bert.pooler.{k}"] = v.clone().contiguous()
# The tied decoder weight is the word embedding table: store it once, as
# DNABERT's checkpoints do under both names.
state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"].clone()
save_file(state, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
config = cfg.to_dict()
config["architectures"] = ["BertForMaskedLM"]
with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)

tok = BertTokenizer(os.path.join(args.out, "vocab.txt"), do_lower_case=False)


def seq2kmer(seq, k):
    return " ".join(seq[i:i + k] for i in range(len(seq) - k + 1))


sequences = ["ACGTACGTTAGCCATG", "TTGACNAGTGGA", "GATTACA", "CCGGAATTCGATCGATTACAGGCATGCA"]
fixtures = {}
for i, s in enumerate(sequences):
    ids = tok(seq2kmer(s, K), add_special_tokens=True)["input_ids"]
    x = torch.tensor([ids])
    with torch.no_grad():
        out = mlm(input_ids=x, output_hidden_states=True)
        pooled = base(input_ids=x).pooler_output[0]
    fixtures[f"{i}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
    for l, h in enumerate(out.hidden_states):
        fixtures[f"{i}.hidden.{l}"] = h[0].float().contiguous()
    fixtures[f"{i}.mean"] = out.hidden_states[-1][0].mean(0).contiguous()
    fixtures[f"{i}.pooler"] = pooled.contiguous()
    fixtures[f"{i}.mlm_logits"] = out.logits[0].contiguous()
save_file(fixtures, os.path.join(args.out, "fixtures.safetensors"))
with open(os.path.join(args.out, "fixtures.json"), "w") as f:
    json.dump({"sequences": sequences, "k": K}, f, indent=1)
print(f"wrote {args.out}: {len(state)} tensors, {len(sequences)} sequences")
