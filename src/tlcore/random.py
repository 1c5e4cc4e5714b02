"""The engine's random state: one numpy Generator, reseeded by ``manual_seed``.

Everything random in tlcore (initialisation, dropout, data shuffling) draws from
``generator()``, so ``tlcore.manual_seed(0)`` makes a run repeatable. Functions that take
a ``seed`` argument draw from ``generator_for(seed)``: None follows ``manual_seed``, an
integer makes a private ``np.random.default_rng(seed)`` that gives the same draws
whatever else ran before (scikit-learn's ``random_state``), a Generator is used as is.
The generator is made on first use: numpy.random is not imported by ``import tlcore``.
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


def generator_for(seed):
    """The numpy Generator for ``seed`` (None, a non-negative int or a Generator)."""
    if seed is None:
        return generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(f"seed must be None, a non-negative integer or a numpy Generator, "
                     f"got {seed!r}")


def get_rng_state():
    """A copy of the generator's state, for ``set_rng_state`` (PyTorch's
    torch.get_rng_state): a dict, numpy's bit generator state."""
    return generator().bit_generator.state


def set_rng_state(state):
    """Put the generator where ``get_rng_state`` found it: the draws that follow are the
    ones that followed then."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be the dict that get_rng_state returned, got "
                        f"{type(state).__name__}")
    generator().bit_generator.state = state
