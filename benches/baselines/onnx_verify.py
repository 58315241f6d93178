"""Checks an ONNX export of a model folder (onnx_encoder.py --from) against
`dnagpu embed`: the same sequences' mean-pooled embeddings from ONNX Runtime
(one padded batch, tokenized by the folder's tokenizer.json) and from the
CLI's CPU backend must agree to --rtol relative to the largest value.

    python3 benches/baselines/onnx_verify.py --onnx target/onnx/dnabert2-small-gue.onnx \
        --folder models/dnabert2-small-gue --dnagpu target/debug/dnagpu \
        --input web/www/data/prom_core_all_test.csv --count 8
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--folder", required=True)
    ap.add_argument("--dnagpu", required=True, help="the dnagpu binary")
    ap.add_argument("--input", required=True, help="GUE CSV (sequence,label)")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    import onnxruntime as ort
    from tokenizers import Tokenizer

    with open(args.input) as f:
        rows = f.read().strip().split("\n")[1 : args.count + 1]
    seqs = [r.split(",")[0] for r in rows]
    tok = Tokenizer.from_file(os.path.join(args.folder, "tokenizer.json"))
    enc = [tok.encode(s).ids for s in seqs]
    t = max(map(len, enc))
    ids = np.full((len(enc), t), 3, np.int64)  # [PAD], as dnagpu pads
    mask = np.zeros((len(enc), t), np.int64)
    for i, e in enumerate(enc):
        ids[i, : len(e)], mask[i, : len(e)] = e, 1
    sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    with tempfile.TemporaryDirectory() as d:
        csv, npy = os.path.join(d, "in.csv"), os.path.join(d, "out.npy")
        with open(csv, "w") as f:
            f.write("sequence,label\n" + "\n".join(rows) + "\n")
        subprocess.run([args.dnagpu, "embed", "--backend", "cpu", "--model", args.folder, "--input", csv,
                        "--output", npy], check=True, stdout=subprocess.DEVNULL)
        want = np.load(npy)
    scale = float(np.abs(want).max())
    err = float(np.abs(got - want).max())
    ok = got.shape == want.shape and err <= args.rtol * scale
    print(json.dumps({"sequences": len(seqs), "tokens": t, "max_abs_error": err, "max_abs_value": scale,
                      "relative": err / scale, "rtol": args.rtol, "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
