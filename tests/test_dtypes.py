"""The dtype rules of backend.py: float32 by default, numpy promotion between tensors,
weak Python scalars, gradients in their tensor's dtype."""

import numpy as np
import pytest

import tlcore
from tlcore import ops

F32, F64 = np.float32, np.float64


def t(dtype, requires_grad=True, shape=(2, 3)):
    return tlcore.tensor(np.ones(shape, dtype), requires_grad=requires_grad)


@pytest.mark.parametrize("op", [ops.add, ops.sub, ops.mul, ops.div, ops.pow])
@pytest.mark.parametrize("a, b, expected", [(F32, F32, F32), (F64, F64, F64),
                                            (F32, F64, F64), (F64, F32, F64)])
def test_tensor_tensor_promotion_and_gradient_dtypes(op, a, b, expected):
    x, y = t(a), t(b)
    out = op(x, y)
    assert out.dtype == expected
    out.sum().backward()
    assert x.grad.dtype == a and y.grad.dtype == b


@pytest.mark.parametrize("dtype", [F32, F64])
def test_python_scalars_are_weak(dtype):
    x = t(dtype)
    for out in (x * 2.5, 2.5 * x, x + 1, 1 - x, x / 3.0, x ** 2, 2.0 ** x):
        assert out.dtype == dtype


@pytest.mark.parametrize("dtype", [F32, F64])
def test_float32_stays_float32_through_a_network_step(dtype):
    rng = np.random.default_rng(0)
    x = tlcore.tensor(rng.standard_normal((5, 4)).astype(dtype))
    w = tlcore.tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    b = tlcore.tensor(np.zeros(3, dtype), requires_grad=True)
    h = ops.linear(x, w, b).relu().tanh().sigmoid()
    loss = ops.cross_entropy(h.log_softmax(axis=1), rng.integers(0, 3, 5)) + \
        ops.mse_loss(h, np.zeros((5, 3), dtype))
    assert loss.dtype == dtype
    loss.backward()
    assert w.grad.dtype == dtype and b.grad.dtype == dtype


def test_integer_tensors_compute_but_cannot_require_grad():
    i = tlcore.tensor([1, 2, 3])
    assert (i * 2).dtype == np.int64
    assert (i * 2.5).dtype == np.float64  # numpy's rule for int with a Python float
    with pytest.raises(TypeError, match="floating"):
        i.requires_grad_()
