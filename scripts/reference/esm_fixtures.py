"""Fixtures for Nucleotide Transformer support, written by Hugging Face
`transformers`' ESM classes: a small random EsmForMaskedLM per version, saved
as model folders, and their outputs for a few sequences.

    python3 scripts/reference/esm_fixtures.py --out tests/fixtures

- nt_v1_tiny: EsmForMaskedLM as NT v1 configures it (learned positions with
  ESM's offset, token dropout's 0.88 scale, GELU feed-forward with biases),
  plus an EsmForSequenceClassification head (3 classes) on the same encoder:
  s.probs [3] are its class probabilities.
- nt_v2_tiny: the architecture NT v2's checkpoints define (their remote
  modeling_esm.py): rotary positions, and a SwiGLU feed-forward without
  biases (intermediate [2I, H], silu on the first half), built here by
  swapping those modules into transformers' ESM layers.
Both: H = 32, 2 layers, 4 heads, I = 64; the real NT vocabularies (v1 4105
tokens + <eos>/<bos> outside the table; v2 4107). Each folder: config.json,
vocab.txt, special_tokens_map.json, tokenizer_config.json, model.safetensors,
fixtures.json (sequences) and fixtures.safetensors: per sequence s,
s.input_ids [T] (EsmTokenizer), s.hidden.l [T, H] (output_hidden_states),
s.mean [H] (mean of the last over all tokens), s.mlm_logits [T, V].
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file
from transformers import EsmConfig, EsmForMaskedLM, EsmForSequenceClassification, EsmTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--vocabs", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "other_tokenizers"))
args = ap.parse_args()

SEQUENCES = ["ACGTGTACGTGCACGGACGACTAGTCAGCA", "ACGTGTACNTGCACGGANCGACTAGTCTGA", "ACGTACG", "GATTACAGATTACAGATTACATTTT"]


def build(version, out):
    os.makedirs(out, exist_ok=True)
    vocab_src = os.path.join(args.vocabs, f"nt_{version}_vocab.txt")
    shutil.copy(vocab_src, os.path.join(out, "vocab.txt"))
    vocab = open(vocab_src).read().split("\n")
    vocab = [v for v in vocab if v]
    v1 = version == "v1"
    table = 4105 if v1 else len(vocab)  # v1's <eos>/<bos> lie outside its embedding table
    cfg = EsmConfig(vocab_size=table, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=64 if v1 else 2050,
                    position_embedding_type="absolute" if v1 else "rotary", token_dropout=v1,
                    emb_layer_norm_before=False, layer_norm_eps=1e-12, pad_token_id=1, mask_token_id=2,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, is_folding_model=False,
                    tie_word_embeddings=False)
    torch.manual_seed(1 if v1 else 2)
    model = EsmForMaskedLM(cfg).eval()
    if not v1:
        use_v2_feed_forward(model.esm.encoder.layer, 32, 64)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    cls = None
    if v1:
        cfg.num_labels = 3
        cls = EsmForSequenceClassification(cfg).eval()
        cls.esm.load_state_dict(model.esm.state_dict())
        with torch.no_grad():
            for name, p in cls.classifier.named_parameters():
                p.copy_((0.1 if name.endswith("bias") else 0.3) * torch.randn_like(p))
        for k, v in cls.classifier.state_dict().items():
            state[f"classifier.{k}"] = v.clone().contiguous()
    save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = cfg.to_dict()
    config["architectures"] = ["EsmForMaskedLM"]
    if not v1:
        config["add_bias_fnn"] = False
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"cls_token": "<cls>", "mask_token": "<mask>", "pad_token": "<pad>", "unk_token": "<unk>"},
              open(os.path.join(out, "special_tokens_map.json"), "w"))
    json.dump({"eos_token": None, "model_max_length": 1000 if v1 else 2048},
              open(os.path.join(out, "tokenizer_config.json"), "w"))
    tok = EsmTokenizer(os.path.join(out, "vocab.txt"), cls_token="<cls>", pad_token="<pad>", mask_token="<mask>",
                       unk_token="<unk>", eos_token=None)
    fixtures = {}
    for i, s in enumerate(SEQUENCES):
        ids = tok(s)["input_ids"]
        x = torch.tensor([ids])
        with torch.no_grad():
            o = model(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True)
        fixtures[f"{i}.input_ids"] = torch.tensor(ids, dtype=torch.int64)
        for l, h in enumerate(o.hidden_states):
            fixtures[f"{i}.hidden.{l}"] = h[0].float().contiguous()
        fixtures[f"{i}.mean"] = o.hidden_states[-1][0].mean(0).contiguous()
        fixtures[f"{i}.mlm_logits"] = o.logits[0].contiguous()
        if cls is not None:
            with torch.no_grad():
                logits = cls(input_ids=x, attention_mask=torch.ones_like(x)).logits[0]
            fixtures[f"{i}.probs"] = torch.softmax(logits, -1).contiguous()
    save_file(fixtures, os.path.join(out, "fixtures.safetensors"))
    json.dump({"sequences": SEQUENCES, "version": version}, open(os.path.join(out, "fixtures.json"), "w"), indent=1)
    print(f"wrote {out}: {len(state)} tensors")


build("v1", os.path.join(args.out, "nt_v1_tiny"))
build("v2", os.path.join(args.out, "nt_v2_tiny"))
