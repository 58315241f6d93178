#!/usr/bin/env python3
"""Peak memory (RSS) of `dnagpu embed` on large generated FASTA files.

`embed` streams its input (docs/design.md, "Streaming"): memory should stay
flat as the input grows. This generates FASTA files of the sizes asked for
(1 kbp records of random bases with runs of N, written in 80-column lines)
and one long single record, embeds each with a model small enough that
reading, tokenizing and writing dominate (a random-init DNABERT-2 of width
16 and one layer, built by `--random-init`; `--model M` uses a real one),
and prints a markdown table of wall time and peak RSS (from wait4's
rusage). With `--baseline BIN` the same runs are made with another dnagpu
binary (an older, non-streaming build) for comparison.

    scripts/bench/stream_memory.py --dnagpu target/release/dnagpu --sizes 100,1000

Standard library only; the inputs go to --workdir (default: a temporary
folder, removed at the end).
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

TINY = {
    "architectures": ["BertForMaskedLM"],
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 1,
    "num_hidden_layers": 1,
    "vocab_size": 4096,
    "max_position_embeddings": 512,
    "alibi_starting_size": 512,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "layer_norm_eps": 1e-12,
    "type_vocab_size": 2,
}


def write_fasta(path, total_bp, record_bp, seed=0):
    """Records of `record_bp` random bases (one in 50 holds a run of 100 N)
    until `total_bp` bases are written; returns the number of records."""
    rng = random.Random(seed)
    block = "".join(rng.choice("ACGT") for _ in range(1 << 20))
    block2 = block + block
    with open(path, "w") as f:
        written, i = 0, 0
        while written < total_bp:
            n = min(record_bp, total_bp - written)
            at = rng.randrange(len(block))
            f.write(f">r{i} generated\n")
            for k in range(0, n, 80):
                w = min(80, n - k)
                o = (at + k) % len(block)
                line = block2[o : o + w]
                if i % 50 == 7 and 200 <= k < 300:
                    line = "N" * w
                f.write(line)
                f.write("\n")
            written += n
            i += 1
    return i


def run(cmd):
    """(seconds, peak RSS in MiB, exit code, last stderr line)."""
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return time.time() - t0, usage.ru_maxrss / 1024, code, last


def report(name, label, cmd):
    """Runs `cmd` and prints its table row, and its last message when it failed."""
    secs, rss, code, last = run(cmd)
    print(f"| {name} | {label} | {secs:.0f} | {rss:.0f} | {code} |", flush=True)
    if code != 0:
        print(f"  ({label}: {last})", file=sys.stderr)


def parser(doc):
    """The options every peak-memory benchmark takes; the caller adds its own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dnagpu", default="target/release/dnagpu")
    ap.add_argument("--baseline", help="another dnagpu binary to compare with")
    ap.add_argument("--model", help="a model folder instead of the tiny random-init one")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--workdir")
    return ap


def workdir_and_model(args, prefix):
    """The work folder (made) and the model arguments: --model, or the tiny random-init config written there."""
    work = args.workdir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    config = os.path.join(work, "tiny.json")
    with open(config, "w") as f:
        json.dump(TINY, f)
    return work, (["--model", args.model] if args.model else ["--random-init", config])


def main():
    ap = parser(__doc__)
    ap.add_argument("--sizes", default="100,1000", help="FASTA sizes in MB (10^6 bases)")
    ap.add_argument("--record-bp", type=int, default=1_000)
    ap.add_argument("--chromosome-mb", type=int, default=100, help="one record this long, with --window 2000 (0: none)")
    args = ap.parse_args()
    work, model = workdir_and_model(args, "dnagpu-stream-")

    cases = []
    for mb in [int(s) for s in args.sizes.split(",") if s]:
        path = os.path.join(work, f"reads-{mb}MB.fa")
        if not os.path.exists(path):
            n = write_fasta(path, mb * 1_000_000, args.record_bp)
        else:
            n = sum(1 for line in open(path) if line.startswith(">"))
        cases.append((f"{mb} MB, {n} records of {args.record_bp} bp", path, []))
    if args.chromosome_mb:
        path = os.path.join(work, f"chromosome-{args.chromosome_mb}MB.fa")
        if not os.path.exists(path):
            write_fasta(path, args.chromosome_mb * 1_000_000, args.chromosome_mb * 1_000_000, seed=1)
        cases.append((f"{args.chromosome_mb} MB, one record, --window 2000", path, ["--window", "2000"]))

    binaries = [("dnagpu", args.dnagpu)] + ([("baseline", args.baseline)] if args.baseline else [])
    print(f"model: {args.model or 'random init, hidden 16, 1 layer'}; backend {args.backend}; output .npy")
    print()
    print("| input | binary | wall s | peak RSS MiB | exit |")
    print("|---|---|---|---|---|")
    for name, path, extra in cases:
        for label, binary in binaries:
            out = os.path.join(work, "out.npy")
            report(name, label, [binary, "--backend", args.backend, "embed", *model, "--input", path, "--output", out, *extra])
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
