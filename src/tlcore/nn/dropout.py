"""Dropout (Srivastava et al. 2014): active in train(), the identity in eval()."""

from tlcore import ops
from tlcore.nn.module import Module


class Dropout(Module):
    """Zero each element with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return ops.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
