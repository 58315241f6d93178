"""Small `torch.save` files for the tests of src/model/io/torch_bin/ (the
pure-Rust reader of pytorch_model.bin state dicts). The Rust tests state
the expected values themselves; this script only writes the inputs.

    pip install torch
    python3 scripts/reference/torch_bin_fixtures.py --out tests/fixtures/torch_bin

Writes into --out (each file a few KB):
  dtypes.bin       f16, bf16, f64 and int64 tensors
  transposed.bin   non-contiguous views saved as is (a transpose, an
                   expanded view with a zero stride)
  shared.bin       several names over one storage (tied weights, a row view)
  slice.bin        a slice with a storage offset
  parameter.bin    an nn.Parameter (torch._utils._rebuild_parameter)
  scalar.bin       a 0-dim tensor
  module.bin       an nn.Module state_dict (OrderedDict with _metadata)
  legacy.bin       the pre-1.6 (non-zip) format, which the reader refuses
  evil.bin         a pickle that would call os.system on torch.load
                   (weights_only=False); the reader must refuse it
"""
import argparse
import os

import torch


class Evil:
    """Pickles as a call of os.system; never loaded by the tests' reader."""

    def __reduce__(self):
        return (os.system, ("echo this file would run a command",))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/torch_bin")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)

    def save(name, obj, **kw):
        torch.save(obj, os.path.join(out, name), **kw)

    save(
        "dtypes.bin",
        {
            "h": torch.tensor([1.5, -2.0, 65504.0, 0.0009765625], dtype=torch.float16),
            "b": torch.tensor([[1.0, -3.5], [256.0, 0.0078125]], dtype=torch.bfloat16),
            "d": torch.tensor([0.1, -2.5, 1e10], dtype=torch.float64),
            "i": torch.tensor([1, -2, 3], dtype=torch.int64),
        },
    )

    t = torch.arange(6.0).reshape(2, 3).t()
    assert not t.is_contiguous() and t.stride() == (1, 3)
    e = torch.tensor([7.0, 8.0]).reshape(2, 1).expand(2, 3)
    assert e.stride() == (1, 0)
    save("transposed.bin", {"t": t, "e": e})

    w = torch.arange(6.0).reshape(3, 2)
    save("shared.bin", {"emb": w, "same": w, "decoder": w.detach(), "row": w[1]})

    x = torch.arange(10.0)
    save("slice.bin", {"s": x[3:7]})

    save("parameter.bin", {"p": torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))})

    save("scalar.bin", {"z": torch.tensor(2.5)})

    lin = torch.nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        lin.bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
    sd = lin.state_dict()
    assert hasattr(sd, "_metadata")
    save("module.bin", sd)

    save("legacy.bin", {"x": torch.tensor([1.0, 2.0])}, _use_new_zipfile_serialization=False)

    save("evil.bin", {"x": Evil()})

    for name in sorted(os.listdir(out)):
        size = os.path.getsize(os.path.join(out, name))
        assert size < 10_000, (name, size)
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
