"""Token ids of GUE dev sequences from Hugging Face `tokenizers` (the
reference) for tests/tokenizer.rs. Samples 12 sequences from each GUE dev
set present, plus hand-made edge cases (lower case, N, other IUPAC codes).

    pip install tokenizers
    python3 scripts/reference/tokenizer_fixtures.py /path/to/GUE
"""
import csv
import glob
import json
import os
import random
import sys

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

gue = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "data", "GUE")
tok = Tokenizer.from_file(os.path.join(REPO, "assets", "dnabert2", "tokenizer.json"))
rnd = random.Random(0)
cases = []
for path in sorted(glob.glob(os.path.join(gue, "*", "*", "dev.csv"))):
    rows = list(csv.DictReader(open(path, newline="")))
    for row in rnd.sample(rows, min(12, len(rows))):
        cases.append({"source": os.path.relpath(path, gue), "sequence": row["sequence"]})
# dnagpu upper-cases before tokenizing; the reference sees the upper-cased text.
for s in ["ACGTNNNNACGT", "NNNN", "ACGTRYKMSWBDHV", "A", "acgtacgtacgt"]:
    cases.append({"source": "edge", "sequence": s})
for c in cases:
    c["ids"] = tok.encode(c["sequence"].upper()).ids
out = os.path.join(REPO, "tests", "fixtures", "gue_token_ids.json")
json.dump(cases, open(out, "w"))
print(f"wrote {out}: {len(cases)} sequences")
