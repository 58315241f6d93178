#!/usr/bin/env python3
"""Writes the seed inputs fuzz/corpus/<target>/seed-* from the repository's
fixtures and a few hand-made files (standard library only). Run from the
repository root; the inputs the fuzzer found are kept beside the seeds."""

import gzip
import json
import struct
import zipfile
from pathlib import Path

CORPUS = Path("fuzz/corpus")
SEPARATOR = b"\n--storage--\n"  # src/testing/fuzz/weights.rs


def put(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def gz(data):
    return gzip.compress(data, mtime=0)


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw bytes)."""
    header, blobs, at = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def f32(*values):
    return struct.pack(f"<{len(values)}f", *values)


def sequences():
    sample = Path("examples/sample.fa").read_bytes()
    put("fasta", "sample", sample)
    put("fasta", "sample-gz", gz(sample))
    put("fasta", "shapes", b"\xef\xbb\xbf>chr1 human\r\nACGTacgtNNuu\r\n\r\n>chr2\tx\nRYKM\n  >c\nA\n  C\n")
    put("fasta", "two-members", gz(b">a desc\nAC\nGT\n") + gz(b">b\nTTTT\n"))
    put("fasta", "duplicates", b">x\nA\n>x\nC\n>y\nG\n>x\nT\n")
    put("fasta", "empty-record", b">a\n>b\nAC")
    put("fasta", "data-first", b"ACGT\n>a\nAC\n")
    gue = Path("tests/data/gue_sample.csv").read_bytes()
    put("csv", "gue", gue)
    put("csv", "gue-gz", gz(gue))
    put("csv", "columns", b'ID,Sequence,Label\r\nr1,AC,x\r\n,GG,\r\n"r,3","TT",y\r\n')
    put("csv", "names", b"name,sequence\nalpha,ACNN\nbeta,GU\nalpha,CC\n")
    put("csv", "ragged", b"sequence,label\nAC,1\nGG\n")
    put("text", "lines", b"acgt\r\n\r\n  GGNC \r\nTTTT")
    put("text", "invalid", b"AC\nA.C\n")
    put("text", "gz", gz(b"ACGT\nRYSW\n"))


def variants():
    put("vcf", "fixture", Path("tests/fixtures/vep/variants.vcf").read_bytes())
    put("vcf", "example", Path("examples/variants.vcf").read_bytes())
    put("vcf", "headerless", b"c1\t2\t.\tC\tT,<DEL>\nc1\t5\trs9\tac\ta\t.\t.\tDP=1\r\n\nc2\t1\tx\tN\tG[c1:3[\n")
    put("vcf", "bad", b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\nc1\t0\t.\tA\tG\n")


def weights():
    fixture = Path("tests/fixtures/train/batch.safetensors").read_bytes()
    put("safetensors", "batch", fixture)
    put("safetensors", "dtypes", safetensors({
        "a.f16": ("F16", [2, 2], struct.pack("<4e", 1.0, -2.0, 0.5, 3.0)),
        "b.bf16": ("BF16", [3], struct.pack("<3H", 0x3F80, 0xC000, 0x4040)),
        "c.f64": ("F64", [1, 2], struct.pack("<2d", 1.5, -0.25)),
        "d.f32": ("F32", [], f32(7.0)),
        "e.empty": ("F32", [0, 4], b""),
    }, {"format": "pt"}))
    put("safetensors", "int", safetensors({"ids": ("I64", [2], struct.pack("<2q", 1, 2))}))
    for path in sorted(Path("tests/fixtures/torch_bin").glob("*.bin")):
        data = path.read_bytes()
        put("torch_bin", path.stem, data)
        if not zipfile.is_zipfile(path):
            continue
        # CRC-32 0 means "not computed" (torch can write it): the fuzzer's
        # edits inside an entry then reach the pickle.
        put("torch_bin", path.stem + "-nocrc", zero_crcs(data))
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            root = names[0].split("/")[0]
            pickle = z.read(f"{root}/data.pkl")
            storages = sorted(
                (n for n in names if n.startswith(f"{root}/data/")),
                key=lambda n: int(n.rsplit("/", 1)[1]),
            )
            parts = [pickle] + [z.read(n) for n in storages]
        put("torch_pickle", path.stem, SEPARATOR.join(parts))


def zero_crcs(data):
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset:at + offset + 4] = b"\0\0\0\0"
            at = out.find(signature, at + 4)
    return bytes(out)


def tokenizers():
    # DNABERT-2's tokenizer.json cut to its first tokens and the merges
    # among them: the same structure in a few KB.
    full = json.loads(Path("assets/dnabert2/tokenizer.json").read_text())
    vocab = {t: i for t, i in full["model"]["vocab"].items() if i < 48}
    merges = [m for m in full["model"]["merges"]
              if all(p in vocab for p in m.split(" ") + [m.replace(" ", "")])]
    full["model"]["vocab"] = vocab
    full["model"]["merges"] = merges
    put("tokenizer_json", "dnabert2-cut", json.dumps(full, separators=(",", ":")))
    for name in ["dnabert3_vocab", "nt_v1_vocab", "nt_v2_vocab"]:
        put("vocab_txt", name, Path(f"tests/fixtures/other_tokenizers/{name}.txt").read_bytes())


def configs():
    for folder in ["assets/dnabert2", "tests/fixtures/dnabert_tiny", "tests/fixtures/nt_v1_tiny",
                   "tests/fixtures/nt_v2_tiny", "tests/fixtures/train/cls"]:
        put("config_json", folder.split("/")[-1], Path(f"{folder}/config.json").read_bytes())
    for name in ["peft", "dnabert_tiny_peft", "nt_v2_tiny_peft"]:
        put("adapter_config", name, Path(f"tests/fixtures/{name}/adapter/adapter_config.json").read_bytes())
    adapter = Path("tests/fixtures/nt_v2_tiny_peft/adapter")
    put("adapter", "nt_v2_tiny", (adapter / "adapter_config.json").read_bytes() + b"\0"
        + (adapter / "adapter_model.safetensors").read_bytes())
    config = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "lora_dropout": 0.1,
              "target_modules": "query|value", "modules_to_save": ["classifier"], "bias": "none"}
    tiny = safetensors({
        "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight": ("F32", [2, 2], f32(1, 2, 3, 4)),
        "base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight": ("F32", [2, 2], f32(0, 1, 0, 1)),
        "base_model.model.classifier.modules_to_save.default.weight": ("F32", [2, 2], f32(1, 0, 0, 1)),
    }, {"format": "pt"})
    put("adapter", "tiny", json.dumps(config).encode() + b"\0" + tiny)
    state = {"step": 120, "batches": 120, "epoch": 1, "tokens": 61440, "elapsed_s": 12.5,
             "settings": {"seed": 7, "lr": 0.0005, "batch_size": 8, "data": ["a.fa", "b.fa.gz"]}}
    put("checkpoint_state", "state", json.dumps(state, indent=2))


if __name__ == "__main__":
    sequences()
    variants()
    weights()
    tokenizers()
    configs()
