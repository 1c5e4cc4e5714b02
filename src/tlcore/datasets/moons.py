"""Two interleaving half circles: the toy problem of domain-adversarial training.

Ganin et al. 2016 ("Domain-adversarial training of neural networks", JMLR, section 5.1)
train on these moons and adapt to a rotated copy of them (see ``transforms.rotate``).
"""

import numbers

import numpy as np

from tlcore.random import generator_for


def make_moons(n=300, noise=0.1, seed=None, shuffle=True):
    """``(X, y)``: ``n`` points on two half circles, X float32 (n, 2), y int64 (n,).

    The outer moon, label 0, holds ``n // 2`` points (cos t, sin t); the inner one,
    label 1, holds the other ``n - n // 2`` points (1 - cos t, 1 - sin t - 0.5); t is
    evenly spaced over [0, pi] on each moon. Gaussian noise of standard deviation
    ``noise`` is added to both coordinates; ``shuffle`` mixes the two moons' order.
    scikit-learn's ``make_moons(n_samples=n, noise=noise, random_state=seed)``, with
    tlcore's seeding: ``seed=None`` draws from ``tlcore.manual_seed``'s generator.
    """
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (a point on each moon), got {n!r}")
    if not isinstance(noise, numbers.Real) or not 0 <= noise < np.inf:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = generator_for(seed)
    n_outer, n_inner = n // 2, n - n // 2
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    X = np.concatenate([np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
                        np.stack([1 - np.cos(t_inner), 1 - np.sin(t_inner) - 0.5], axis=1)])
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    if shuffle:
        order = rng.permutation(n)
        X, y = X[order], y[order]
    if noise > 0:
        X = X + rng.normal(scale=noise, size=X.shape)
    return X.astype(np.float32), y
