"""grad_reverse (ops/reverse.py): the identity forward as a view of its input, and
-lambda times the upstream gradient backward.

Finite differences over hypothesis shapes and strided inputs (the reversal composed with
a smooth op on each side, and alone against -lambda * v); the view's semantics: it shares
its input's memory and version counter, an in-place change through it is refused while
it needs a gradient, reaches the input as PyTorch's view does, and a backward that would
read a changed array is refused; PyTorch's reversal layer as an oracle; clear errors.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, leaf, shapes, torch_or_skip

import tlcore
import tlcore.nn.functional as F
from tlcore import gradcheck, nn, ops

seeds = st.integers(0, 2**32 - 1)
lambdas = st.sampled_from([0.0, 0.3, 1.0, 2.5])


@given(shapes(), seeds, st.booleans(), lambdas)
def test_grad_reverse_passes_gradcheck_inside_a_graph(shape, seed, strided, lambda_):
    """grad_reverse(grad_reverse(.)) with lambdas l and 1/l has the true gradient of the
    function around it (-(1/l) * -(l) = 1): gradcheck verifies both reversals."""
    lambda_ = lambda_ or 1.0
    x = leaf(array(np.random.default_rng(seed), shape, noncontiguous=strided))

    def fn(t):
        inner = ops.grad_reverse(t.tanh(), lambda_)
        return ops.grad_reverse(inner * 1.5, 1.0 / lambda_).exp()

    assert gradcheck(fn, [x])


@given(shapes(), seeds, st.booleans(), lambdas)
def test_grad_reverse_is_the_identity_forward_and_minus_lambda_backward(shape, seed, strided,
                                                                      lambda_):
    rng = np.random.default_rng(seed)
    data = array(rng, shape, noncontiguous=strided)
    upstream = rng.standard_normal(shape)
    x = leaf(data)
    y = ops.grad_reverse(x, lambda_)
    np.testing.assert_array_equal(y.numpy(), data)
    y.backward(upstream)
    np.testing.assert_allclose(x.grad, -lambda_ * upstream, rtol=1e-15, atol=0)
    assert x.grad.shape == shape and x.grad.dtype == np.float64


def test_grad_reverse_matches_pytorch_gradient_reversal():
    torch = torch_or_skip()

    class ReverseGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lambda_):
            ctx.lambda_ = lambda_
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return -ctx.lambda_ * g, None

    rng = np.random.default_rng(0)
    data, upstream = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    x = leaf(data.copy())
    (ops.grad_reverse(x, 0.7).tanh() * 2).backward(upstream)
    xt = torch.tensor(data, requires_grad=True)
    (ReverseGrad.apply(xt, 0.7).tanh() * 2).backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


# -- the view ----------------------------------------------------------------------------


def test_the_output_is_a_view_sharing_memory_and_version_counter():
    x = tlcore.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = ops.grad_reverse(x, 0.5)
    assert np.shares_memory(y.data, x.data) and y.data is not x.data
    assert y._version is x._version
    assert y.requires_grad and not y.is_leaf


def test_an_in_place_change_of_the_output_is_refused_while_it_needs_a_gradient():
    x = tlcore.tensor(np.ones((2, 3)), requires_grad=True)
    y = ops.grad_reverse(x)
    with pytest.raises(RuntimeError, match="in-place operation on a tensor that is part of "
                                           "a graph"):
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y[0] = 5.0
    np.testing.assert_array_equal(x.data, np.ones((2, 3)))


def test_an_in_place_change_through_the_view_reaches_the_input_as_in_pytorch():
    """Under no_grad, writing into the output writes into the input, as PyTorch's
    ``view_as`` reversal does; both tensors' counter moves."""
    x = tlcore.tensor(np.zeros(4), requires_grad=True)
    y = ops.grad_reverse(x)
    before = x._version[0]
    with tlcore.no_grad():
        y.add_(2.0)
    np.testing.assert_array_equal(x.data, np.full(4, 2.0))
    assert x._version[0] == before + 1
    without_grad = tlcore.tensor(np.zeros(3))
    view = ops.grad_reverse(without_grad)
    view[1] = 7.0
    assert without_grad.data[1] == 7.0 and without_grad._version[0] == 1


def test_a_backward_reading_an_array_changed_through_the_view_is_refused():
    """exp keeps its output for backward; changing that output through the reversal's
    view afterwards must not yield a gradient computed from the changed values."""
    x = tlcore.tensor(np.linspace(0.0, 1.0, 6), requires_grad=True)
    e = x.exp()
    y = ops.grad_reverse(e, 0.5)
    loss = (y * y).sum()
    with tlcore.no_grad():
        y.mul_(3.0)
    with pytest.raises(RuntimeError, match="modified in place after the forward pass"):
        loss.backward()
    assert x.grad is None


def test_a_backward_after_an_in_place_change_of_the_input_is_refused():
    x = tlcore.tensor(np.linspace(0.0, 1.0, 6), requires_grad=True)
    t = x * 2.0
    y = ops.grad_reverse(t)
    loss = (y * y).sum()  # Mul keeps y, the view of t
    with tlcore.no_grad():
        t.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place after the forward pass"):
        loss.backward()


def test_the_gradient_is_a_fresh_array_of_the_leaf_and_accumulates():
    x = tlcore.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    upstream = np.full((3, 2), 2.0, np.float32)
    ops.grad_reverse(x, 0.25).backward(upstream)
    assert x.grad.dtype == np.float32 and not np.shares_memory(x.grad, upstream)
    np.testing.assert_array_equal(upstream, np.full((3, 2), 2.0, np.float32))
    F.grad_reverse(x, 0.25).backward(upstream)  # backward twice adds, as in PyTorch
    np.testing.assert_array_equal(x.grad, np.full((3, 2), -1.0, np.float32))


def test_the_layer_reverses_and_its_output_is_a_view():
    layer = nn.GradientReversal(0.5)
    x = tlcore.tensor(np.ones((2, 2)), requires_grad=True)
    y = layer(x)
    assert np.shares_memory(y.data, x.data)
    y.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(x.grad, np.full((2, 2), -0.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_a_bad_lambda_is_refused_naming_it(bad):
    x = tlcore.tensor(np.ones(2), requires_grad=True)
    with pytest.raises((TypeError, ValueError), match="lambda_"):
        ops.grad_reverse(x, bad)
