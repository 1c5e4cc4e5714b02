"""Embedding: a table of num_embeddings vectors of size embedding_dim, read by index."""

import numpy as np

from tlcore import backend, ops
from tlcore.arguments import check_positive
from tlcore.nn import init
from tlcore.nn.module import Module
from tlcore.nn.parameter import Parameter


class Embedding(Module):
    """weight (num_embeddings, embedding_dim) drawn from N(0, 1), as in PyTorch; the
    padding_idx row (if given) starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None):
        super().__init__()
        self.num_embeddings = check_positive("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must be in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        dtype = dtype or backend.DEFAULT_FLOAT
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype))
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices):
        return ops.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
