"""Flatten: merge axes start_dim..end_dim (PyTorch's nn.Flatten; it keeps the batch axis)."""

from tlcore import ops
from tlcore.nn.module import Module


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
