"""Splits a VCF (plain or gzip) into len(snakemake.output) VCFs of
consecutive records, each with the whole header, as even as the record
count allows; each shard gets at least one record (more shards than
records is an error naming both). Run by the Snakefile's `split` rule;
needs only the standard library."""

import gzip

path = str(snakemake.input[0])
outputs = [str(p) for p in snakemake.output]
with open(path, "rb") as f:
    gz = f.read(2) == b"\x1f\x8b"
opener = gzip.open if gz else open
header, records = [], []
with opener(path, "rt", encoding="utf-8", newline="") as f:
    for line in f:
        if line.startswith("#") and not records:
            header.append(line)
        elif line.strip():
            records.append(line)
k = len(outputs)
if len(records) < k:
    raise SystemExit(f"{path}: {len(records)} variant records, fewer than the {k} shards asked for: lower `shards`")
bounds = [len(records) * i // k for i in range(k + 1)]
for i, out in enumerate(outputs):
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.writelines(header)
        f.writelines(records[bounds[i] : bounds[i + 1]])
with open(str(snakemake.log[0]), "w") as log:
    log.write(f"{len(records)} records in {k} shards: {[bounds[i + 1] - bounds[i] for i in range(k)]}\n")
