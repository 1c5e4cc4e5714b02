"""Embedding lookup: out[...] = weight[indices[...]], a table of rows read by index.

The backward adds each output row's gradient into the row it was read from. Indices
repeat (a word used twice, a class in many samples), so the additions must accumulate:
the rows are sorted by index, summed per run of equal indices with np.add.reduceat, and
written once per distinct index. This is one pass of vectorised work, where
np.add.at(grad, indices, g) would do a slow per-element scatter.
"""

from tlcore import backend
from tlcore.autograd import Function


def accumulate_rows(indices, rows, num_rows):
    """sum over k of rows[k] placed at row indices[k] of a (num_rows, D) zero array."""
    xp = backend.array_module(rows)
    out = xp.zeros((num_rows,) + rows.shape[1:], dtype=rows.dtype)
    if indices.size == 0:
        return out
    order = xp.argsort(indices, kind="stable")
    sorted_indices = indices[order]
    starts = xp.flatnonzero(xp.concatenate(
        [xp.ones(1, dtype=bool), sorted_indices[1:] != sorted_indices[:-1]]))
    out[sorted_indices[starts]] = xp.add.reduceat(rows[order], starts, axis=0)
    return out


class Embedding(Function):
    """Inputs: weight (num_embeddings, D); ``indices`` (any shape of ints) is a setting.
    Output: indices.shape + (D,). ``padding_idx``: that row gets no gradient (PyTorch)."""

    def __init__(self, indices, padding_idx=None):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        if weight.ndim != 2:
            raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), "
                             f"got shape {weight.shape}")
        # the indices live where the table does (a numpy index array for a GPU table
        # is copied over once, here, so that the backward runs on one device)
        self.indices = backend.check_indices(self.indices, weight.shape[0], "embedding",
                                             "indices", "row", like=weight)
        self.num_rows = weight.shape[0]
        if self.padding_idx is not None:  # negative counts from the end, as in PyTorch
            if not -self.num_rows <= self.padding_idx < self.num_rows:
                raise ValueError(f"embedding: padding_idx must be in [-{self.num_rows}, "
                                 f"{self.num_rows}), got {self.padding_idx}")
            self.padding_idx %= self.num_rows
        return weight[self.indices]

    def backward(self, g):
        flat = self.indices.reshape(-1)
        rows = g.reshape(flat.size, g.shape[-1])
        if self.padding_idx is not None:
            keep = flat != self.padding_idx
            flat, rows = flat[keep], rows[keep]
        return accumulate_rows(flat, rows, self.num_rows)
