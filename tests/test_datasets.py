"""The shipped digits (checksum verified), two moons, rotations and inversions, the
seeded train/test split, few-shot subsets and minibatches."""

import math
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tlcore
from tlcore.datasets import (
    digits,
    invert,
    load_digits,
    make_moons,
    minibatches,
    per_class,
    rotate,
    train_test_split,
)
from tlcore.random import generator_for

DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


# ----------------------------------------------------------------------------- digits

def test_digits_shapes_dtypes_values_and_class_counts():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    assert (images == np.round(images)).all()
    assert np.bincount(labels).tolist() == DIGIT_COUNTS
    # The first row of the UCI test set: a zero.
    assert labels[0] == 0
    assert images[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_digits_calls_return_fresh_copies():
    images, labels = load_digits()
    images[:] = -1
    labels[:] = -1
    again_images, again_labels = load_digits()
    assert again_images.min() == 0 and np.bincount(again_labels).tolist() == DIGIT_COUNTS


def _rewrite(path, images, labels, compressed=True):
    save = np.savez_compressed if compressed else np.savez
    with open(path, "wb") as f:
        save(f, images=images, labels=labels)


def test_digits_checksum_is_of_the_arrays_not_the_zip(tmp_path):
    images, labels = load_digits()
    copy = tmp_path / "digits.npz"
    _rewrite(copy, images.astype(np.uint8), labels.astype(np.uint8), compressed=False)
    loaded_images, loaded_labels = load_digits(path=copy)
    assert np.array_equal(loaded_images, images) and np.array_equal(loaded_labels, labels)


def test_digits_tampered_file_is_refused(tmp_path):
    images, labels = load_digits()
    images = images.astype(np.uint8)
    images[5, 3, 4] ^= 1
    tampered = tmp_path / "digits.npz"
    _rewrite(tampered, images, labels.astype(np.uint8))
    with pytest.raises(ValueError, match="corrupted.*SHA-256"):
        load_digits(path=tampered)


def test_digits_file_with_wrong_arrays_or_garbage_is_refused(tmp_path):
    wrong = tmp_path / "wrong.npz"
    _rewrite(wrong, np.zeros((10, 8, 8), np.uint8), np.zeros(10, np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 \(1797, 8, 8\)"):
        load_digits(path=wrong)
    garbage = tmp_path / "garbage.npz"
    shutil.copy(digits.DIGITS_PATH, garbage)
    garbage.write_bytes(garbage.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cannot read the digits"):
        load_digits(path=garbage)


# ----------------------------------------------------------------------------- moons

def test_moons_shapes_dtypes_and_class_sizes():
    X, y = make_moons(301, noise=0.1, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [150, 151]


def test_moons_without_noise_lie_on_their_half_circles():
    X, y = make_moons(200, noise=0.0, seed=3)
    outer, inner = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1, atol=1e-6)
    assert (outer[:, 1] >= -1e-6).all()
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1, atol=1e-6)
    assert (inner[:, 1] <= 0.5 + 1e-6).all()
    # The end points t = 0 and t = pi are on each moon.
    for point in ([1, 0], [-1, 0], [0, 0.5], [2, 0.5]):
        assert np.abs(X - np.float32(point)).sum(axis=1).min() < 1e-6


def test_moons_noise_has_the_requested_spread():
    clean, _ = make_moons(4000, noise=0.0, seed=1)
    noisy, _ = make_moons(4000, noise=0.2, seed=1)  # same shuffle, then the noise
    assert abs(float(np.std(noisy - clean)) - 0.2) < 0.01


def test_moons_are_repeatable_by_seed_and_by_manual_seed():
    assert np.array_equal(make_moons(50, seed=4)[0], make_moons(50, seed=4)[0])
    assert not np.array_equal(make_moons(50, seed=4)[0], make_moons(50, seed=5)[0])
    tlcore.manual_seed(11)
    first = make_moons(50)
    second = make_moons(50)
    tlcore.manual_seed(11)
    assert np.array_equal(make_moons(50)[0], first[0])
    assert np.array_equal(make_moons(50)[0], second[0])
    assert not np.array_equal(first[0], second[0])


def test_moons_unshuffled_keep_outer_then_inner():
    _, y = make_moons(7, noise=0.0, shuffle=False)
    assert y.tolist() == [0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 1}, "n must be an integer >= 2"), ({"n": 10.0}, "n must be an integer"),
    ({"noise": -0.1}, "noise must be a finite number >= 0"),
    ({"noise": float("inf")}, "noise must be"), ({"seed": -1}, "seed must be None"),
    ({"seed": 1.5}, "seed must be None")])
def test_moons_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_moons(**kwargs)


def test_a_numpy_generator_is_used_as_given():
    rng = np.random.default_rng(0)
    assert generator_for(rng) is rng
    a = make_moons(20, seed=np.random.default_rng(9))[0]
    assert np.array_equal(a, make_moons(20, seed=9)[0])


# ----------------------------------------------------------------------------- rotate

def test_rotating_points_90_degrees_about_the_origin_is_exact():
    points = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])
    assert rotate(points, 90, center=(0, 0)).tolist() == [[0, 1], [-1, 0], [-3, 2]]
    assert rotate(points, -90, center=(0, 0)).tolist() == [[0, -1], [1, 0], [3, -2]]
    assert rotate(points, 90, center=(1, 1)).tolist() == [[2, 1], [1, 0], [-1, 2]]


@given(seed=st.integers(0, 2**32 - 1), degrees=st.floats(-720, 720))
def test_rotating_points_preserves_distances_and_the_mean(seed, degrees):
    points = np.random.default_rng(seed).normal(size=(6, 2))
    turned = rotate(points, degrees)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(turned[:, None] - turned[None], axis=-1),
                               distances, atol=1e-12)
    np.testing.assert_allclose(turned.mean(axis=0), points.mean(axis=0), atol=1e-12)


def test_rotating_points_by_30_degrees_matches_the_rotation_matrix():
    points = np.array([[2.0, 1.0], [-1.0, 0.5]])
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    expected = points @ np.array([[c, -s], [s, c]]).T
    np.testing.assert_allclose(rotate(points, 30, center=(0, 0)), expected, atol=1e-15)


def test_rotation_by_360_degrees_is_the_identity():
    points = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(rotate(points, 360), points, atol=1e-6)
    images, _ = load_digits()
    np.testing.assert_allclose(rotate(images[:20], 360), images[:20], atol=1e-5)


def test_rotated_points_keep_a_float_dtype():
    assert rotate(np.ones((3, 2), np.float32), 10).dtype == np.float32
    assert rotate(np.ones((3, 2), np.float64), 10).dtype == np.float64
    assert rotate(np.ones((3, 2), np.int64), 10).dtype == np.float32
    assert rotate(np.empty((0, 2)), 10).shape == (0, 2)


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 5, 5)])
@pytest.mark.parametrize("quarter_turns", [1, 2, 3, -1])
def test_rotating_square_images_by_right_angles_moves_pixels_exactly(shape, quarter_turns):
    images = np.random.default_rng(1).integers(0, 17, shape).astype(np.float32)
    assert np.array_equal(rotate(images, 90 * quarter_turns),
                          np.rot90(images, quarter_turns, axes=(1, 2)))


def test_rotating_a_known_image_by_90_degrees():
    image = np.array([[[1, 2], [3, 4]]], dtype=np.uint8)
    assert rotate(image, 90).tolist() == [[[2, 4], [1, 3]]]  # the top right goes top left
    assert rotate(image, 90).dtype == np.float32


def _rotate_one_pixel_at_a_time(image, degrees):
    """The bilinear rotation written pixel by pixel (an independent reference)."""
    H, W = image.shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    a = math.radians(degrees)
    out = np.zeros((H, W))
    for row in range(H):
        for col in range(W):
            x, y = col - cx, cy - row
            sx, sy = math.cos(a) * x + math.sin(a) * y, -math.sin(a) * x + math.cos(a) * y
            r, c = cy - sy, cx + sx
            r0, c0 = math.floor(r), math.floor(c)
            for rr, wr in ((r0, 1 - (r - r0)), (r0 + 1, r - r0)):
                for cc, wc in ((c0, 1 - (c - c0)), (c0 + 1, c - c0)):
                    if 0 <= rr < H and 0 <= cc < W:
                        out[row, col] += wr * wc * image[rr, cc]
    return out


@pytest.mark.parametrize("degrees", [30, -47.5, 200])
def test_rotating_images_matches_a_pixel_by_pixel_bilinear_rotation(degrees):
    images = np.random.default_rng(2).uniform(0, 16, (2, 5, 7))
    expected = np.stack([_rotate_one_pixel_at_a_time(image, degrees) for image in images])
    np.testing.assert_allclose(rotate(images, degrees), expected, atol=1e-12)


def test_rotating_a_flat_image_darkens_only_the_corners():
    turned = rotate(np.ones((1, 9, 9)), 45)[0]
    assert turned[4, 4] == pytest.approx(1.0)
    assert turned[0, 0] == 0.0 and turned[0, 8] == 0.0
    assert (turned >= 0).all() and (turned <= 1 + 1e-12).all()


@pytest.mark.parametrize("X, kwargs, message", [
    (np.ones((4, 3)), {}, r"points of shape \(N, 2\) or images"),
    (np.ones((8, 8, 1, 1)), {}, r"got shape \(8, 8, 1, 1\)"),
    (np.ones((2, 8, 8)), {"center": (0, 0)}, "center applies to points"),
    (np.ones((3, 2)), {"center": (0, 0, 0)}, "center must be a point"),
    (np.ones((3, 2)), {"degrees": float("nan")}, "degrees must be a finite number")])
def test_rotate_bad_arguments_are_refused(X, kwargs, message):
    kwargs = {"degrees": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        rotate(X, **kwargs)


# ----------------------------------------------------------------------------- invert

def test_invert_flips_pixel_values():
    images = np.array([[[0, 16], [4, 10]]], dtype=np.uint8)
    assert invert(images).tolist() == [[[16, 0], [12, 6]]]
    assert invert(images).dtype == np.float32
    assert invert(np.array([0.25]), max_value=1.0).tolist() == [0.75]
    digit_images, _ = load_digits()
    assert np.array_equal(invert(invert(digit_images)), digit_images)


@pytest.mark.parametrize("images, max_value, message", [
    (np.array([17.0]), 16.0, r"values in \[0, max_value=16.0\]"),
    (np.array([-1.0]), 16.0, r"values in \[0, max_value"),
    (np.array([1.0]), 0, "max_value must be a finite number > 0")])
def test_invert_refuses_values_out_of_range(images, max_value, message):
    with pytest.raises(ValueError, match=message):
        invert(images, max_value=max_value)


# ----------------------------------------------------------------------------- split

def test_split_is_disjoint_covers_and_keeps_pairs():
    X = np.arange(100) * 10
    y = np.arange(100) % 3
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(X_test) == 25 and len(X_train) == 75
    assert sorted(np.concatenate([X_train, X_test]).tolist()) == X.tolist()
    assert (y_train == (X_train // 10) % 3).all() and (y_test == (X_test // 10) % 3).all()


def test_split_sizes_round_the_test_set_up_or_take_a_count():
    X, y = np.arange(10), np.zeros(10)
    assert len(train_test_split(X, y, test_size=0.21, seed=0)[1]) == 3
    assert len(train_test_split(X, y, test_size=4, seed=0)[1]) == 4


def test_split_is_repeatable_by_seed_and_by_manual_seed():
    X, y = np.arange(50), np.arange(50) % 2
    assert np.array_equal(train_test_split(X, y, seed=3)[1], train_test_split(X, y, seed=3)[1])
    assert not np.array_equal(train_test_split(X, y, seed=3)[1],
                              train_test_split(X, y, seed=4)[1])
    tlcore.manual_seed(5)
    first = train_test_split(X, y)[1]
    tlcore.manual_seed(5)
    assert np.array_equal(train_test_split(X, y)[1], first)


@pytest.mark.parametrize("test_size", [0.25, 0.1, 0.5, 101])
def test_stratified_split_keeps_class_proportions(test_size):
    images, labels = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(images, labels, test_size=test_size,
                                                        seed=0, stratify=True)
    n_test = len(y_test)
    assert n_test == (test_size if isinstance(test_size, int) else math.ceil(test_size * 1797))
    shares = np.array(DIGIT_COUNTS) * n_test / 1797
    assert (np.abs(np.bincount(y_test, minlength=10) - shares) < 1).all()
    assert (np.bincount(y_train) + np.bincount(y_test)).tolist() == DIGIT_COUNTS
    # Disjoint and covering: the rows of both sets are all the images, once each.
    rows = np.concatenate([X_train, X_test]).reshape(1797, -1)
    assert np.array_equal(np.unique(rows, axis=0), np.unique(images.reshape(1797, -1), axis=0))
    assert len(rows) == 1797


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.ones(10), np.ones(9)), {}, "X and y must hold as many samples, got 10 and 9"),
    ((np.ones(10), np.ones((10, 1))), {}, r"y must be 1-D .* got shape \(10, 1\)"),
    ((np.ones(10), np.ones(10)), {"test_size": 0.0}, "test_size must be a fraction"),
    ((np.ones(10), np.ones(10)), {"test_size": 1.0}, "test_size must be a fraction"),
    ((np.ones(10), np.ones(10)), {"test_size": True}, "test_size must be a fraction"),
    ((np.ones(10), np.ones(10)), {"test_size": 10}, "puts 10 of 10 samples"),
    ((np.ones(10), np.ones(10)), {"test_size": 0}, "both sets must keep"),
    ((np.ones(1), np.ones(1)), {}, "puts 1 of 1 samples")])
def test_split_bad_arguments_are_refused(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(*args, **kwargs)


# ----------------------------------------------------------------------------- per_class

def test_per_class_takes_k_examples_of_each_class():
    images, labels = load_digits()
    X, y = per_class(images, labels, 3, seed=0)
    assert X.shape == (30, 8, 8) and y.tolist() == sorted(list(range(10)) * 3)
    # Each chosen image is a digit of the label it came with.
    for image, label in zip(X, y):
        matches = np.flatnonzero((images == image).all(axis=(1, 2)))
        assert label in labels[matches]


def test_per_class_subsets_grow_with_k_and_repeat_by_seed():
    X, y = np.arange(60), np.arange(60) % 4
    one, five = per_class(X, y, 1, seed=2)[0], per_class(X, y, 5, seed=2)[0]
    assert set(one) <= set(five)
    assert np.array_equal(five, per_class(X, y, 5, seed=2)[0])
    tlcore.manual_seed(0)
    first = per_class(X, y, 2)[0]
    tlcore.manual_seed(0)
    assert np.array_equal(per_class(X, y, 2)[0], first)


@pytest.mark.parametrize("k, message", [
    (3, "k=3 is larger than class 7, which has 2 examples"), (0, "k must be an integer >= 1"),
    (1.0, "k must be an integer")])
def test_per_class_bad_k_is_refused(k, message):
    y = np.array([1, 1, 1, 7, 7])
    with pytest.raises(ValueError, match=message):
        per_class(np.zeros((5, 2)), y, k)


# ----------------------------------------------------------------------------- minibatches

def test_minibatches_visit_each_sample_once_per_epoch():
    X, y = np.arange(23) * 2, np.arange(23)
    batches = list(minibatches(X, y, 5, seed=0))
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    assert all((xb == 2 * yb).all() for xb, yb in batches)


def test_minibatches_drop_last_and_keep_order_without_shuffle():
    X, y = np.arange(23), np.arange(23)
    batches = list(minibatches(X, y, 5, shuffle=False, drop_last=True))
    assert [b.tolist() for _, b in batches] == [list(range(i, i + 5)) for i in range(0, 20, 5)]
    assert list(minibatches(X[:3], y[:3], 5, drop_last=True)) == []


def test_minibatch_order_is_repeatable_under_manual_seed():
    X, y = np.arange(20), np.arange(20)
    tlcore.manual_seed(1)
    first = [yb.tolist() for _, yb in minibatches(X, y, 4)]
    second = [yb.tolist() for _, yb in minibatches(X, y, 4)]
    assert first != second  # the next epoch draws another order
    tlcore.manual_seed(1)
    assert [yb.tolist() for _, yb in minibatches(X, y, 4)] == first


@pytest.mark.parametrize("batch_size", [0, 2.0, True])
def test_minibatches_refuse_a_bad_batch_size_when_called(batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        minibatches(np.ones(4), np.ones(4), batch_size)  # before any iteration


def test_a_stratified_split_that_would_leave_a_class_out_of_a_set_is_refused():
    with pytest.raises(ValueError, match="class 1 .1 samples. 1 test samples"):
        train_test_split(np.zeros((10, 2)), np.array([0] * 9 + [1]), test_size=0.9,
                         stratify=True)
