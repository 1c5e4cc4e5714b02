"""Clustering with numpy alone: k-means and two scores that compare clusters with classes.

* ``kmeans_plus_plus``: k-means++ seeding (Arthur & Vassilvitskii, "k-means++: the
  advantages of careful seeding", SODA 2007). The first centre is a point drawn
  uniformly; each next centre is a point drawn with probability D(x)^2 / sum D^2, where
  D(x) is the distance from x to the nearest centre chosen so far.
* ``KMeans``: Lloyd's algorithm (Lloyd, "Least squares quantization in PCM", 1957/1982)
  from ``n_init`` k-means++ starts, keeping the run of lowest inertia
  sum_i ||x_i - c_{label(i)}||^2.
* ``normalized_mutual_info``: NMI(U, V) = I(U; V) / ((H(U) + H(V)) / 2), the arithmetic
  normalisation of Strehl & Ghosh (JMLR 2002) and Vinh, Epps & Bailey (JMLR 2010),
  scikit-learn's default.
* ``purity``: the share of points that belong to their cluster's majority class
  (Manning, Raghavan & Schuetze, Introduction to Information Retrieval, 2008, ch. 16).

Random draws come from ``generator_for(seed)``: ``seed=None`` follows
``tlcore.manual_seed``, an integer gives the same clusters whatever ran before.
"""

import numbers

import numpy as np

from tlcore.random import generator_for


# -- checking the input -------------------------------------------------------------------


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _samples(X, name="X"):
    """X as a float64 (N, D) array with N, D >= 1 and finite entries, or a ValueError."""
    samples = np.asarray(X, dtype=np.float64)
    if samples.ndim != 2 or 0 in samples.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array (samples, features), "
                         f"got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"{name} holds NaN or Inf")
    return samples


def _check_k(k, n_samples=None):
    """k as an int in [1, n_samples], or a ValueError."""
    if not _is_integer(k) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if n_samples is not None and k > n_samples:
        raise ValueError(f"k must be an integer in [1, {n_samples}] (the number of samples "
                         f"in X), got {k}")
    return int(k)


def _check_positive_integer(value, name):
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _labellings(labels_true, labels_pred):
    """Both labellings as 1-D arrays of one length N >= 1, or a ValueError."""
    true, pred = np.asarray(labels_true), np.asarray(labels_pred)
    for name, labels in (("labels_true", true), ("labels_pred", pred)):
        if labels.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per sample), got shape "
                             f"{labels.shape}")
        if labels.size == 0:
            raise ValueError(f"{name} is empty: there is nothing to compare")
    if len(true) != len(pred):
        raise ValueError(f"labels_true and labels_pred must label as many samples, got "
                         f"{len(true)} and {len(pred)}")
    return true, pred


# -- distances and seeding ----------------------------------------------------------------


def squared_distances(X, centres):
    """(N, K) matrix of ||x_n - c_k||^2 = ||x_n||^2 - 2 x_n.c_k + ||c_k||^2.

    One matrix product instead of an (N, K, D) array of differences. Rounding can make
    the expanded form slightly negative where x_n is (nearly) c_k, so it is clipped at 0.
    """
    X_squared = np.einsum("nd,nd->n", X, X)[:, None]
    centres_squared = np.einsum("kd,kd->k", centres, centres)[None, :]
    return np.maximum(X_squared - 2.0 * X @ centres.T + centres_squared, 0.0)


def kmeans_plus_plus(X, k, rng=None):
    """(k, D) float64 centres: k points of X chosen by k-means++ (Arthur & Vassilvitskii
    2007).

    The first centre is uniform over the points; each next one is point x with
    probability D(x)^2 / sum_y D(y)^2, D(x) the distance to the nearest centre so far.
    A chosen point has D = 0, so no point is chosen twice. Where every point already
    sits on a centre (X has fewer than k distinct points) the next one is uniform over
    the points not chosen yet. rng: None, an integer seed or a numpy Generator (see
    ``tlcore.random.generator_for``).
    """
    X = _samples(X)
    k = _check_k(k, len(X))
    rng = generator_for(rng)
    chosen = [int(rng.integers(len(X)))]
    # Exact differences rather than the expanded form: a chosen point must get D = 0
    # exactly, or rounding could give it a tiny chance of being drawn again.
    nearest = ((X - X[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = nearest.sum()
        if total > 0:
            index = int(rng.choice(len(X), p=nearest / total))
        else:
            index = int(rng.choice(np.setdiff1d(np.arange(len(X)), chosen)))
        chosen.append(index)
        nearest = np.minimum(nearest, ((X - X[index]) ** 2).sum(axis=1))
    return X[chosen].copy()


# -- k-means ------------------------------------------------------------------------------


def _fill_empty_clusters(labels, distances, k):
    """Give each empty cluster the point farthest from its own centre.

    The point is taken only from a cluster that keeps another point, so no cluster
    empties in turn (scikit-learn relocates empty clusters the same way). ``labels`` and
    ``distances`` are updated in place; the moved point is at distance 0 from its new
    centre, itself.
    """
    counts = np.bincount(labels, minlength=k)
    for empty in np.flatnonzero(counts == 0):
        movable = counts[labels] > 1
        farthest = int(np.argmax(np.where(movable, distances, -1.0)))
        counts[labels[farthest]] -= 1
        labels[farthest], counts[empty], distances[farthest] = empty, 1, 0.0
    return counts


def _lloyd(X, centres, max_iter, shift_tolerance):
    """(centres, labels, inertia, iterations): Lloyd's algorithm from ``centres``.

    Each iteration assigns every point to its nearest centre, then moves every centre
    to the mean of its points. It stops when the centres move by at most
    ``shift_tolerance`` (sum of squared shifts) or after ``max_iter`` iterations.
    """
    k = len(centres)
    for iteration in range(1, max_iter + 1):
        distances = squared_distances(X, centres)
        labels = distances.argmin(axis=1)
        counts = _fill_empty_clusters(labels, distances[np.arange(len(X)), labels], k)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, X)
        moved = sums / counts[:, None]
        shift = ((moved - centres) ** 2).sum()
        centres = moved
        if shift <= shift_tolerance:
            break
    # The labels of the final centres (the loop's labels belong to the centres before).
    labels = squared_distances(X, centres).argmin(axis=1)
    # Exact differences: the expanded form loses digits for points far from the origin.
    inertia = float(((X - centres[labels]) ** 2).sum())
    return centres, labels, inertia, iteration


class KMeans:
    """k-means clustering: k centres that minimise the inertia sum_i ||x_i - c_{l(i)}||^2.

    Lloyd's algorithm runs from ``n_init`` starts and the run of lowest inertia is kept.
    init: "k-means++" (Arthur & Vassilvitskii 2007) or a (k, D) array of initial
    centres, which gives a single run whatever n_init says. tol: the run stops when the
    sum of squared centre shifts in an iteration is at most tol times the mean variance
    of X's features (scikit-learn's convention); tol=0 runs until no label changes.
    An emptied cluster gets the point farthest from its centre.
    After ``fit``: ``centres`` (k, D), ``labels`` (N,), ``inertia``, ``iterations`` (of
    the kept run). scikit-learn's ``KMeans(n_clusters=k, init=..., n_init=...,
    max_iter=..., tol=..., random_state=seed, algorithm="lloyd")``.
    """

    def __init__(self, k, n_init=10, max_iter=100, tol=1e-6, seed=None, init="k-means++"):
        self.k = _check_k(k)
        self.n_init = _check_positive_integer(n_init, "n_init")
        self.max_iter = _check_positive_integer(max_iter, "max_iter")
        if not isinstance(tol, numbers.Real) or not tol >= 0:
            raise ValueError(f"tol must be a number >= 0, got {tol!r}")
        self.tol = float(tol)
        self.seed = seed
        if isinstance(init, str):
            if init != "k-means++":
                raise ValueError(f'init must be "k-means++" or a (k, D) array of centres, '
                                 f"got {init!r}")
        else:
            init = _samples(init, "init")
            if len(init) != self.k:
                raise ValueError(f"init must hold k={self.k} centres (one per row), got "
                                 f"shape {init.shape}")
        self.init = init
        self.centres = self.labels = self.inertia = self.iterations = None

    def _starts(self, X):
        """The initial centres of each run."""
        if isinstance(self.init, str):
            rng = generator_for(self.seed)
            return [kmeans_plus_plus(X, self.k, rng) for _ in range(self.n_init)]
        if self.init.shape[1] != X.shape[1]:
            raise ValueError(f"init has {self.init.shape[1]} features per centre but X has "
                             f"{X.shape[1]}")
        return [self.init.copy()]

    def fit(self, X):
        """Cluster the rows of X; returns self."""
        X = _samples(X)
        _check_k(self.k, len(X))
        shift_tolerance = self.tol * X.var(axis=0).mean()
        best = None
        for centres in self._starts(X):
            run = _lloyd(X, centres, self.max_iter, shift_tolerance)
            if best is None or run[2] < best[2]:
                best = run
        self.centres, self.labels, self.inertia, self.iterations = best
        return self

    def predict(self, X):
        """(N,) index of the nearest centre for each row of X."""
        if self.centres is None:
            raise RuntimeError("this KMeans has not been fitted yet: call fit(X) first")
        X = _samples(X)
        if X.shape[1] != self.centres.shape[1]:
            raise ValueError(f"X must have {self.centres.shape[1]} features, as in fit, got "
                             f"{X.shape[1]}")
        return squared_distances(X, self.centres).argmin(axis=1)

    def fit_predict(self, X):
        """fit(X), then the labels of X's rows."""
        return self.fit(X).labels


# -- comparing clusters with classes ------------------------------------------------------


def contingency_table(labels_true, labels_pred):
    """(C, K) counts n_ck of the points of class c (sorted label order) in cluster k."""
    true, pred = _labellings(labels_true, labels_pred)
    _, classes = np.unique(true, return_inverse=True)
    _, clusters = np.unique(pred, return_inverse=True)
    table = np.zeros((classes.max() + 1, clusters.max() + 1), dtype=np.int64)
    np.add.at(table, (classes, clusters), 1)
    return table


def _entropy(counts):
    """H = -sum_i p_i log p_i (nats) of the distribution counts / counts.sum()."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true, labels_pred):
    """NMI = I(U; V) / ((H(U) + H(V)) / 2), in [0, 1]; 1 when the clusters are the
    classes up to renaming.

    I(U; V) = sum_ck (n_ck / N) log(N n_ck / (n_c n_k)), with n_c the class sizes and n_k
    the cluster sizes; H the entropies of the two labellings. Arithmetic-mean
    normalisation (Strehl & Ghosh, JMLR 2002; Vinh, Epps & Bailey, JMLR 2010), as in
    scikit-learn's ``normalized_mutual_info_score``. Where both labellings put every
    point in one group, NMI is 0/0 and is defined as 1.0 (a perfect match), as there.
    """
    table = contingency_table(labels_true, labels_pred)
    if table.shape == (1, 1):
        return 1.0
    n = table.sum()
    class_sizes, cluster_sizes = table.sum(axis=1), table.sum(axis=0)
    c, k = np.nonzero(table)
    joint = table[c, k] / n
    information = (joint * np.log(n * table[c, k] / (class_sizes[c] * cluster_sizes[k]))).sum()
    # I >= 0; rounding can leave a tiny negative value for independent labellings.
    information = max(float(information), 0.0)
    if information == 0.0:
        return 0.0
    return information / ((_entropy(class_sizes) + _entropy(cluster_sizes)) / 2)


def purity(labels_true, labels_pred):
    """(1/N) sum_k max_c n_ck: the share of points in their cluster's majority class.

    1 when every cluster holds a single class; it does not penalise many clusters (one
    point per cluster gives 1), so report it with NMI.
    """
    table = contingency_table(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())
