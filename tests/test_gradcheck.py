"""gradcheck itself: it passes correct ops, fails wrong ones, and says where."""

import numpy as np
import pytest

import tlcore
from tlcore import Function, GradcheckError, gradcheck


class _Square(Function):
    def __init__(self, wrong_by=0.0):
        self.wrong_by = wrong_by

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        grad = 2 * self.x * g
        grad.flat[-1] += self.wrong_by  # a deliberate error in one element
        return grad


class _ForgetsTheCotangent(Function):
    def forward(self, x):
        return 3.0 * x

    def backward(self, g):
        return np.full_like(g, 3.0)  # right for g = 1, wrong for any other g


class _NotReentrant(Function):
    calls = 0

    def forward(self, x):
        return x * 1.0

    def backward(self, g):
        _NotReentrant.calls += 1
        return g * (1.0 + 1e-3 * _NotReentrant.calls)


def _x(shape=(2, 3), dtype=np.float64, seed=0):
    return tlcore.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype),
                         requires_grad=True)


def test_passes_a_correct_backward():
    assert gradcheck(lambda x: _Square()(x), [_x()])


def test_fails_a_wrong_backward_and_names_input_element_and_values():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: _Square(wrong_by=0.5)(x), [_x()])
    message = str(info.value)
    assert "input 0" in message and "element (1, 2)" in message
    assert "analytic" in message and "numeric" in message


def test_random_cotangent_catches_a_backward_that_ignores_it():
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: _ForgetsTheCotangent()(x), [_x()])


def test_zero_cotangent_check():
    with pytest.raises(GradcheckError, match="zero cotangent"):
        gradcheck(lambda x: _ForgetsTheCotangent()(x), [_x()], atol=1e9)


def test_reentrancy_check():
    with pytest.raises(GradcheckError, match="reentrant|disagree"):
        gradcheck(lambda x: _NotReentrant()(x), [_x()], atol=1.0)


def test_raise_exception_false_returns_false():
    assert gradcheck(lambda x: _Square(wrong_by=1.0)(x), [_x()], raise_exception=False) is False


def test_runs_in_float64_whatever_the_input_dtype():
    seen = []

    def fn(x):
        seen.append(x.dtype)
        return x * x

    assert gradcheck(fn, [_x(dtype=np.float32)])
    assert set(seen) == {np.dtype(np.float64)}


def test_checks_every_input_that_requires_grad_and_passes_others_through():
    a, b = _x(seed=1), _x(seed=2)
    constant = tlcore.tensor(np.ones((2, 3)))
    assert gradcheck(lambda a, b, c, k: (a * b + c) * k, [a, b, constant, 2.0])


def test_multiple_outputs():
    assert gradcheck(lambda x: (x * 2.0, x.exp()), [_x()])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda x: x * 2.0, [tlcore.tensor([1.0])])


def test_keeps_non_contiguous_float64_inputs_non_contiguous():
    data = np.random.default_rng(0).standard_normal((4, 6))[::2, ::3]
    seen = []

    def fn(x):
        seen.append(x.data.flags.c_contiguous)
        return x.exp()

    assert gradcheck(fn, [tlcore.tensor(data, requires_grad=True)])
    assert not any(seen)
