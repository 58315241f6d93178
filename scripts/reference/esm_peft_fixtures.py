"""PEFT LoRA adapters for the Nucleotide Transformer, written by PEFT itself
on transformers' EsmForSequenceClassification loaded from
tests/fixtures/nt_v1_tiny (its own 3-class head) and nt_v2_tiny (rotary and
SwiGLU swapped into transformers' ESM layers as esm_fixtures.py does, a fresh
2-class head): LoraConfig(r=2, lora_alpha=4, lora_dropout=0,
target_modules=["query", "key", "value"], modules_to_save=["classifier"]),
A, B and the saved head set to random values (PEFT starts B at zero).

    python3 scripts/reference/esm_peft_fixtures.py

Writes tests/fixtures/nt_v1_tiny_peft and nt_v2_tiny_peft, each with
adapter/ (save_pretrained), expected.json (sequences, labels) and
expected.safetensors: per sequence i, i.probs (the PEFT model's class
probabilities); and grad.NAME for every trainable tensor (NAME as PEFT saves
it, without base_model.model.): PyTorch autograd's gradient of the summed
cross-entropy of the padded batch of all sequences (pad id 1 with an
attention mask) with the labels. Checks that PeftModel.from_pretrained reads
each adapter back to the same probabilities.
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import EsmConfig, EsmForSequenceClassification, EsmTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SEQUENCES = ["ACGTACGTTAGCCATGGATTACA", "TTGACNAGTGGA", "GATTACAGATTACA"]


def base(folder, classes):
    cfg = EsmConfig.from_pretrained(folder)
    cfg.num_labels = classes
    model = EsmForSequenceClassification(cfg)
    if cfg.position_embedding_type == "rotary":
        use_v2_feed_forward(model.esm.encoder.layer, cfg.hidden_size, cfg.intermediate_size)
    state = {k: v for k, v in load_file(os.path.join(folder, "model.safetensors")).items()
             if not k.startswith("lm_head.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert all(k.startswith("classifier.") for k in missing) and not unexpected, (missing, unexpected)
    if missing:
        torch.manual_seed(11)
        with torch.no_grad():
            for p in model.classifier.parameters():
                p.copy_(0.3 * torch.randn_like(p))
    return model.eval()


def build(name, classes, labels, seed):
    folder = os.path.join(REPO, "tests", "fixtures", name)
    out = os.path.join(REPO, "tests", "fixtures", f"{name}_peft")
    tok = EsmTokenizer(os.path.join(folder, "vocab.txt"), cls_token="<cls>", pad_token="<pad>",
                       mask_token="<mask>", unk_token="<unk>", eos_token=None)
    torch.manual_seed(seed)
    model = get_peft_model(base(folder, classes), LoraConfig(
        r=2, lora_alpha=4, lora_dropout=0.0, target_modules=["query", "key", "value"],
        modules_to_save=["classifier"], task_type="SEQ_CLS"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n or "modules_to_save" in n:
                p.copy_(0.3 * torch.randn_like(p))
    model.eval()

    def probs(m):
        res = {}
        for i, s in enumerate(SEQUENCES):
            x = torch.tensor([tok(s)["input_ids"]])
            with torch.no_grad():
                res[f"{i}.probs"] = torch.softmax(m(input_ids=x).logits[0], -1).contiguous()
        return res

    expected = probs(model)
    batch = tok(SEQUENCES, padding=True, return_tensors="pt")
    loss = torch.nn.functional.cross_entropy(
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
        torch.tensor(labels), reduction="sum")
    loss.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            plain = n.replace("base_model.model.", "").replace(".default", "").replace("modules_to_save.", "")
            expected[f"grad.{plain}"] = p.grad.contiguous()
    model.save_pretrained(os.path.join(out, "adapter"))
    back = PeftModel.from_pretrained(base(folder, classes), os.path.join(out, "adapter")).eval()
    for k, v in probs(back).items():
        assert torch.allclose(v, expected[k], atol=1e-6), k
    os.remove(os.path.join(out, "adapter", "README.md"))
    cfg_path = os.path.join(out, "adapter", "adapter_config.json")
    cfg = json.load(open(cfg_path))
    cfg["base_model_name_or_path"] = f"tests/fixtures/{name}"
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    save_file(expected, os.path.join(out, "expected.safetensors"))
    json.dump({"sequences": SEQUENCES, "labels": labels}, open(os.path.join(out, "expected.json"), "w"), indent=1)
    print("wrote", out, sorted(k for k in expected if k.startswith("grad.")))


build("nt_v1_tiny", 3, [1, 0, 2], 4)
build("nt_v2_tiny", 2, [1, 0, 1], 5)
