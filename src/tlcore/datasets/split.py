"""Choosing samples: a seeded train/test split, and k labelled examples per class.

Both draw from ``generator_for(seed)``: ``seed=None`` follows ``tlcore.manual_seed``,
an integer gives the same subsets whatever ran before.
"""

import math
import numbers

import numpy as np

from tlcore.random import generator_for


def check_samples(X, y):
    """``X`` and ``y`` as arrays, after checking that y holds one label per sample of X."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0:
        raise ValueError("X must hold samples along its first axis, got a scalar")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"X and y must hold as many samples, got {len(X)} and {len(y)}")
    return X, y


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _test_count(test_size, n):
    """How many of n samples go to the test set: a fraction (rounded up) or a count."""
    if _is_integer(test_size):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a number of samples, "
                         f"got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size={test_size!r} puts {n_test} of {n} samples in the test "
                         "set: both sets must keep at least one sample")
    return n_test


def _stratified_test(y, n_test, rng):
    """Test indices taking from each class its share of n_test (largest remainders)."""
    classes, labels, counts = np.unique(y, return_inverse=True, return_counts=True)
    share, remainder = np.divmod(counts * n_test, len(y))
    # Integer shares sum to at most n_test; the classes closest to their next sample
    # (largest remainder, then the first class) take the samples that are left.
    left = n_test - share.sum()
    share[np.argsort(-remainder, kind="stable")[:left]] += 1
    short = np.flatnonzero((share < 1) | (share > counts - 1))
    if short.size:  # scikit-learn refuses too, rather than leave a class out of one set
        c = short[0]
        raise ValueError(f"a stratified split with {n_test} of {len(y)} samples in the test "
                         f"set gives class {classes[c].item()!r} ({counts[c]} samples) {share[c]} "
                         "test samples: every class needs at least one in each set")
    picks = [rng.permutation(np.flatnonzero(labels == c))[:share[c]]
             for c in range(len(classes))]
    return rng.permutation(np.concatenate(picks))


def train_test_split(X, y, test_size=0.25, seed=None, stratify=False):
    """``(X_train, X_test, y_train, y_test)``: a random split of the samples.

    test_size: a fraction of the samples (the test count is rounded up) or a number of
    samples; both sets keep at least one. stratify=True gives every class the same
    share of the test set as of the whole (to within one sample per class). The sets
    are disjoint, cover all samples and come in random order.
    scikit-learn's ``train_test_split(X, y, test_size=..., random_state=seed,
    stratify=y if stratify else None)``.
    """
    X, y = check_samples(X, y)
    n_test = _test_count(test_size, len(y))
    rng = generator_for(seed)
    if stratify:
        test = _stratified_test(y, n_test, rng)
        in_test = np.zeros(len(y), dtype=bool)
        in_test[test] = True
        train = rng.permutation(np.flatnonzero(~in_test))
    else:
        order = rng.permutation(len(y))
        test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def per_class(X, y, k, seed=None):
    """``(X_k, y_k)``: k random examples of each class, for few-shot fine-tuning.

    The samples are shuffled once and the first k of each class are kept, grouped by
    class in sorted label order. With the same seed, the examples for k are among those
    for any larger k, so "1 label per class" grows into "5 labels per class".
    """
    X, y = check_samples(X, y)
    if not _is_integer(k) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if len(y) == 0:
        raise ValueError("y is empty: there is no class to take examples from")
    classes, counts = np.unique(y, return_counts=True)
    smallest = np.argmin(counts)
    if k > counts[smallest]:
        raise ValueError(f"k={k} is larger than class {classes[smallest]}, which has "
                         f"{counts[smallest]} examples")
    order = generator_for(seed).permutation(len(y))
    shuffled = y[order]
    chosen = np.concatenate([order[shuffled == c][:k] for c in classes])
    return X[chosen], y[chosen]
