"""Token-id fixtures for the DNABERT (k-mer) and Nucleotide Transformer
tokenizers, written by the Hugging Face classes themselves (BertTokenizer on
DNABERT's `seq2kmer` text, EsmTokenizer on the raw string), from vocabularies
laid out as the hub's vocab.txt files are (docs/models/bert-and-nt.md).

    python scripts/reference/other_tokenizer_fixtures.py tests/fixtures/other_tokenizers
"""
import itertools
import json
import os
import sys

from transformers import BertTokenizer, EsmTokenizer

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def kmers(k):
    return ["".join(p) for p in itertools.product("ATCG", repeat=k)]


def seq2kmer(seq, k):  # DNABERT's own helper
    return " ".join(seq[i : i + k] for i in range(len(seq) + 1 - k))


SEQS = [
    "ACGTACG",
    "ACGTA",
    "ACGTNACGTACGTA",
    "ACGTGTACGTGCACGGACGACTAGTCAGCA",
    "ACGTGTACNTGCACGGANCGACTAGTCTGA",
    "ACGTRYKMACGTAC",
    "acgtacgtac",
    "ACGTACgtacgtACGT",
    "NNNNNNNNNNNN",
    "A",
    "",
    "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTA",
    "GATTACAGATTACAGATTACAGATTACAGATTACAWSGATTACA",
    "AC<mask>GT",
]

cases = {}
for k in (3, 6):
    path = os.path.join(out, f"dnabert{k}_vocab.txt")
    with open(path, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + kmers(k)) + "\n")
    tok = BertTokenizer(path, do_lower_case=False)
    # Letters only: DNABERT never sees "<mask>" text.
    cases[f"dnabert{k}"] = [{"sequence": s, "ids": tok(seq2kmer(s, k))["input_ids"]} for s in SEQS if s.isalpha() or not s]

for version in ("v1", "v2"):
    specials = ["<unk>", "<pad>", "<mask>", "<cls>"] + ([] if version == "v1" else ["<eos>", "<bos>"])
    tail = ["<eos>", "<bos>"] if version == "v1" else []
    path = os.path.join(out, f"nt_{version}_vocab.txt")
    with open(path, "w") as f:
        f.write("\n".join(specials + kmers(6) + list("ATCGN") + tail) + "\n")
    tok = EsmTokenizer(path, unk_token="<unk>", cls_token="<cls>", pad_token="<pad>", mask_token="<mask>", eos_token=None)
    got = []
    for s in SEQS:
        ids = tok(s)["input_ids"]
        got.append({"sequence": s, "ids": ids})
    cases[f"nt_{version}"] = got

with open(os.path.join(out, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print({k: [len(c["ids"]) for c in v] for k, v in cases.items()})
