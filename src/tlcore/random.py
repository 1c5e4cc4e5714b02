"""The engine's random state: one numpy Generator, reseeded by ``manual_seed``.

Everything random in tlcore (initialisation, dropout, data shuffling) draws from
``generator()``, so ``tlcore.manual_seed(0)`` makes a run repeatable.
"""

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reseed tlcore's random generator (PyTorch's torch.manual_seed)."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    """The current numpy Generator."""
    return _generator
