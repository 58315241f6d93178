"""The merge of workflows/embed-genome: the shards' .npy files (float32
[n_i, H], as dnagpu writes them) concatenated in shard order into one
[N, H] file, byte for byte what one `dnagpu embed` run writes, and the BED of
the windows beside it, after checking that it has one line per row. Standard
library only (no NumPy); each output is written to a temporary name and
renamed when complete."""

import ast
import os
import shutil
import struct


def read_header(path):
    """(rows, width, offset of the data) of a float32 C-order .npy."""
    with open(path, "rb") as f:
        magic = f.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise ValueError(f"{path}: not a .npy file")
        if magic[6] == 1:
            (hlen,) = struct.unpack("<H", f.read(2))
            offset = 10 + hlen
        else:
            (hlen,) = struct.unpack("<I", f.read(4))
            offset = 12 + hlen
        header = ast.literal_eval(f.read(hlen).decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"] or len(header["shape"]) != 2:
        raise ValueError(f"{path}: expected float32 C-order [N, H], found {header}")
    rows, width = header["shape"]
    size = os.path.getsize(path) - offset
    if size != rows * width * 4:
        raise ValueError(f"{path}: {size} bytes of data for shape {header['shape']}")
    return rows, width, offset


def npy_header(rows, width):
    """The header dnagpu writes (format 1.0, padded to 64 bytes)."""
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, width)
    total = -(-(10 + len(text) + 1) // 64) * 64
    text += " " * (total - 10 - len(text) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def write_atomic(path, fill):
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            fill(out)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def merge(shards, bed, out_npy, out_bed, log):
    parts = [(p, *read_header(p)) for p in shards]
    widths = {w for _, _, w, _ in parts}
    if len(widths) != 1:
        raise ValueError(f"shards of different widths: {sorted(widths)}")
    width = next(iter(widths))
    rows = sum(r for _, r, _, _ in parts)
    with open(bed) as f:
        lines = sum(1 for _ in f)
    if lines != rows:
        raise ValueError(f"{bed}: {lines} windows for {rows} embedded rows")

    def fill(out):
        out.write(npy_header(rows, width))
        for path, _, _, offset in parts:
            with open(path, "rb") as f:
                f.seek(offset)
                shutil.copyfileobj(f, out, 1 << 20)

    def copy_bed(out):
        with open(bed, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)

    write_atomic(out_npy, fill)
    write_atomic(out_bed, copy_bed)
    log.write(f"merged {len(parts)} shards: {rows} rows of width {width}\n")


# Run by Snakemake's `script:`, which defines `snakemake`.
if "snakemake" in globals():
    with open(snakemake.log[0], "w") as log:  # noqa: F821 (set by Snakemake)
        merge(
            snakemake.input.npy,  # noqa: F821
            snakemake.input.bed,  # noqa: F821
            snakemake.output.npy,  # noqa: F821
            snakemake.output.bed,  # noqa: F821
            log,
        )
