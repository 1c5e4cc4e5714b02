"""Activations: tanh, sigmoid, relu, leaky_relu, softmax, log_softmax.

Each op: gradcheck (float64) over hypothesis shapes and axes, non-contiguous inputs;
forward against numpy; a PyTorch oracle (ties in softmax included); dtypes; numerical
stability for large inputs. relu and leaky_relu inputs are drawn away from their kink.
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


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x)  # inputs here are moderate: the plain definition is the reference
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


# name -> (tlcore fn, numpy fn, input kwargs)
ELEMENTWISE = {
    "tanh": (ops.tanh, np.tanh, {}),
    "tanh_method": (lambda x: x.tanh(), np.tanh, {}),
    "sigmoid": (ops.sigmoid, _sigmoid, {}),
    "sigmoid_method": (lambda x: x.sigmoid(), _sigmoid, {}),
    "relu": (ops.relu, lambda x: np.maximum(x, 0), dict(away_from=0.0)),
    "relu_method": (lambda x: x.relu(), lambda x: np.maximum(x, 0), dict(away_from=0.0)),
    "leaky_relu": (ops.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
                   dict(away_from=0.0)),
    "leaky_relu_0.2": (lambda x: ops.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                       dict(away_from=0.0)),
}

# name -> (tlcore fn(x, axis), numpy fn(x, axis))
SOFTMAX = {
    "softmax": (ops.softmax, _softmax),
    "softmax_method": (lambda x, axis: x.softmax(axis), _softmax),
    "log_softmax": (ops.log_softmax, _log_softmax),
    "log_softmax_method": (lambda x, axis: x.log_softmax(axis), _log_softmax),
}


@st.composite
def shape_and_axis(draw):
    shape = draw(shapes())
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=shapes(), seed=seeds, noncontiguous=st.booleans())
def test_elementwise_forward_and_gradcheck(name, shape, seed, noncontiguous):
    fn, reference, kw = ELEMENTWISE[name]
    x = array(np.random.default_rng(seed), shape, noncontiguous, **kw)
    np.testing.assert_allclose(fn(leaf(x)).numpy(), reference(x), rtol=1e-12, atol=1e-15)
    assert tlcore.gradcheck(fn, [leaf(x)])


@pytest.mark.parametrize("name", sorted(SOFTMAX))
@given(case=shape_and_axis(), seed=seeds, noncontiguous=st.booleans())
def test_softmax_forward_and_gradcheck(name, case, seed, noncontiguous):
    shape, axis = case
    fn, reference = SOFTMAX[name]
    x = array(np.random.default_rng(seed), shape, noncontiguous)
    np.testing.assert_allclose(fn(leaf(x), axis).numpy(), reference(x, axis),
                               rtol=1e-12, atol=1e-15)
    assert tlcore.gradcheck(lambda t: fn(t, axis), [leaf(x)])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(case=shape_and_axis(), seed=seeds)
def test_softmax_gradcheck_with_tied_maxima(name, case, seed):
    """softmax is smooth where the max (used only for stability) is tied."""
    shape, axis = case
    fn = SOFTMAX[name][0]
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, shape).astype(np.float64)  # many ties, max ties included
    assert tlcore.gradcheck(lambda t: fn(t, axis), [leaf(x)])


def test_softmax_default_axis_is_last():
    x = array(np.random.default_rng(0), (2, 3, 4))
    np.testing.assert_allclose(ops.softmax(leaf(x)).numpy(), _softmax(x, -1), rtol=1e-12)
    np.testing.assert_allclose(ops.log_softmax(leaf(x)).numpy(), _log_softmax(x, -1),
                               rtol=1e-12)
    np.testing.assert_allclose(ops.softmax(leaf(x)).numpy().sum(axis=-1), 1.0, rtol=1e-12)


def test_relu_and_leaky_relu_gradient_at_zero_is_the_left_one():
    """At the kink (x = 0), PyTorch's choice: relu'(0) = 0, leaky_relu'(0) = slope."""
    x = tlcore.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    ops.relu(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])
    x.grad = None
    ops.leaky_relu(x, 0.1).backward(np.ones(3))
    np.testing.assert_allclose(x.grad, [0.1, 0.1, 1.0])


def test_relu_of_infinities():
    """relu(-inf) = 0 (not -inf * 0 = nan), relu(inf) = inf, relu(nan) = nan (PyTorch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ops.relu(tlcore.tensor([-np.inf, -1.0, np.inf, np.nan])).numpy()
    np.testing.assert_array_equal(out, [0.0, 0.0, np.inf, np.nan])


# ----------------------------------------------------------------------------- PyTorch


def test_activations_agree_with_torch():
    torch = torch_or_skip()
    functional = torch.nn.functional
    rng = np.random.default_rng(0)
    cases = {
        "tanh": (ops.tanh, torch.tanh),
        "sigmoid": (ops.sigmoid, torch.sigmoid),
        "relu": (ops.relu, torch.relu),
        "leaky_relu": (ops.leaky_relu, functional.leaky_relu),
        "leaky_relu_0.2": (lambda x: ops.leaky_relu(x, 0.2),
                           lambda x: functional.leaky_relu(x, 0.2)),
    }
    for name, (fn, torch_fn) in cases.items():
        x = array(rng, (3, 4), noncontiguous=True)
        x[0, 0] = 0.0  # the kink: both take the left derivative there
        x[1, :2] = [30.0, -30.0]  # saturated tanh / sigmoid
        check_against_torch(fn, torch_fn, [x], atol=1e-15, name=name)


def test_sigmoid_tails_agree_with_torch_in_float32():
    torch = torch_or_skip()
    x = np.linspace(-80, 80, 41).astype(np.float32)
    t = tlcore.tensor(x, requires_grad=True)
    out = ops.sigmoid(t)
    out.backward(np.ones(x.shape))
    tx = torch.from_numpy(x).requires_grad_()
    expected = torch.sigmoid(tx)
    expected.sum().backward()
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-37)


@pytest.mark.parametrize("axis", [0, 1, -1, -3])
def test_softmax_and_log_softmax_agree_with_torch(axis):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    x = array(rng, (2, 3, 4), noncontiguous=True)
    x[0, 0, :3] = x[1, 2, 1] = x[1, 2, 3] = 5.0  # tied maxima along every axis
    x[1, 0, :] = 0.25  # a whole row tied
    for fn, torch_fn in [(ops.softmax, torch.softmax), (ops.log_softmax, torch.log_softmax)]:
        check_against_torch(lambda t: fn(t, axis), lambda t: torch_fn(t, dim=axis), [x],
                            atol=1e-15, name=fn.__name__)


def test_tied_softmax_gradient_is_symmetric():
    """Tied inputs get equal gradients: the max subtracted for stability is not a
    gradient path (it would send the tie to one element)."""
    x = tlcore.tensor(np.array([2.0, 2.0, 1.0]), requires_grad=True)
    ops.log_softmax(x).backward(np.array([1.0, 0.0, 0.0]))
    assert x.grad[0] != x.grad[1]  # the cotangent is not symmetric ...
    x.grad = None
    ops.log_softmax(x).backward(np.array([0.0, 0.0, 1.0]))
    assert x.grad[0] == x.grad[1]  # ... but a symmetric one gives symmetric gradients
    x.grad = None
    ops.softmax(x).backward(np.array([0.0, 0.0, 1.0]))
    assert x.grad[0] == x.grad[1] != 0


# ----------------------------------------------------------------------------- dtypes

ALL = dict({name: entry[0] for name, entry in ELEMENTWISE.items()},
           softmax=ops.softmax, log_softmax=ops.log_softmax,
           softmax_axis0=lambda x: ops.softmax(x, 0),
           log_softmax_axis0=lambda x: ops.log_softmax(x, 0))


@pytest.mark.parametrize("name", sorted(ALL))
def test_float32_stays_float32(name):
    fn = ALL[name]
    x = tlcore.tensor(array(np.random.default_rng(2), (2, 3), away_from=0.0).astype(np.float32),
                      requires_grad=True)
    out = fn(x)
    assert out.dtype == np.float32
    # the op itself computes its gradient in float32 (not float64 cast back by the engine)
    assert out.creator.backward(np.ones(out.shape, np.float32)).dtype == np.float32
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", sorted(ALL))
def test_float32_with_float64_promotes(name):
    fn = ALL[name]
    rng = np.random.default_rng(3)
    x = tlcore.tensor(array(rng, (2, 3), away_from=0.0).astype(np.float32), requires_grad=True)
    w = tlcore.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    out = fn(x) * w
    assert out.dtype == np.float64
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


# ----------------------------------------------------------------------------- stability


@pytest.mark.parametrize("center", [1e4, -1e4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_log_softmax_stable_for_large_inputs(center, dtype):
    rng = np.random.default_rng(4)
    x = (center + rng.standard_normal((3, 5)) * 3).astype(dtype)
    shifted = x.astype(np.float64) - center  # exact (Sterbenz): the reference inputs
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    v = rng.standard_normal(x.shape)
    for axis in (0, -1):
        for fn, reference in [(ops.softmax, _softmax), (ops.log_softmax, _log_softmax)]:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # no overflow, no nan
                t = tlcore.tensor(x, requires_grad=True)
                out = fn(t, axis)
                out.backward(v)
            assert out.dtype == dtype and np.isfinite(out.numpy()).all()
            assert np.isfinite(t.grad).all()
            np.testing.assert_allclose(out.numpy(), reference(shifted, axis),
                                       rtol=rtol, atol=rtol)
            # shift invariance: the gradient is the one at the shifted inputs
            s = leaf(shifted)
            fn(s, axis).backward(v)
            np.testing.assert_allclose(t.grad, s.grad, rtol=rtol, atol=rtol)


def test_softmax_of_far_apart_values():
    x = tlcore.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]), requires_grad=True)
    np.testing.assert_array_equal(ops.softmax(x).numpy(), [[1.0, 0.0, 0.0], [1 / 3] * 3])
    np.testing.assert_allclose(ops.log_softmax(x).numpy(),
                               [[0.0, -2e4, -1e4], [-np.log(3)] * 3], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_and_tanh_of_huge_inputs_are_finite(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow in exp
        x = tlcore.tensor(np.array([-1000.0, 0.0, 1000.0], dtype), requires_grad=True)
        out = ops.sigmoid(x)
        out.backward(np.ones(3))
        tanh = ops.tanh(tlcore.tensor(np.array([-1000.0, 1000.0], dtype))).numpy()
    assert out.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])
    np.testing.assert_array_equal(tanh, [-1.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_keeps_relative_precision_in_both_tails(dtype):
    """sigmoid(-20) is 2.06e-9, not 0 (float32 (1 + tanh(x/2)) / 2 rounds it away)."""
    x = np.array([-80.0, -50.0, -20.0, -10.0, -1.0, 0.0, 1.0, 10.0, 20.0, 80.0])
    out = ops.sigmoid(tlcore.tensor(x.astype(dtype))).numpy()
    rtol = 1e-14 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, _sigmoid(x), rtol=rtol, atol=0)
