"""Baseline for `dnagpu bench finetune --family bert|esm --config C --mode lora`:
one LoRA fine-tuning step (r 8, alpha 32, dropout 0.05 on query/key/value;
the head trained) of transformers' BertForSequenceClassification or
EsmForSequenceClassification (NT v2 configs: SwiGLU swapped in as NT's
checkpoints define it) through PEFT, f32 (TF32 off), torch.optim.AdamW,
B x T random tokens, two classes; mean of --iters steps after a warm-up.

    python3 benches/baselines/peft_finetune.py --config benches/configs/dnabert6.json --device cuda
    python3 benches/baselines/peft_finetune.py --family esm --config benches/configs/nt_v2_500m.json --device cuda
"""
import argparse
import json
import os
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification, EsmConfig, EsmForSequenceClassification

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference"))
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--family", choices=["bert", "esm"], default="bert")
ap.add_argument("--config", required=True)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--device", default="cuda")
args = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
c = json.load(open(args.config))
if args.family == "bert":
    model = BertForSequenceClassification(BertConfig(**c, num_labels=2, attn_implementation="eager"))
    head = ["classifier", "pooler"]
else:
    model = EsmForSequenceClassification(EsmConfig(**c, num_labels=2, attn_implementation="eager"))
    if c.get("position_embedding_type") == "rotary":
        use_v2_feed_forward(model.esm.encoder.layer, c["hidden_size"], c["intermediate_size"])
    head = ["classifier"]
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=["query", "key", "value"],
                                         modules_to_save=head, task_type="SEQ_CLS")).to(args.device)
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)


def sync():
    if args.device != "cpu":
        torch.cuda.synchronize()


def step():
    ids = torch.randint(5, c["vocab_size"], (args.batch, args.seq), device=args.device)
    labels = torch.randint(0, 2, (args.batch,), device=args.device)
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()


step()
sync()
t0 = time.perf_counter()
for _ in range(args.iters):
    step()
sync()
secs = (time.perf_counter() - t0) / args.iters
print(json.dumps({"torch": torch.__version__, "family": args.family, "config": args.config, "batch": args.batch, "tokens": args.seq,
                  "seconds_per_step": secs, "samples_per_s": args.batch / secs}))
