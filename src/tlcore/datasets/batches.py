"""Minibatches: one pass (an epoch) over the samples, batch_size at a time."""

import numbers

import numpy as np

from tlcore.datasets.split import check_samples
from tlcore.random import generator_for


def minibatches(X, y, batch_size, shuffle=True, seed=None, drop_last=False):
    """An iterator of ``(xb, yb)`` array pairs that visits every sample once.

    shuffle=True visits the samples in a random order drawn now, from
    ``generator_for(seed)`` (``seed=None`` follows ``tlcore.manual_seed``). The last
    batch holds what is left (fewer than batch_size) unless ``drop_last`` drops it.
    Each batch is a copy. PyTorch's ``DataLoader(TensorDataset(X, y), batch_size,
    shuffle, drop_last)`` over arrays. Call it again for the next epoch.
    """
    X, y = check_samples(X, y)
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    n = len(y)
    order = generator_for(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return _batches(X, y, order[:stop], batch_size)


def _batches(X, y, order, batch_size):
    # A separate generator, so that minibatches() checks its arguments when called,
    # not at the first next().
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield X[index], y[index]
