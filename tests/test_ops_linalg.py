"""matmul (every 1-D, 2-D and batched combination, with broadcast batch axes) and the
fused linear layer: finite-difference gradients, numpy forwards, PyTorch oracles, and
clear errors for shapes that do not fit."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, torch_or_skip

from tlcore import gradcheck, ops

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)

# (shape of a, shape of b) from the batch size B and the sizes n, k, m of a (n, k) @ (k, m)
MATMUL_CASES = {
    "1d@1d": lambda B, n, k, m: ((k,), (k,)),
    "1d@2d": lambda B, n, k, m: ((k,), (k, m)),
    "2d@1d": lambda B, n, k, m: ((n, k), (k,)),
    "2d@2d": lambda B, n, k, m: ((n, k), (k, m)),
    "3d@3d": lambda B, n, k, m: ((B, n, k), (B, k, m)),
    "3d@2d": lambda B, n, k, m: ((B, n, k), (k, m)),
    "2d@3d": lambda B, n, k, m: ((n, k), (B, k, m)),
    "1nk@Bkm": lambda B, n, k, m: ((1, n, k), (B, k, m)),
    "Bnk@1km": lambda B, n, k, m: ((B, n, k), (1, k, m)),
    "1d@3d": lambda B, n, k, m: ((k,), (B, k, m)),
    "3d@1d": lambda B, n, k, m: ((B, n, k), (k,)),
    "4d@3d": lambda B, n, k, m: ((2, 1, n, k), (B, k, m)),
}


def _numpy_matmul(a, b):
    """The textbook sum over the contracted axis, with numpy's 1-D promotion rules."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out = np.sum(a2[..., :, :, None] * b2[..., None, :, :], axis=-2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


@pytest.mark.parametrize("case", list(MATMUL_CASES))
@given(B=sizes, n=sizes, k=sizes, m=sizes, seed=seeds, strided=st.booleans())
def test_matmul_gradcheck_and_forward(case, B, n, k, m, seed, strided):
    shape_a, shape_b = MATMUL_CASES[case](B, n, k, m)
    rng = np.random.default_rng(seed)
    a_data = array(rng, shape_a, noncontiguous=strided)
    b_data = array(rng, shape_b, noncontiguous=strided)
    a, b = leaf(a_data), leaf(b_data)
    out = a @ b
    expected = _numpy_matmul(a_data, b_data)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ops.matmul(a, b).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda s, t: s @ t, [a, b])


@pytest.mark.parametrize("case", list(MATMUL_CASES))
def test_matmul_matches_pytorch(case):
    rng = np.random.default_rng(11)
    shape_a, shape_b = MATMUL_CASES[case](3, 2, 4, 5)
    a_data, b_data = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    check_against_torch(lambda a, b: a @ b, lambda a, b: a @ b, [a_data, b_data],
                        rtol_out=1e-12, rtol=1e-12, atol=1e-12, name=case)


def test_matmul_with_one_operand_not_requiring_grad():
    rng = np.random.default_rng(0)
    a = leaf(rng.standard_normal((2, 3)))
    b = leaf(rng.standard_normal((3, 4)), requires_grad=False)
    (a @ b).sum().backward()
    np.testing.assert_allclose(a.grad, np.ones((2, 4)) @ b.numpy().T, rtol=1e-12)
    assert b.grad is None
    assert gradcheck(lambda s, t: s @ t, [a, b])


@pytest.mark.parametrize("shape_a, shape_b, message", [
    ((2, 3), (4, 5), "matmul: shapes (2, 3) and (4, 5) are not aligned: a.shape[-1] = 3 "
                     "but b's contracted axis has 4"),
    ((3,), (4,), "matmul: shapes (3,) and (4,) are not aligned"),
    ((2, 3), (2,), "matmul: shapes (2, 3) and (2,) are not aligned"),
    ((3,), (2, 3), "matmul: shapes (3,) and (2, 3) are not aligned"),
    ((2, 2, 3), (3, 3, 4), "matmul: batch shapes of (2, 2, 3) and (3, 3, 4) cannot be "
                           "broadcast together"),
    ((), (3,), "matmul needs tensors of at least 1 dimension, got shapes () and (3,)"),
])
def test_matmul_shape_mismatch_names_the_shapes(shape_a, shape_b, message):
    a, b = leaf(np.zeros(shape_a)), leaf(np.zeros(shape_b))
    with pytest.raises(ValueError, match=re.escape(message)):
        a @ b


# -- linear ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@given(lead=st.lists(sizes, min_size=1, max_size=2), n_in=sizes, n_out=sizes, seed=seeds,
       strided=st.booleans())
def test_linear_gradcheck_and_forward(with_bias, lead, n_in, n_out, seed, strided):
    rng = np.random.default_rng(seed)
    x_data = array(rng, tuple(lead) + (n_in,), noncontiguous=strided)
    w_data = array(rng, (n_out, n_in), noncontiguous=strided)
    b_data = array(rng, (n_out,), noncontiguous=strided)
    x, w, b = leaf(x_data), leaf(w_data), leaf(b_data)
    # y[..., o] = sum_i x[..., i] W[o, i] (+ b[o])
    expected = np.einsum("...i,oi->...o", x_data, w_data) + (b_data if with_bias else 0.0)
    args = [x, w, b] if with_bias else [x, w]
    out = ops.linear(*args)
    assert out.shape == tuple(lead) + (n_out,)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(ops.linear, args)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3)], ids=["2d", "3d"])
def test_linear_matches_pytorch(with_bias, x_shape):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    x_data, w_data, b_data = (rng.standard_normal(x_shape), rng.standard_normal((5, 3)),
                              rng.standard_normal(5))
    arrays = [x_data, w_data] + ([b_data] if with_bias else [])
    check_against_torch(ops.linear, torch.nn.functional.linear, arrays, rtol_out=1e-12,
                        rtol=1e-12, atol=1e-12)


def test_linear_gradient_only_to_the_weight():
    rng = np.random.default_rng(2)
    x = leaf(rng.standard_normal((2, 3)), requires_grad=False)
    w = leaf(rng.standard_normal((4, 3)))
    b = leaf(rng.standard_normal(4), requires_grad=False)
    ops.linear(x, w, b).sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((2, 4)).T @ x.numpy(), rtol=1e-12)
    assert x.grad is None and b.grad is None


def test_linear_weight_mismatch_names_the_shapes():
    x, w = leaf(np.zeros((2, 3))), leaf(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=re.escape(
            "linear: input of shape (2, 3) needs a weight of shape (out_features, 3), got "
            "(4, 2)")):
        ops.linear(x, w)
    with pytest.raises(ValueError, match=re.escape("got (3,)")):
        ops.linear(x, leaf(np.zeros(3)))


def test_linear_bias_mismatch_names_the_shape():
    x, w, b = leaf(np.zeros((2, 3))), leaf(np.zeros((4, 3))), leaf(np.zeros(3))
    with pytest.raises(ValueError, match=re.escape(
            "linear: bias must have shape (4,), got (3,)")):
        ops.linear(x, w, b)


def test_backward_on_a_non_scalar_product_needs_a_gradient():
    out = leaf(np.ones((2, 3))) @ leaf(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match=re.escape(
            "backward() without a gradient needs a scalar (one-element) tensor; this one "
            "has shape (2, 2)")):
        out.backward()
