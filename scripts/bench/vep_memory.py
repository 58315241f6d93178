#!/usr/bin/env python3
"""Peak memory (RSS) of `dnagpu vep` on generated VCFs of growing size.

`vep` streams the VCF and the genome a chunk of records at a time
(docs/design.md, "Streaming `vep`"): memory should stay flat as the VCF
grows. This writes a genome of four chromosomes (random bases, 60-column
lines) and VCFs of the record counts asked for (SNVs, one in five an
insertion, one in seven a 3 bp REF; sorted, or shuffled with --unsorted),
scores each with a model small enough that reading and writing dominate
(a random-init DNABERT-2 of width 16 and one layer; `--model M` for a real
one) at --flank 20, and prints a markdown table of wall time and peak RSS
(wait4's rusage). `--baseline BIN` runs another dnagpu binary too (an
older, non-streaming build).

    scripts/bench/vep_memory.py --dnagpu target/release/dnagpu --records 1000,10000,100000

Standard library only; the inputs go to --workdir (default: a temporary
folder, removed at the end).
"""

import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream_memory import parser, report, workdir_and_model  # noqa: E402

CHROMS = [("chr1", 4_000_000), ("chr2", 3_000_000), ("chr3", 2_000_000), ("chr4", 1_000_000)]


def write_genome(path, rng):
    seqs = {}
    with open(path, "w") as f:
        for name, n in CHROMS:
            seq = "".join(rng.choices("ACGT", k=n))
            seqs[name] = seq
            f.write(f">{name} generated\n")
            for k in range(0, n, 60):
                f.write(seq[k : k + 60])
                f.write("\n")
    return seqs


def write_vcf(path, seqs, n, rng, unsorted):
    total = sum(len(s) for s in seqs.values())
    rows = []
    for i in range(n):
        at = rng.randrange(total - 10 * len(seqs))
        for name, seq in seqs.items():
            if at < len(seq) - 10:
                break
            at -= len(seq) - 10
        pos = at + 1
        ref = seq[at : at + (3 if i % 7 == 3 else 1)]
        other = next(c for c in "ACGT" if c != ref[0])
        alt = ref[0] + "GT" if i % 5 == 1 else other
        rows.append((name, pos, f"v{i}", ref, alt))
    if unsorted:
        rng.shuffle(rows)
    else:
        rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for r in rows:
            f.write("\t".join(map(str, r)) + "\t.\tPASS\t.\n")


def main():
    ap = parser(__doc__)
    ap.add_argument("--records", default="1000,10000,100000")
    ap.add_argument("--unsorted", action="store_true", help="shuffle the records")
    args = ap.parse_args()
    work, model = workdir_and_model(args, "dnagpu-vep-")
    rng = random.Random(0)
    genome = os.path.join(work, "genome.fa")
    seqs = write_genome(genome, rng)

    binaries = [("dnagpu", args.dnagpu)] + ([("baseline", args.baseline)] if args.baseline else [])
    order = "shuffled" if args.unsorted else "sorted"
    print(f"model: {args.model or 'random init, hidden 16, 1 layer'}; backend {args.backend}; "
          f"genome 10 Mbp in 4 chromosomes; {order} VCF; --flank 20; output .csv")
    print()
    print("| VCF records | binary | wall s | peak RSS MiB | exit |")
    print("|---|---|---|---|---|")
    for n in [int(s) for s in args.records.split(",") if s]:
        vcf = os.path.join(work, f"variants-{n}.vcf")
        write_vcf(vcf, seqs, n, rng, args.unsorted)
        for label, binary in binaries:
            out = os.path.join(work, "scores.csv")
            cmd = [binary, "--backend", args.backend, "vep", *model, "--reference", genome,
                   "--variants", vcf, "--flank", "20", "--output", out]
            report(n, label, cmd)
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
