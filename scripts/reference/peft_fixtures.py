"""PEFT LoRA adapter fixtures, written by Hugging Face PEFT itself, for the
adapter reader/writer (src/model/adapter.rs) and the LoRA forward.

    pip install torch safetensors tokenizers peft
    python3 scripts/reference/peft_fixtures.py
    python3 scripts/reference/peft_fixtures.py --check DIR   # see below

The base model is tests/fixtures/tiny (written by dnabert2_reference.py:
H=128, 2 layers, 4 heads, I=512, V=4096, 3 classes). A torch module tree
whose parameter names are DNABERT-2's state-dict names is loaded with it and
wrapped by `peft.get_peft_model` with LoraConfig(r=4, lora_alpha=8,
lora_dropout=0, target_modules=["Wqkv"], modules_to_save=["classifier",
"pooler"], task_type="SEQ_CLS"). PEFT initialises B to zero, so A, B and the
saved copies of the pooler and classifier are then set to random values.

Writes into --out (tests/fixtures/peft):
  adapter/adapter_config.json, adapter/adapter_model.safetensors
                        PEFT's `save_pretrained` output
  adapter_bin/          the same through save_pretrained(safe_serialization=
                        False): adapter_config.json, adapter_model.bin
  expected.safetensors  per sequence i: i.input_ids [T] (int64),
                        i.hidden [T, H] (last hidden state), i.probs [C]
                        (classification through the adapter's pooler and
                        classifier); all from the reference math in f64:
                        dnabert2_reference.py's encoder with the LoRA term
                        y = x W^T + b + (alpha/r) (x A^T) B^T on every Wqkv
  expected.json         the sequences, in order, and r, alpha, scale
  merged.safetensors    the tensors that merging changes, under their
                        Hugging Face names: every Wqkv weight
                        W + (alpha/r) B A (computed in f64, stored f32) and
                        the adapter's pooler and classifier tensors; every
                        other tensor of the merged model is the base's

Checks (asserts) before writing: the LoRA reference equals the plain
reference on the merged weights, and equals the PEFT model's own forward
(f64); PEFT's merge_and_unload equals merged.safetensors; the adapter read
back with PeftModel.from_pretrained gives the same probabilities.

--check DIR loads an adapter folder written by another program (dnagpu) with
PeftModel.from_pretrained onto the base and compares its probabilities on
the expected.json sequences with expected.safetensors.
"""
import argparse
import copy
import json
import math
import os
import random
import sys

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnabert2_reference import REPO, alibi_slopes, classify, encoder, gelu, layer_norm, random_params  # noqa: E402

R, ALPHA = 4, 8
SCALE = ALPHA / R
TINY = os.path.join(REPO, "tests", "fixtures", "tiny")


# ---------------------------------------------------------------- module tree


class DnaBert2Like(nn.Module):
    """nn.Linear / nn.LayerNorm / nn.Embedding leaves named exactly like
    DNABERT-2's state dict, with a classification forward built from those
    modules (so that PEFT's LoRA wrappers take part in it)."""

    def __init__(self, params, cfg):
        super().__init__()
        self.cfg = cfg
        eps = cfg["layer_norm_eps"]
        modules = {}
        for name in params:
            path, leaf = name.rsplit(".", 1)
            modules.setdefault(path, {})[leaf] = params[name]
        for path, leaves in sorted(modules.items()):
            last = path.rsplit(".", 1)[-1]
            w = leaves.get("weight")
            if last in ("word_embeddings", "token_type_embeddings"):
                m = nn.Embedding(*w.shape)
            elif last.lower() == "layernorm":
                m = nn.LayerNorm(w.shape[0], eps=eps if path.startswith("bert.") else 1e-12)
            elif w is not None and w.dim() == 2:
                m = nn.Linear(w.shape[1], w.shape[0], bias="bias" in leaves)
            else:  # cls.predictions.decoder: a bias only (its weight is tied)
                m = nn.Module()
                for leaf, t in leaves.items():
                    m.register_parameter(leaf, nn.Parameter(torch.empty_like(t)))
            self._put(path, m)
        self.load_state_dict(params, strict=True)

    def _put(self, path, module):
        parent = self
        parts = path.split(".")
        for p in parts[:-1]:
            if not hasattr(parent, p):
                child = nn.ModuleList() if p == "layer" else nn.Module()
                parent.add_module(p, child)
            parent = getattr(parent, p)
        if isinstance(parent, nn.ModuleList):
            assert int(parts[-1]) == len(parent), path
            parent.append(module)
        else:
            parent.add_module(parts[-1], module)

    def forward(self, input_ids, attention_mask, **_):
        cfg, b = self.cfg, self.bert
        H, A = cfg["hidden_size"], cfg["num_attention_heads"]
        D = H // A
        B, T = input_ids.shape
        x = b.embeddings.word_embeddings(input_ids) + b.embeddings.token_type_embeddings.weight[0]
        x = b.embeddings.LayerNorm(x)
        pos = torch.arange(T, dtype=x.dtype)
        dist = (pos[:, None] - pos[None, :]).abs()
        bias = -alibi_slopes(A).to(x.dtype)[:, None, None] * dist
        pad = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -10000.0
        for layer in b.encoder.layer:
            q, k, v = layer.attention.self.Wqkv(x).split(H, dim=-1)
            q, k, v = (t.view(B, T, A, D).transpose(1, 2) for t in (q, k, v))
            s = q @ k.transpose(-1, -2) / math.sqrt(D) + bias[None] + pad
            ctx = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
            a = layer.attention.output.LayerNorm(layer.attention.output.dense(ctx) + x)
            g = layer.mlp.gated_layers(a)
            I = cfg["intermediate_size"]
            x = layer.mlp.layernorm(layer.mlp.wo(gelu(g[..., :I]) * g[..., I:]) + a)
        pooled = torch.tanh(b.pooler.dense(x[:, 0]))
        return torch.softmax(self.classifier(pooled), dim=-1)


# ------------------------------------------------------------ reference math


def encoder_lora(p, lora, cfg, ids, mask):
    """dnabert2_reference.encoder with the LoRA term on every Wqkv, f64.
    lora: {module path: (A [r, in], B [out, r])}."""
    P = {k: v.double() for k, v in p.items()}
    H, A, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    D, eps = H // A, cfg["layer_norm_eps"]
    B, T = ids.shape
    x = P["bert.embeddings.word_embeddings.weight"][ids] + P["bert.embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"], eps)
    pos = torch.arange(T, dtype=torch.float64)
    dist = (pos[:, None] - pos[None, :]).abs()
    bias = -alibi_slopes(A)[:, None, None] * dist
    pad = (1.0 - mask.double())[:, None, None, :] * -10000.0
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."
        la, lb = (t.double() for t in lora[pre + "attention.self.Wqkv"])
        qkv = x @ P[pre + "attention.self.Wqkv.weight"].T + P[pre + "attention.self.Wqkv.bias"]
        qkv = qkv + SCALE * ((x @ la.T) @ lb.T)
        q, k, v = qkv.split(H, dim=-1)
        q, k, v = (t.view(B, T, A, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + bias[None] + pad
        ctx = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H)
        a = ctx @ P[pre + "attention.output.dense.weight"].T + P[pre + "attention.output.dense.bias"] + x
        a = layer_norm(a, P[pre + "attention.output.LayerNorm.weight"], P[pre + "attention.output.LayerNorm.bias"], eps)
        g = a @ P[pre + "mlp.gated_layers.weight"].T
        u, gate = g[..., : cfg["intermediate_size"]], g[..., cfg["intermediate_size"] :]
        x = (gelu(u) * gate) @ P[pre + "mlp.wo.weight"].T + P[pre + "mlp.wo.bias"] + a
        x = layer_norm(x, P[pre + "mlp.layernorm.weight"], P[pre + "mlp.layernorm.bias"], eps)
    return x


# ------------------------------------------------------------------ helpers


def load_base():
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    params = load_file(os.path.join(TINY, "model.safetensors"))
    names = random_params(cfg, torch.Generator().manual_seed(0)).keys()
    assert set(params) == set(names), "tests/fixtures/tiny does not have the reference's names"
    return cfg, params


def adapter_tensors(path):
    """(lora {module: (A, B)}, head {HF name: tensor}) from an adapter file."""
    lora, head = {}, {}
    with safe_open(path, "pt") as f:
        for k in f.keys():
            assert k.startswith("base_model.model."), k
            name = k[len("base_model.model.") :]
            if ".lora_A." in name or ".lora_B." in name:
                mod, which = name.rsplit(".lora_", 1)
                pair = lora.setdefault(mod, [None, None])
                pair["AB".index(which[0])] = f.get_tensor(k)
            else:
                head[name] = f.get_tensor(k)
    return {m: tuple(p) for m, p in lora.items()}, head


def probs_with_peft(adapter_dir, cfg, params, batches):
    """PeftModel.from_pretrained on a fresh base, forward in f64."""
    from peft import PeftModel

    pm = PeftModel.from_pretrained(DnaBert2Like(params, cfg), adapter_dir)
    model = pm.get_base_model().double().eval()
    with torch.no_grad():
        return [model(ids[None], torch.ones(1, len(ids)))[0] for ids in batches]


def sequences(tok):
    rnd = random.Random(7)
    seqs = ["ACGTA"] + ["".join(rnd.choice("ACGT") for _ in range(n)) for n in (37, 120)]
    return seqs, [torch.tensor(tok.encode(s).ids, dtype=torch.int64) for s in seqs]


def close(a, b, rtol, what):
    err = ((a.double() - b.double()).abs() / (b.double().abs() + 1e-30)).max().item()
    abs_err = (a.double() - b.double()).abs().max().item()
    assert abs_err <= rtol * b.double().abs().max().item(), f"{what}: max rel err {err:.3g}, abs {abs_err:.3g}"


# --------------------------------------------------------------------- main


def check(adapter_dir, out):
    cfg, params = load_base()
    want = load_file(os.path.join(out, "expected.safetensors"))
    seqs = json.load(open(os.path.join(out, "expected.json")))["sequences"]
    ids = [want[f"{i}.input_ids"] for i in range(len(seqs))]
    got = probs_with_peft(adapter_dir, cfg, params, ids)
    for i, p in enumerate(got):
        close(p, want[f"{i}.probs"], 1e-5, f"sequence {i} probs")
        print(f"sequence {i}: {p.tolist()} == {want[f'{i}.probs'].tolist()}")
    print(f"{adapter_dir}: PEFT loads it and gives the expected probabilities")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "peft"))
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--check", metavar="DIR", help="compare an adapter folder written elsewhere")
    args = ap.parse_args()
    if args.check:
        return check(args.check, args.out)

    import peft
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    cfg, params = load_base()
    base = DnaBert2Like(params, cfg)
    base.name_or_path = "tests/fixtures/tiny"  # PEFT copies it to base_model_name_or_path
    lcfg = LoraConfig(
        r=R,
        lora_alpha=ALPHA,
        lora_dropout=0.0,
        target_modules=["Wqkv"],
        modules_to_save=["classifier", "pooler"],
        task_type="SEQ_CLS",
    )
    pm = get_peft_model(base, lcfg)

    # PEFT's B is zero and the saved head a copy of the base's: make both
    # differ so that a reader dropping either fails the fixtures.
    inner = pm.get_base_model()
    with torch.no_grad():
        for name, m in inner.named_modules():
            if hasattr(m, "lora_A") and "default" in getattr(m, "lora_A", {}):
                m.lora_A["default"].weight.copy_(torch.randn(m.lora_A["default"].weight.shape, generator=gen) * 0.1)
                m.lora_B["default"].weight.copy_(torch.randn(m.lora_B["default"].weight.shape, generator=gen) * 0.1)
        for wrapped, std in ((inner.bert.pooler, 0.1), (inner.classifier, 0.5)):
            for p in wrapped.modules_to_save["default"].parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * std)

    adapter_dir = os.path.join(args.out, "adapter")
    os.makedirs(args.out, exist_ok=True)
    pm.save_pretrained(adapter_dir)
    os.remove(os.path.join(adapter_dir, "README.md"))  # PEFT's model-card template
    bin_dir = os.path.join(args.out, "adapter_bin")
    pm.save_pretrained(bin_dir, safe_serialization=False)  # the older adapter_model.bin
    os.remove(os.path.join(bin_dir, "README.md"))
    lora, head = adapter_tensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    assert sorted(lora) == [f"bert.encoder.layer.{l}.attention.self.Wqkv" for l in range(cfg["num_hidden_layers"])], lora.keys()
    assert sorted(head) == ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"], head.keys()

    # The merged model: base + scale * B A on every adapted module, the head replaced.
    merged = {}
    for mod, (a, b) in lora.items():
        w = params[mod + ".weight"].double() + SCALE * (b.double() @ a.double())
        merged[mod + ".weight"] = w.float().contiguous()
    merged.update({k: v.contiguous() for k, v in head.items()})
    full_merged = {**params, **merged}

    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    seqs, id_lists = sequences(tok)
    head_params = {**params, **head}
    expected = {}
    peft_model = copy.deepcopy(pm.get_base_model()).double().eval()
    for i, ids in enumerate(id_lists):
        mask = torch.ones(1, len(ids))
        x = encoder_lora(params, lora, cfg, ids[None], mask)[0]
        probs = classify(head_params, x)
        # Independent checks of the reference: merged weights, PEFT's forward.
        x_merged = encoder(full_merged, cfg, ids[None], mask)[-1][0]
        close(x_merged, x, 1e-5, f"sequence {i}: merged-weights encoder vs LoRA encoder")
        with torch.no_grad():
            close(peft_model(ids[None], mask)[0], probs, 1e-10, f"sequence {i}: PEFT forward vs reference")
        expected[f"{i}.input_ids"] = ids
        expected[f"{i}.hidden"] = x.float().contiguous()
        expected[f"{i}.probs"] = probs.float().contiguous()

    # PEFT's own merge (f32) agrees with ours.
    unloaded = copy.deepcopy(pm).merge_and_unload().state_dict()
    for k, v in merged.items():
        close(unloaded[k], v, 1e-6, f"merge_and_unload {k}")

    save_file(expected, os.path.join(args.out, "expected.safetensors"))
    save_file(merged, os.path.join(args.out, "merged.safetensors"), metadata={"format": "pt"})
    meta = {"sequences": seqs, "r": R, "lora_alpha": ALPHA, "scale": SCALE, "peft_version": peft.__version__}
    json.dump(meta, open(os.path.join(args.out, "expected.json"), "w"), indent=1)

    # Round trip through PEFT's loader.
    for i, p in enumerate(probs_with_peft(adapter_dir, cfg, params, id_lists)):
        close(p, expected[f"{i}.probs"], 1e-6, f"sequence {i}: PeftModel.from_pretrained")
    for i in range(len(seqs)):
        print(f"sequence {i} ({len(seqs[i])} bp, {len(id_lists[i])} tokens): probs {expected[f'{i}.probs'].tolist()}, "
              f"without the adapter {classify(params, encoder(params, cfg, id_lists[i][None], torch.ones(1, len(id_lists[i])))[-1][0]).tolist()}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
