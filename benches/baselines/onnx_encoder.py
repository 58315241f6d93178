"""Baseline for `dnagpu bench embed --backend cpu`: ONNX Runtime's CPU
execution provider on the DNABERT-2 encoder exported to ONNX, what a
deployment-minded user runs on a CPU (and what onnxruntime-web runs in the
browser). Random DNABERT-2-117M weights (scripts/reference/dnabert2_reference.py's
`random_params`), B x T random tokens, mean pooling, f32, every graph
optimisation ORT has (LayerNormalization, Gelu and MatMul+Add fusions).
With --from, a model folder's real weights instead (config.json and
model.safetensors, DNABERT-2 naming; f16 weights are widened to f32 as
dnagpu loads them): the browser benchmark (web/e2e/bench_onnx.mjs) runs the
shipped model this way, and onnx_verify.py checks it against `dnagpu embed`.

The exported graph uses the ops ORT fuses (layer_norm, erf GELU, one
[heads, T, T] ALiBi bias added to the scores) so the baseline is ORT at its
best, not a literal transcription of the reference.

    pip install torch onnx onnxruntime tokenizers
    python3 benches/baselines/onnx_encoder.py --export /tmp/dnabert2-117m.onnx
    python3 benches/baselines/onnx_encoder.py --model /tmp/dnabert2-117m.onnx --batch 32 --seq 512 --threads 2
    python3 benches/baselines/onnx_encoder.py --from models/dnabert2-small-gue --export target/onnx/dnabert2-small-gue.onnx
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "reference"))

CFG = dict(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
           intermediate_size=3072, layer_norm_eps=1e-12, num_labels=2)


def folder_params(folder):
    """config.json (the keys CFG has) and model.safetensors' tensors as f32."""
    import torch
    from safetensors.torch import load_file

    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    cfg = {k: config.get(k, v) for k, v in CFG.items()}
    return cfg, {k: v.float() for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}


def export(path, cfg, max_len, params=None):
    import torch
    import torch.nn.functional as F
    from dnabert2_reference import alibi_slopes, random_params

    P = params if params is not None else random_params(cfg, torch.Generator().manual_seed(0))
    H, A, L, I = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    D, eps = H // A, cfg["layer_norm_eps"]

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in P.items():
                if not k.startswith("bert."):
                    continue  # heads (MLM, classifier) are not part of the encoder
                self.register_buffer(k.replace(".", "_"), v.float())
            pos = torch.arange(max_len, dtype=torch.float32)
            dist = (pos[:, None] - pos[None, :]).abs()
            self.register_buffer("alibi", -alibi_slopes(A).float()[:, None, None] * dist)

        def w(self, name):
            return getattr(self, name.replace(".", "_"))

        def forward(self, ids, mask):
            B, T = ids.shape
            x = self.w("bert.embeddings.word_embeddings.weight")[ids] + self.w("bert.embeddings.token_type_embeddings.weight")[0]
            x = F.layer_norm(x, (H,), self.w("bert.embeddings.LayerNorm.weight"), self.w("bert.embeddings.LayerNorm.bias"), eps)
            bias = self.alibi[:, :T, :T][None] + ((1.0 - mask.float()) * -10000.0)[:, None, None, :]
            for l in range(L):
                pre = f"bert.encoder.layer.{l}."
                qkv = F.linear(x, self.w(pre + "attention.self.Wqkv.weight"), self.w(pre + "attention.self.Wqkv.bias"))
                q, k, v = qkv.split(H, dim=-1)
                q, k, v = (t.reshape(B, T, A, D).transpose(1, 2) for t in (q, k, v))
                s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D)) + bias
                ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, T, H)
                a = F.linear(ctx, self.w(pre + "attention.output.dense.weight"), self.w(pre + "attention.output.dense.bias")) + x
                a = F.layer_norm(a, (H,), self.w(pre + "attention.output.LayerNorm.weight"), self.w(pre + "attention.output.LayerNorm.bias"), eps)
                g = F.linear(a, self.w(pre + "mlp.gated_layers.weight"))
                f = F.gelu(g[..., :I]) * g[..., I:]
                x = F.linear(f, self.w(pre + "mlp.wo.weight"), self.w(pre + "mlp.wo.bias")) + a
                x = F.layer_norm(x, (H,), self.w(pre + "mlp.layernorm.weight"), self.w(pre + "mlp.layernorm.bias"), eps)
            m = mask.float()[..., None]
            return (x * m).sum(1) / m.sum(1)

    ids = torch.randint(5, cfg["vocab_size"], (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    torch.onnx.export(Encoder().eval(), (ids, mask), path, input_names=["input_ids", "attention_mask"],
                      output_names=["mean"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", help="write the ONNX model here and exit")
    ap.add_argument("--from", dest="folder", help="export this model folder's weights instead of random 117M ones")
    ap.add_argument("--max-len", type=int, help="longest T the exported ALiBi table covers (default 2048; with --from, "
                    "the config's alibi_starting_size)")
    ap.add_argument("--model", help="the exported ONNX model to time")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=1)
    args = ap.parse_args()
    if args.export:
        cfg, params, max_len = CFG, None, args.max_len or 2048
        if args.folder:
            cfg, params = folder_params(args.folder)
            with open(os.path.join(args.folder, "config.json")) as f:
                max_len = args.max_len or json.load(f).get("alibi_starting_size", 512)
        os.makedirs(os.path.dirname(os.path.abspath(args.export)), exist_ok=True)
        export(args.export, cfg, max_len, params)
        print(json.dumps({"exported": args.export}))
        return
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)

    def feed(b, t):
        ids = rng.integers(5, CFG["vocab_size"], (b, t)).astype(np.int64)
        ids[:, 0], ids[:, -1] = 1, 2
        return {"input_ids": ids, "attention_mask": np.ones((b, t), np.int64)}

    sess.run(None, feed(1, 8))
    best = float("inf")
    for _ in range(args.iters):
        f = feed(args.batch, args.seq)
        t0 = time.perf_counter()
        sess.run(None, f)
        best = min(best, time.perf_counter() - t0)
    tokens = args.batch * args.seq
    print(json.dumps({"onnxruntime": ort.__version__, "threads": args.threads, "batch": args.batch, "tokens": args.seq,
                      "seconds": best, "tokens_per_s": tokens / best}))


if __name__ == "__main__":
    main()
