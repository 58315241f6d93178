"""Concatenates the shards' CSVs (each with the same header) into one, the
header once, shards in order: the rows of one `dnagpu vep` run in VCF
order. Run by the Snakefile's `merge` rule; standard library only."""

import os

header = None
rows = 0
out = str(snakemake.output[0])
tmp = out + ".tmp"
with open(tmp, "w", encoding="utf-8", newline="") as dst:
    for path in snakemake.input:
        with open(str(path), encoding="utf-8", newline="") as src:
            first = src.readline()
            if header is None:
                header = first
                dst.write(first)
            elif first != header:
                raise SystemExit(f"{path}: header {first.strip()!r} differs from {header.strip()!r}")
            for line in src:
                dst.write(line)
                rows += 1
os.replace(tmp, out)
with open(str(snakemake.log[0]), "w") as log:
    log.write(f"{rows} rows from {len(snakemake.input)} shards\n")
