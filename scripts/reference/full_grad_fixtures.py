"""PyTorch autograd's gradients of full fine-tuning for the other model
families: transformers' BertForSequenceClassification on
tests/fixtures/dnabert_tiny (2 classes) and EsmForSequenceClassification on
nt_v1_tiny (its own 3-class head) and nt_v2_tiny (rotary and SwiGLU swapped
into transformers' ESM layers as esm_fixtures.py does; 2 classes). Heads
the folder lacks start from seeded random values, saved here so that dnagpu
loads the same.

    python3 scripts/reference/full_grad_fixtures.py

Writes tests/fixtures/full_grads/<folder>.json (sequences, labels, classes)
and <folder>.safetensors: head.<name> (the head tensors used) and
grad.<name> for every parameter of the model (Hugging Face names): the
gradient of the summed cross-entropy of the padded batch of all sequences
(attention mask; eval mode, so no dropout).
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertForSequenceClassification, EsmConfig, EsmForSequenceClassification
from transformers import BertTokenizer, EsmTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(REPO, "tests", "fixtures", "full_grads")
SEQUENCES = ["ACGTACGTTAGCCATGGATTACA", "TTGACNAGTGGA", "GATTACAGATTACA"]


def kmers(s, k=3):
    return " ".join(s[i:i + k] for i in range(len(s) - k + 1))


def build(name, classes, labels):
    folder = os.path.join(REPO, "tests", "fixtures", name)
    state = load_file(os.path.join(folder, "model.safetensors"))
    if name.startswith("dnabert"):
        cfg = BertConfig.from_pretrained(folder, num_labels=classes)
        model = BertForSequenceClassification(cfg)
        tok = BertTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=False)
        batch = tok([kmers(s) for s in SEQUENCES], padding=True, return_tensors="pt")
        drop = [k for k in state if k.startswith("cls.")]
    else:
        cfg = EsmConfig.from_pretrained(folder)
        cfg.num_labels = classes
        model = EsmForSequenceClassification(cfg)
        if cfg.position_embedding_type == "rotary":
            use_v2_feed_forward(model.esm.encoder.layer, cfg.hidden_size, cfg.intermediate_size)
        tok = EsmTokenizer(os.path.join(folder, "vocab.txt"), cls_token="<cls>", pad_token="<pad>",
                           mask_token="<mask>", unk_token="<unk>", eos_token=None)
        batch = tok(SEQUENCES, padding=True, return_tensors="pt")
        drop = [k for k in state if k.startswith("lm_head.") or k.endswith("inv_freq")]
    for k in drop:
        del state[k]
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("inv_freq")]  # buffers, recomputed
    unexpected = [k for k in unexpected if not k.endswith("inv_freq")]
    assert not unexpected, unexpected
    head = {}
    torch.manual_seed(13)
    with torch.no_grad():
        for k in missing:
            p = model.get_parameter(k)
            p.copy_((0.1 if k.endswith("bias") else 0.3) * torch.randn_like(p))
            head[f"head.{k}"] = p.detach().clone().contiguous()
    assert all(k.startswith("classifier.") for k in missing), missing
    model.eval()
    loss = torch.nn.functional.cross_entropy(
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
        torch.tensor(labels), reduction="sum")
    loss.backward()
    out = dict(head)
    for k, p in model.named_parameters():
        out[f"grad.{k}"] = (p.grad if p.grad is not None else torch.zeros_like(p)).contiguous()
    os.makedirs(OUT, exist_ok=True)
    save_file(out, os.path.join(OUT, f"{name}.safetensors"))
    json.dump({"sequences": SEQUENCES, "labels": labels, "classes": classes, "loss": loss.item()},
              open(os.path.join(OUT, f"{name}.json"), "w"), indent=1)
    print("wrote", name, len(out), "tensors, loss", loss.item())


build("dnabert_tiny", 2, [1, 0, 1])
build("nt_v1_tiny", 3, [1, 0, 2])
build("nt_v2_tiny", 2, [1, 0, 1])
