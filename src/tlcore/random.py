"""The engine's random state: one numpy Generator, reseeded by ``manual_seed``.

Everything random in tlcore (initialisation, dropout, data shuffling) draws from
``generator()``, so ``tlcore.manual_seed(0)`` makes a run repeatable. The generator is
made on first use: numpy.random is not imported by ``import tlcore``.
"""

import numpy as np

_seed = 0
_generator = None


def manual_seed(seed):
    """Reseed tlcore's random generator (PyTorch's torch.manual_seed)."""
    global _seed, _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed, _generator = int(seed), None
    return generator()


def generator():
    """The current numpy Generator (seeded 0 until manual_seed says otherwise)."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng(_seed)
    return _generator
