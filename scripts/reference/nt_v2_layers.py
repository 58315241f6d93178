"""The Nucleotide Transformer v2's feed-forward as its checkpoints define it
(their remote modeling_esm.py): SwiGLU without biases (intermediate
[2I, H], silu on the first half times the second) and an output dense
without bias. `use_v2_feed_forward` swaps it into transformers' ESM layers;
the fixture scripts and the benchmark baseline share it.
"""
import torch


class SwiGlu(torch.nn.Module):
    def __init__(self, h, i):
        super().__init__()
        self.dense = torch.nn.Linear(h, 2 * i, bias=False)
        self.i = i

    def forward(self, x):
        u = self.dense(x)
        return torch.nn.functional.silu(u[..., :self.i]) * u[..., self.i:]


def use_v2_feed_forward(layers, h, i):
    """Replaces each ESM layer's intermediate and output dense in place."""
    for layer in layers:
        layer.intermediate = SwiGlu(h, i)
        layer.output.dense = torch.nn.Linear(i, h, bias=False)
