"""Reductions: sum, mean, max, min, logsumexp, over axis None / int / negative / tuple,
with and without keepdims.

Each op: gradcheck (float64) over hypothesis shapes and axes, non-contiguous inputs;
forward against numpy; a PyTorch oracle; dtypes; logsumexp's stability; the errors for
an empty tensor and a bad axis. max and min are drawn without ties for gradcheck (a tie
is a kink); their tie rule (the whole gradient to the FIRST extreme element, row-major
over the reduced axes) is checked directly.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, shapes, torch_or_skip

import tlcore
from tlcore import ops

seeds = st.integers(0, 2**32 - 1)


def _logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))  # moderate inputs


# name -> (tlcore fn(x, axis, keepdims), numpy fn(x, axis, keepdims))
SMOOTH = {
    "sum": (ops.sum, np.sum),
    "sum_method": (lambda x, axis, keepdims: x.sum(axis, keepdims), np.sum),
    "mean": (ops.mean, np.mean),
    "mean_method": (lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims), np.mean),
    "logsumexp": (ops.logsumexp, _logsumexp),
    "logsumexp_method": (lambda x, axis, keepdims: x.logsumexp(axis, keepdims), _logsumexp),
}
EXTREME = {
    "max": (ops.max, np.max),
    "max_method": (lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), np.max),
    "min": (ops.min, np.min),
    "min_method": (lambda x, axis, keepdims: x.min(axis, keepdims), np.min),
}
ALL = dict(SMOOTH, **EXTREME)


@st.composite
def reduction_case(draw):
    """(shape, axis, keepdims): axis None, an int (maybe negative) or a tuple of
    distinct axes (maybe negative, unsorted, maybe empty)."""
    shape = draw(shapes())
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), max_size=ndim, unique=True))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))


def distinct(rng, shape, noncontiguous=False):
    """A float64 array of ``shape`` with all values distinct and 0.25 apart (a scaled
    random permutation): no ties, so max and min are smooth there."""
    big = tuple(2 * n for n in shape) if noncontiguous else shape
    size = int(np.prod(big))
    data = (rng.permutation(size).reshape(big) - size / 2) * 0.25
    if noncontiguous:
        data = data[tuple(slice(None, None, 2) for _ in shape)]
        assert not data.flags.c_contiguous or data.size <= 1
    return data


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("name", sorted(ALL))
@given(case=reduction_case(), seed=seeds, noncontiguous=st.booleans())
def test_forward_and_gradcheck(name, case, seed, noncontiguous):
    """Against numpy (max and min exactly), then gradcheck; max and min on distinct
    values, away from the kink of a tie."""
    shape, axis, keepdims = case
    fn, reference = ALL[name]
    draw = distinct if name in EXTREME else array
    x = draw(np.random.default_rng(seed), shape, noncontiguous)
    out = fn(leaf(x), axis, keepdims)
    expected = reference(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    exact = name in EXTREME
    np.testing.assert_allclose(out.numpy(), expected, rtol=0 if exact else 1e-12,
                               atol=0 if exact else 1e-14)
    assert tlcore.gradcheck(lambda t: fn(t, axis, keepdims), [leaf(x)])


@given(case=reduction_case(), seed=seeds)
def test_logsumexp_gradcheck_with_ties(case, seed):
    """logsumexp is smooth where its max (used only for stability) is tied."""
    shape, axis, keepdims = case
    x = np.random.default_rng(seed).integers(-1, 2, shape).astype(np.float64)
    assert tlcore.gradcheck(lambda t: ops.logsumexp(t, axis, keepdims), [leaf(x)])


@pytest.mark.parametrize("name", sorted(ALL))
def test_zero_dim_tensor(name):
    fn, reference = ALL[name]
    x = np.array(0.75)
    out = fn(leaf(x), None, False)
    assert out.shape == ()
    np.testing.assert_allclose(out.numpy(), reference(x, axis=None, keepdims=False))
    assert tlcore.gradcheck(lambda t: fn(t, None, False), [leaf(x)])


def test_mean_and_sum_gradient_values():
    x = tlcore.tensor(np.ones((2, 3, 4)), requires_grad=True)
    ops.mean(x, axis=(0, -1)).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad, np.broadcast_to(np.array([1, 2, 3])[:, None] / 8,
                                                       (2, 3, 4)))
    x.grad = None
    ops.sum(x, axis=1, keepdims=True).backward(np.full((2, 1, 4), 5.0))
    np.testing.assert_array_equal(x.grad, np.full((2, 3, 4), 5.0))
    assert x.grad.flags.writeable  # the leaf owns its gradient


# ----------------------------------------------------------------------------- ties


def _first_extreme_grad(x, axis, keepdims, cotangent, largest):
    """Reference: loop over kept positions, scan the reduced ones in row-major order
    (np.ndindex) and send the cotangent to the first strict extreme."""
    axes = _axes(axis, x.ndim)
    kept = [a for a in range(x.ndim) if a not in axes]
    g = cotangent if keepdims else np.expand_dims(cotangent, axes)
    grad = np.zeros_like(x)
    for kept_index in np.ndindex(*[x.shape[a] for a in kept]):
        best, best_value = None, None
        for reduced_index in np.ndindex(*[x.shape[a] for a in axes]):
            index = [0] * x.ndim
            for a, i in zip(kept, kept_index):
                index[a] = i
            for a, i in zip(axes, reduced_index):
                index[a] = i
            value = x[tuple(index)]
            if best is None or (value > best_value if largest else value < best_value):
                best, best_value = tuple(index), value
        g_index = [0] * x.ndim
        for a, i in zip(kept, kept_index):
            g_index[a] = i
        grad[best] += g[tuple(g_index)]
    return grad


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=reduction_case(), seed=seeds, noncontiguous=st.booleans())
def test_tie_gradient_goes_to_first_extreme(name, case, seed, noncontiguous):
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    x = array(rng, shape, noncontiguous)
    x[...] = rng.integers(0, 3, shape)  # values in {0, 1, 2}: ties nearly everywhere
    t = leaf(x)
    out = EXTREME[name][0](t, axis, keepdims)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    np.testing.assert_array_equal(
        t.grad, _first_extreme_grad(x, axis, keepdims, v, largest=(name == "max")))


def test_tie_rule_examples():
    x = tlcore.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), requires_grad=True)
    ops.max(x, axis=1).backward(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(x.grad, [[0, 10, 0], [20, 0, 0]])
    x.grad = None
    ops.max(x).backward()  # axis None: the first maximum in row-major order
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 0]])
    x.grad = None
    ops.min(x, axis=0, keepdims=True).backward(np.ones((1, 3)))
    np.testing.assert_array_equal(x.grad, [[1, 0, 0], [0, 1, 1]])

    # a tuple axis: "first" is row-major over the reduced axes in their own order
    # (0 before 2), not the order the tuple was written in
    y = np.zeros((2, 1, 2))
    y[0, 0, 1] = y[1, 0, 0] = 5.0
    for axis in [(0, 2), (2, 0), (-1, 0)]:
        t = tlcore.tensor(y, requires_grad=True)
        ops.max(t, axis=axis).backward(np.ones(1))
        expected = np.zeros_like(y)
        expected[0, 0, 1] = 1.0
        np.testing.assert_array_equal(t.grad, expected, err_msg=str(axis))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape, axis", [((0,), None), ((2, 0), 1), ((0, 3), 0)])
def test_extreme_of_empty_tensor(name, shape, axis):
    x = tlcore.tensor(np.zeros(shape), requires_grad=True)
    with pytest.raises(ValueError, match=f"^{name} of an empty tensor"):
        getattr(ops, name)(x, axis=axis)


@pytest.mark.parametrize("name", sorted(ALL))
def test_bad_axis(name):
    fn = ALL[name][0]
    x = tlcore.tensor(np.ones((2, 3)), requires_grad=True)
    for axis in (2, -3, (0, 2)):
        bad = 2 if axis in (2, (0, 2)) else -3
        with pytest.raises(ValueError,
                           match=f"axis {bad} is out of range for a tensor of 2 dimensions"):
            fn(x, axis, False)
    with pytest.raises(ValueError, match=r"axis \(0, -2\) repeats an axis"):
        fn(x, (0, -2), False)


def test_mean_over_empty_axis():
    with pytest.raises(ValueError, match=r"mean over an empty axis of a tensor of shape \(2, 0\)"):
        ops.mean(tlcore.tensor(np.zeros((2, 0))), axis=1)


# ----------------------------------------------------------------------------- PyTorch


def _torch_fns(torch):
    def dims(axis, ndim):
        return tuple(range(ndim)) if axis is None else axis

    return {
        "sum": lambda x, axis, keepdims: torch.sum(x, dim=dims(axis, x.ndim), keepdim=keepdims),
        "mean": lambda x, axis, keepdims: torch.mean(x, dim=dims(axis, x.ndim),
                                                     keepdim=keepdims),
        "logsumexp": lambda x, axis, keepdims: torch.logsumexp(x, dim=dims(axis, x.ndim),
                                                               keepdim=keepdims),
        "max": lambda x, axis, keepdims: torch.amax(x, dim=dims(axis, x.ndim),
                                                    keepdim=keepdims),
        "min": lambda x, axis, keepdims: torch.amin(x, dim=dims(axis, x.ndim),
                                                    keepdim=keepdims),
    }


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (2, -3), (1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_agree_with_torch(axis, keepdims):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    for name, torch_fn in _torch_fns(torch).items():
        if name in ("max", "min"):  # no ties: torch spreads a tie, tlcore picks the first
            x = distinct(rng, (2, 3, 4), noncontiguous=True)
        else:
            x = array(rng, (2, 3, 4), noncontiguous=True)
            if name == "logsumexp":
                x[0, 0, :2] = x[1, 2, 3] = x.max()  # tied maxima: still smooth
        check_against_torch(lambda t: ALL[name][0](t, axis, keepdims),
                            lambda t: torch_fn(t, axis, keepdims), [x], atol=1e-14, name=name)


def test_extreme_with_distinct_values_agrees_with_torch_max_with_dim():
    torch = torch_or_skip()
    x = distinct(np.random.default_rng(1), (3, 5))
    for name in ("max", "min"):
        t = leaf(x)
        out = getattr(ops, name)(t, axis=1)
        out.backward(np.arange(3.0))
        tx = torch.from_numpy(x).requires_grad_()
        values, _ = getattr(torch, name)(tx, dim=1)
        values.backward(torch.arange(3.0, dtype=torch.float64))
        np.testing.assert_array_equal(out.numpy(), values.detach().numpy())
        np.testing.assert_array_equal(t.grad, tx.grad.numpy())


# ----------------------------------------------------------------------------- dtypes

DTYPE_CASES = [(None, False), (1, True), ((0, -1), False)]


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("axis, keepdims", DTYPE_CASES)
def test_float32_stays_float32(name, axis, keepdims):
    fn = ALL[name][0]
    x = tlcore.tensor(distinct(np.random.default_rng(2), (2, 3, 2)).astype(np.float32),
                      requires_grad=True)
    out = fn(x, axis, keepdims)
    assert out.dtype == np.float32
    # the op itself computes its gradient in float32 (not float64 cast back by the engine)
    assert out.creator.backward(np.ones(out.shape, np.float32)).dtype == np.float32
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


@pytest.mark.parametrize("name", sorted(ALL))
def test_float32_with_float64_promotes(name):
    fn = ALL[name][0]
    rng = np.random.default_rng(3)
    x = tlcore.tensor(distinct(rng, (2, 3)).astype(np.float32), requires_grad=True)
    w = tlcore.tensor(rng.standard_normal(3), requires_grad=True)
    out = fn(x, 0, False) * w
    assert out.dtype == np.float64
    out.backward(np.ones(3))
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


# ----------------------------------------------------------------------------- stability


@pytest.mark.parametrize("center", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis, keepdims", DTYPE_CASES)
def test_logsumexp_stable_for_large_inputs(center, dtype, axis, keepdims):
    rng = np.random.default_rng(4)
    x = (center + rng.standard_normal((2, 3, 4)) * 3).astype(dtype)
    shifted = x.astype(np.float64) - center  # exact (Sterbenz): the reference inputs
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, no nan
        t = tlcore.tensor(x, requires_grad=True)
        out = ops.logsumexp(t, axis, keepdims)
        v = rng.standard_normal(out.shape)
        out.backward(v)
    assert out.dtype == dtype and np.isfinite(out.numpy()).all()
    assert np.isfinite(t.grad).all()
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out.numpy(), center + _logsumexp(shifted, axis, keepdims),
                               rtol=rtol)
    # shift invariance: the gradient (a softmax) is the one at the shifted inputs
    s = leaf(shifted)
    ops.logsumexp(s, axis, keepdims).backward(v)
    np.testing.assert_allclose(t.grad, s.grad, rtol=1e-10 if dtype == np.float64 else 1e-5,
                               atol=1e-6 if dtype == np.float32 else 0)


def test_logsumexp_of_infinite_rows():
    """A row of -inf gives -inf (not nan from -inf - -inf); a +inf entry gives inf;
    far-apart values give the largest."""
    x = np.array([[-np.inf, -np.inf], [np.inf, 0.0], [1e4, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = ops.logsumexp(tlcore.tensor(x), axis=1).numpy()
    np.testing.assert_array_equal(out, [-np.inf, np.inf, 1e4])
