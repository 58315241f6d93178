"""Independent PyTorch reference of `dnagpu vep` (variant-effect scores from
the masked-LM head), written from the definition in issue 17 / src/vep/mod.rs
docs, on top of the reference models the other fixtures use: DNABERT-2 in
plain PyTorch (dnabert2_reference.py, f64), DNABERT (`transformers`'
BertForMaskedLM) and the Nucleotide Transformer v1 / v2 (EsmForMaskedLM,
v2's SwiGLU swapped in as nt_v2_layers.py does; EsmForSequenceClassification
for v1's head), all run in f64. Tokens come from the upstream tokenizers:
`tokenizers` (BPE, its offsets give each token's bases), BertTokenizer on
DNABERT's k-mer text (k-mer i covers bases i..i+k), EsmTokenizer (each
token's bases from its text: a 6-mer or one base).

    pip install torch safetensors tokenizers transformers
    python3 scripts/reference/vep_fixtures.py --out tests/fixtures/vep

Writes into --out: genome.fa (two random chromosomes, a soft-masked stretch
and an N), variants.vcf (SNVs, an MNV, an insertion, a deletion, a
multi-allelic record with a symbolic allele, a `*` allele, a symbolic-only
record, variants whose windows are clipped at both chromosome ends), and per
model folder M of tests/fixtures (tiny = DNABERT-2, dnabert_tiny,
nt_v1_tiny, nt_v2_tiny): M.csv, the expected output of
`dnagpu vep --model tests/fixtures/M --flank 20` (p_ref_k / p_alt_k where the
model has a classification head), and M.json, per scored allele its four
windows' ids, masked sets and log-likelihoods L.
"""
import argparse
import csv
import itertools
import json
import os
import random
import sys

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
sys.path.insert(0, HERE)
import dnabert2_reference as d2  # noqa: E402
from nt_v2_layers import use_v2_feed_forward  # noqa: E402

FLANK = 20
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def revcomp(s):
    return "".join(COMPLEMENT[c] for c in reversed(s))


# ---------------------------------------------------------------- inputs

def make_genome(rnd):
    chr1 = [rnd.choice("ACGT") for _ in range(300)]
    for i in range(120, 140):  # soft-masked repeat
        chr1[i] = chr1[i].lower()
    chr2 = [rnd.choice("ACGT") for _ in range(150)]
    chr2[60] = "N"
    return {"chr1": "".join(chr1), "chr2": "".join(chr2)}


def other_base(b, rnd):
    return rnd.choice([c for c in "ACGT" if c != b.upper()])


def make_vcf(genome, rnd):
    g1, g2 = genome["chr1"].upper(), genome["chr2"].upper()
    rows = []

    def rec(chrom, pos, rid, ref, alts, rest=".\tPASS\t."):
        rows.append(f"{chrom}\t{pos}\t{rid}\t{ref}\t{','.join(alts)}\t{rest}")

    def ref_at(g, pos, n=1):
        return g[pos - 1:pos - 1 + n]

    rec("chr1", 100, "rs1", ref_at(g1, 100), [other_base(ref_at(g1, 100), rnd)])
    r = ref_at(g1, 3)  # window clipped at the chromosome's start
    rec("chr1", 3, "start", r, [other_base(r, rnd)], ".\t.\tDP=7")
    r = ref_at(g1, 150)
    alts = [c for c in "ACGT" if c != r]
    rec("chr1", 150, "multi", r, [alts[0], "<DEL>", alts[1]])
    r = ref_at(g1, 200)
    rec("chr1", 200, "ins", r, [r + "GTA"])
    rec("chr1", 230, "del", ref_at(g1, 230, 4), [ref_at(g1, 230)])
    r = ref_at(g1, 130)  # inside the soft-masked stretch
    rec("chr1", 130, "masked", r, [other_base(r, rnd), "*"])
    r = ref_at(g1, 260, 2)  # MNV
    rec("chr1", 260, "mnv", r, [other_base(r[0], rnd) + other_base(r[1], rnd)])
    rec("chr2", 40, "sv", ref_at(g2, 40), ["<INS>"])
    r = ref_at(g2, 58)  # near the N
    rec("chr2", 58, ".", r, [other_base(r, rnd)])
    r = ref_at(g2, 149)  # window clipped at the chromosome's end
    rec("chr2", 149, "end", r, [other_base(r, rnd)])
    rec("chr2", 147, "enddel", ref_at(g2, 147, 4), [ref_at(g2, 147)])
    head = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=300>", "##contig=<ID=chr2,length=150>",
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    return "\n".join(head + rows) + "\n"


def parse_vcf(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        c = line.split("\t")
        out.append({"chrom": c[0], "pos": int(c[1]), "id": c[2], "ref": c[3].upper(),
                    "alts": c[4].split(",")})
    return out


def alleles(genome, records):
    """Per scorable ALT: its record and the REF / ALT windows (seq, lo, hi)."""
    out = []
    for r in records:
        g = genome[r["chrom"]].upper()
        p, n = r["pos"] - 1, len(g)
        start, end = max(0, p - FLANK), min(n, p + len(r["ref"]) + FLANK)
        assert g[p:p + len(r["ref"])] == r["ref"], r
        ref_win = (g[start:end], p - start, p - start + len(r["ref"]))
        for alt in r["alts"]:
            if alt in (".", "*") or alt.startswith("<"):
                continue
            alt_win = (g[start:p] + alt + g[p + len(r["ref"]):end], p - start, p - start + len(alt))
            out.append((r, alt, ref_win, alt_win))
    return out


def reverse(win):
    s, lo, hi = win
    return revcomp(s), len(s) - hi, len(s) - lo


# ---------------------------------------------------------------- models

class Dnabert2:
    """DNABERT-2 in plain PyTorch (dnabert2_reference.py)."""

    def __init__(self, folder):
        from tokenizers import Tokenizer
        self.cfg = json.load(open(os.path.join(folder, "config.json")))
        self.p = load_file(os.path.join(folder, "model.safetensors"))
        self.tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.mask = self.tok.token_to_id("[MASK]")
        self.classes = self.cfg.get("num_labels") if "classifier.weight" in self.p else None

    def tokens(self, seq):
        e = self.tok.encode(seq)
        spans = [None if sp else off for off, sp in zip(e.offsets, e.special_tokens_mask)]
        return e.ids, spans

    def last(self, ids):
        x = torch.tensor([ids])
        return d2.encoder(self.p, self.cfg, x, torch.ones_like(x))[-1][0]

    def logits(self, ids):
        return d2.mlm_logits(self.p, self.last(ids))

    def probs(self, ids):
        return d2.classify(self.p, self.last(ids))


class Hf:
    """A transformers masked LM (BERT or ESM) in f64."""

    def __init__(self, folder, kind):
        from transformers import BertForMaskedLM, BertTokenizer, EsmConfig, EsmForMaskedLM, \
            EsmForSequenceClassification, EsmTokenizer
        self.kind = kind
        self.cls = None
        if kind == "bert":
            self.mlm, info = BertForMaskedLM.from_pretrained(folder, output_loading_info=True)
            assert not info["missing_keys"], info
            self.tok = BertTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=False)
            self.k = len([t for t in self.tok.vocab if not t.startswith("[")][0])
        else:
            cfg = EsmConfig.from_pretrained(folder)
            self.mlm = EsmForMaskedLM(cfg)
            if cfg.position_embedding_type == "rotary":
                use_v2_feed_forward(self.mlm.esm.encoder.layer, cfg.hidden_size, cfg.intermediate_size)
            state = load_file(os.path.join(folder, "model.safetensors"))
            mine = {k: v for k, v in state.items() if not k.startswith("classifier.")}
            self.mlm.load_state_dict(mine, strict=True)
            if any(k.startswith("classifier.") for k in state):
                self.cls, info = EsmForSequenceClassification.from_pretrained(folder, output_loading_info=True)
                assert not info["missing_keys"], info
                self.cls = self.cls.double().eval()
            self.tok = EsmTokenizer(os.path.join(folder, "vocab.txt"), cls_token="<cls>", pad_token="<pad>",
                                    mask_token="<mask>", unk_token="<unk>", eos_token=None)
        self.mlm = self.mlm.double().eval()
        self.mask = self.tok.mask_token_id
        self.classes = self.cls.config.num_labels if self.cls is not None else None

    def tokens(self, seq):
        if self.kind == "bert":
            k = self.k
            ids = self.tok(" ".join(seq[i:i + k] for i in range(len(seq) - k + 1)))["input_ids"]
            spans = [None] + [(i, i + k) for i in range(len(ids) - 2)] + [None]
            return ids, spans
        ids = self.tok(seq)["input_ids"]
        spans, at = [], 0
        for t in self.tok.convert_ids_to_tokens(ids):
            if t in ("<cls>", "<eos>"):
                spans.append(None)
                continue
            assert t != "<unk>", seq
            spans.append((at, at + len(t)))
            at += len(t)
        assert at == len(seq), (seq, ids)
        return ids, spans

    def _run(self, ids, head):
        x = torch.tensor([ids])
        with torch.no_grad():
            return head(input_ids=x, attention_mask=torch.ones_like(x))

    def logits(self, ids):
        return self._run(ids, self.mlm).logits[0]

    def last(self, ids):
        base = self.mlm.bert if self.kind == "bert" else self.mlm.esm
        return self._run(ids, base).last_hidden_state[0]

    def probs(self, ids):
        return torch.softmax(self._run(ids, self.cls).logits[0], -1)


# ---------------------------------------------------------------- the definition

def window_scores(model, win):
    """(ids, masked set, L, mean of the last hidden state) of one window."""
    seq, lo, hi = win
    ids, spans = model.tokens(seq)
    masked = [i for i, s in enumerate(spans) if s is not None and s[0] < hi and lo < s[1]]
    assert masked, win
    masked_ids = [model.mask if i in masked else t for i, t in enumerate(ids)]
    with torch.no_grad():
        logp = torch.log_softmax(model.logits(masked_ids).double(), -1)
        L = float(sum(logp[i, ids[i]] for i in masked))
        mean = model.last(ids).double().mean(0)
    return ids, masked, L, mean


def cos_distance(a, b):
    return float(1.0 - torch.dot(a, b) / (a.norm() * b.norm()))


def score(model, items):
    rows, details = [], []
    for r, alt, ref_win, alt_win in items:
        wins = [ref_win, alt_win, reverse(ref_win), reverse(alt_win)]
        got = [window_scores(model, w) for w in wins]
        L = [g[2] for g in got]
        llr_fwd, llr_rev = L[1] - L[0], L[3] - L[2]
        dist = (cos_distance(got[0][3], got[1][3]) + cos_distance(got[2][3], got[3][3])) / 2
        row = [r["chrom"], r["pos"], r["id"], r["ref"], alt, (llr_fwd + llr_rev) / 2, llr_fwd, llr_rev, dist]
        if model.classes:
            with torch.no_grad():
                p_ref = model.probs(got[0][0]).tolist()
                p_alt = model.probs(got[1][0]).tolist()
            row += p_ref + p_alt
        rows.append(row)
        details.append({"record": f"{r['chrom']}:{r['pos']}", "alt": alt,
                        "windows": [{"ids": g[0], "masked": g[1], "L": g[2]} for g in got]})
    return rows, details


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(FIXTURES, "vep"))
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    rnd = random.Random(args.seed)
    genome = make_genome(rnd)
    with open(os.path.join(args.out, "genome.fa"), "w") as f:
        for name, seq in genome.items():
            f.write(f">{name} random\n")
            for i in range(0, len(seq), 60):
                f.write(seq[i:i + 60] + "\n")
    vcf = make_vcf(genome, rnd)
    with open(os.path.join(args.out, "variants.vcf"), "w") as f:
        f.write(vcf)
    items = alleles(genome, parse_vcf(vcf))
    models = {
        "tiny": lambda: Dnabert2(os.path.join(FIXTURES, "tiny")),
        "dnabert_tiny": lambda: Hf(os.path.join(FIXTURES, "dnabert_tiny"), "bert"),
        "nt_v1_tiny": lambda: Hf(os.path.join(FIXTURES, "nt_v1_tiny"), "esm"),
        "nt_v2_tiny": lambda: Hf(os.path.join(FIXTURES, "nt_v2_tiny"), "esm"),
    }
    for name, make in models.items():
        model = make()
        rows, details = score(model, items)
        header = ["chrom", "pos", "id", "ref", "alt", "llr", "llr_fwd", "llr_rev", "embedding_distance"]
        if model.classes:
            header += [f"p_{side}_{k}" for side, k in itertools.product(["ref", "alt"], range(model.classes))]
        with open(os.path.join(args.out, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for row in rows:
                w.writerow([repr(v) if isinstance(v, float) else v for v in row])
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump({"flank": FLANK, "alleles": details}, f, separators=(",", ":"))
        print(f"{name}: {len(rows)} alleles")


if __name__ == "__main__":
    main()
