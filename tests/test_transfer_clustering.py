"""k-means++ seeding, KMeans and the NMI and purity scores, against scikit-learn where it
is installed."""

from collections import Counter

import numpy as np
import pytest

import tlcore
from tlcore.transfer.clustering import (KMeans, kmeans_plus_plus, normalized_mutual_info,
                                        purity)


def blobs(seed, n_blobs=4, per_blob=25, spread=1.0, width=6.0, features=2):
    """(X, y): ``per_blob`` Gaussian points of standard deviation ``spread`` around each of
    ``n_blobs`` centres drawn uniformly in [-width, width]^features."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-width, width, (n_blobs, features))
    X = np.concatenate([c + spread * rng.standard_normal((per_blob, features))
                        for c in centres])
    return X, np.repeat(np.arange(n_blobs), per_blob)


def separated_blobs(seed):
    """Three tight blobs 100 apart: any sensible clustering finds them."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    X = np.concatenate([c + 0.5 * rng.standard_normal((20, 2)) for c in centres])
    return X, np.repeat([7, -1, 3], 20)


# -- k-means++ ----------------------------------------------------------------------------


def test_kmeans_plus_plus_picks_distinct_points_of_X():
    X, _ = blobs(0)
    centres = kmeans_plus_plus(X, 10, rng=1)
    assert centres.shape == (10, 2) and centres.dtype == np.float64
    rows = [int(np.flatnonzero((X == c).all(axis=1))[0]) for c in centres]
    assert len(set(rows)) == 10


def test_kmeans_plus_plus_never_repeats_a_point_even_with_duplicates():
    X = np.array([[0.0], [0.0], [5.0], [5.0]])  # two distinct values, four points
    for seed in range(20):
        centres = kmeans_plus_plus(X, 4, rng=seed)
        assert sorted(centres[:, 0].tolist()) == [0.0, 0.0, 5.0, 5.0]


def test_kmeans_plus_plus_follows_the_seed():
    X, _ = blobs(1)
    first = kmeans_plus_plus(X, 5, rng=3)
    np.testing.assert_array_equal(kmeans_plus_plus(X, 5, rng=3), first)
    np.testing.assert_array_equal(first[0], X[np.random.default_rng(3).integers(len(X))])
    assert any(not np.array_equal(kmeans_plus_plus(X, 5, rng=s), first) for s in (4, 5))
    tlcore.manual_seed(11)
    after_seed = kmeans_plus_plus(X, 5, rng=None)
    tlcore.manual_seed(11)
    np.testing.assert_array_equal(kmeans_plus_plus(X, 5, rng=None), after_seed)


def test_kmeans_plus_plus_draws_in_proportion_to_squared_distance():
    # Points 0, 1, 3: the first is uniform; after 0 the next is 1 with probability
    # 1 / (1 + 9) and 3 with 9 / 10.
    X = np.array([[0.0], [1.0], [3.0]])
    rng = np.random.default_rng(0)
    draws = np.array([kmeans_plus_plus(X, 2, rng)[:, 0] for _ in range(3000)])
    first = Counter(draws[:, 0].tolist())
    for value in (0.0, 1.0, 3.0):
        assert abs(first[value] / 3000 - 1 / 3) < 0.04, first
    after_zero = draws[draws[:, 0] == 0.0, 1]
    assert abs(np.mean(after_zero == 1.0) - 0.1) < 0.04


# -- KMeans -------------------------------------------------------------------------------


def test_kmeans_recovers_separated_blobs_exactly():
    X, y = separated_blobs(0)
    model = KMeans(3, seed=0).fit(X)
    assert normalized_mutual_info(y, model.labels) == pytest.approx(1.0, abs=1e-12)
    assert purity(y, model.labels) == 1.0
    for blob in np.unique(y):
        np.testing.assert_allclose(model.centres[model.labels[y == blob][0]],
                                   X[y == blob].mean(axis=0))
    np.testing.assert_array_equal(model.predict(X), model.labels)
    np.testing.assert_array_equal(KMeans(3, seed=0).fit_predict(X), model.labels)
    assert model.centres.shape == (3, 2) and model.labels.shape == (60,)
    assert 1 <= model.iterations <= model.max_iter


def test_kmeans_follows_the_seed():
    X, _ = blobs(2)
    a, b = KMeans(4, n_init=2, seed=5).fit(X), KMeans(4, n_init=2, seed=5).fit(X)
    np.testing.assert_array_equal(a.centres, b.centres)
    assert a.inertia == b.inertia


def test_kmeans_fills_an_emptied_cluster():
    # The second initial centre is nearest to no point: it empties in the first
    # iteration and takes the point farthest from its centre, 10.
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    model = KMeans(2, init=np.array([[1.0], [100.0]]), max_iter=1).fit(X)
    np.testing.assert_array_equal(np.sort(model.centres[:, 0]), [1.0, 10.0])
    assert model.inertia == pytest.approx(2.0)


def test_kmeans_inertia_matches_sklearn_from_the_same_centres():
    cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is the oracle")
    for seed in range(3):
        X, _ = blobs(seed, n_blobs=5, spread=1.5)
        init = kmeans_plus_plus(X, 5, rng=seed)
        ours = KMeans(5, init=init, tol=0, max_iter=300).fit(X)
        theirs = cluster.KMeans(5, init=init, n_init=1, tol=0, max_iter=300,
                                algorithm="lloyd").fit(X)
        assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-6)
        np.testing.assert_allclose(ours.centres, theirs.cluster_centers_, atol=1e-9)


def test_kmeans_best_of_n_init_is_within_one_percent_of_sklearn():
    cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is the oracle")
    for seed in range(4):
        X, _ = blobs(seed, n_blobs=5, per_blob=40)
        ours = KMeans(5, seed=0).fit(X)
        theirs = cluster.KMeans(5, n_init=10, random_state=0).fit(X)
        assert ours.inertia <= 1.01 * theirs.inertia_


# -- NMI and purity -----------------------------------------------------------------------


def test_nmi_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle")
    rng = np.random.default_rng(0)
    pairs = [
        (rng.choice([-3, 7, 100], 50), rng.choice([10, 20, 30, 40, 50], 50)),
        (rng.choice([1, 2], 30), rng.choice([5, 6, 7, 8, 9, 10, 11], 30)),
        (rng.integers(0, 4, 80), rng.integers(0, 4, 80)),
        (np.repeat(["cat", "dog", "owl"], 5), np.tile([-1, 4, 9, 16, 25], 3)),
        (np.zeros(10, dtype=int), np.arange(10)),  # one class: NMI 0
        (np.full(6, 2), np.full(6, -5)),  # one class, one cluster: defined as 1
        ([4], [9]),
    ]
    true = rng.integers(0, 5, 60)
    pairs.append((true, np.where(rng.random(60) < 0.8, true * 3 + 1, 99)))  # close
    pairs.append((true, (true + 2) % 5))  # a renaming: NMI 1
    for labels_true, labels_pred in pairs:
        expected = metrics.normalized_mutual_info_score(labels_true, labels_pred)
        assert abs(normalized_mutual_info(labels_true, labels_pred) - expected) < 1e-12


def test_purity_matches_a_direct_count():
    rng = np.random.default_rng(1)
    for n_classes, n_clusters in ((2, 5), (4, 3), (6, 6)):
        labels_true = rng.choice(np.arange(n_classes) * 10 - 7, 40)
        labels_pred = rng.choice(np.arange(n_clusters) + 100, 40)
        majority = sum(Counter(labels_true[labels_pred == k].tolist()).most_common(1)[0][1]
                       for k in set(labels_pred.tolist()))
        assert purity(labels_true, labels_pred) == majority / 40
    assert purity([0, 0, 1, 1], [5, 5, 5, 5]) == 0.5
    assert purity([0, 1, 2], [0, 1, 2]) == 1.0


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("X, k, message", [
    (np.zeros(5), 2, r"X must be a non-empty 2-D array .* got shape \(5,\)"),
    (np.zeros((0, 2)), 1, r"X must be a non-empty 2-D array"),
    (np.array([[0.0, np.nan], [1.0, 1.0]]), 1, "X holds NaN or Inf"),
    (np.zeros((4, 2)), 0, r"k must be an integer >= 1, got 0"),
    (np.zeros((4, 2)), 2.0, r"k must be an integer >= 1, got 2.0"),
    (np.zeros((4, 2)), True, r"k must be an integer >= 1, got True"),
    (np.zeros((4, 2)), 5, r"k must be an integer in \[1, 4\] .* got 5"),
])
def test_bad_samples_and_k_are_refused(X, k, message):
    with pytest.raises(ValueError, match=message):
        kmeans_plus_plus(X, k, rng=0)
    with pytest.raises(ValueError, match=message):
        KMeans(k).fit(X)


@pytest.mark.parametrize("arguments, message", [
    (dict(n_init=0), r"n_init must be an integer >= 1, got 0"),
    (dict(max_iter=0), r"max_iter must be an integer >= 1, got 0"),
    (dict(tol=-1.0), r"tol must be a number >= 0, got -1.0"),
    (dict(init="random"), r'init must be "k-means\+\+" or a \(k, D\) array'),
    (dict(init=np.zeros((3, 2))), r"init must hold k=2 centres .* got shape \(3, 2\)"),
])
def test_bad_kmeans_settings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        KMeans(2, **arguments)


def test_predict_needs_a_fit_and_the_same_features():
    with pytest.raises(RuntimeError, match=r"not been fitted yet: call fit\(X\) first"):
        KMeans(2).predict(np.zeros((3, 2)))
    model = KMeans(2, seed=0).fit(np.arange(8.0).reshape(4, 2))
    with pytest.raises(ValueError, match="X must have 2 features, as in fit, got 3"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="init has 2 features per centre but X has 3"):
        KMeans(2, init=np.zeros((2, 2))).fit(np.zeros((4, 3)))


@pytest.mark.parametrize("score", [normalized_mutual_info, purity])
def test_bad_labels_are_refused(score):
    with pytest.raises(ValueError, match="labels_true and labels_pred must label as many "
                                         "samples, got 3 and 2"):
        score([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="labels_true is empty"):
        score([], [])
    with pytest.raises(ValueError, match=r"labels_pred must be 1-D .* got shape \(2, 2\)"):
        score([0, 1, 0, 1], [[0, 1], [0, 1]])
