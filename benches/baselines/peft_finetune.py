"""Baseline for `dnagpu bench finetune --family bert --config C --mode lora`:
one LoRA fine-tuning step (r 8, alpha 32, dropout 0.05 on query/key/value;
pooler and classifier trained) of transformers' BertForSequenceClassification
through PEFT, f32 (TF32 off), torch.optim.AdamW, B x T random tokens, two
classes; mean of --iters steps after a warm-up.

    python3 benches/baselines/peft_finetune.py --config benches/configs/dnabert6.json --device cuda
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--device", default="cuda")
args = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
c = json.load(open(args.config))
model = BertForSequenceClassification(BertConfig(**c, num_labels=2, attn_implementation="eager"))
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=["query", "key", "value"],
                                         modules_to_save=["classifier", "pooler"], task_type="SEQ_CLS")).to(args.device)
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
print(json.dumps({"torch": torch.__version__, "config": args.config, "batch": args.batch, "tokens": args.seq,
                  "seconds_per_step": secs, "samples_per_s": args.batch / secs}))
