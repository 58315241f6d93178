"""A PEFT LoRA adapter for DNABERT (k-mer BERT), written by PEFT itself on
transformers' BertForSequenceClassification loaded from
tests/fixtures/dnabert_tiny: LoraConfig(r=2, lora_alpha=4, lora_dropout=0,
target_modules=["query", "key", "value"], modules_to_save=["classifier",
"pooler"]), A, B and the saved head set to random values (PEFT starts B at
zero), 2 classes.

    python3 scripts/reference/bert_peft_fixtures.py

Writes into tests/fixtures/dnabert_tiny_peft: adapter/adapter_config.json,
adapter/adapter_model.safetensors (save_pretrained), expected.json (the
sequences) and expected.safetensors (per sequence i: i.probs [2], the PEFT
model's class probabilities). Checks that PeftModel.from_pretrained reads the
adapter back to the same probabilities.
"""
import json
import os

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import BertForSequenceClassification, BertTokenizer

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BASE = os.path.join(REPO, "tests", "fixtures", "dnabert_tiny")
OUT = os.path.join(REPO, "tests", "fixtures", "dnabert_tiny_peft")
SEQUENCES = ["ACGTACGTTAGCCATG", "TTGACNAGTGGA", "GATTACAGATTACA"]

torch.manual_seed(3)


def base():
    return BertForSequenceClassification.from_pretrained(BASE, num_labels=2).eval()


def kmers(s, k=3):
    return " ".join(s[i:i + k] for i in range(len(s) - k + 1))


tok = BertTokenizer(os.path.join(BASE, "vocab.txt"), do_lower_case=False)
model = get_peft_model(base(), LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0,
                                          target_modules=["query", "key", "value"],
                                          modules_to_save=["classifier", "pooler"], task_type="SEQ_CLS"))
with torch.no_grad():
    for name, p in model.named_parameters():
        if "lora_" in name or "modules_to_save" in name:
            p.copy_(0.3 * torch.randn_like(p))
model.eval()


def probs(m):
    out = {}
    for i, s in enumerate(SEQUENCES):
        x = torch.tensor([tok(kmers(s))["input_ids"]])
        with torch.no_grad():
            out[f"{i}.probs"] = torch.softmax(m(input_ids=x).logits[0], -1).contiguous()
    return out


expected = probs(model)
model.save_pretrained(os.path.join(OUT, "adapter"))
back = PeftModel.from_pretrained(base(), os.path.join(OUT, "adapter")).eval()
for k, v in probs(back).items():
    assert torch.allclose(v, expected[k], atol=1e-6), k
# Keep the folder small and free of this machine's paths.
os.remove(os.path.join(OUT, "adapter", "README.md"))
cfg_path = os.path.join(OUT, "adapter", "adapter_config.json")
cfg = json.load(open(cfg_path))
cfg["base_model_name_or_path"] = "tests/fixtures/dnabert_tiny"
json.dump(cfg, open(cfg_path, "w"), indent=2)
save_file(expected, os.path.join(OUT, "expected.safetensors"))
json.dump({"sequences": SEQUENCES}, open(os.path.join(OUT, "expected.json"), "w"), indent=1)
print("wrote", OUT, {k: v.tolist() for k, v in expected.items()})
