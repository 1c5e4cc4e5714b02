"""Elementwise ops: + - * / ** neg, exp log sqrt abs, clip, where.

Each op: gradcheck (float64) over hypothesis shapes, broadcasting, python-scalar
operands and non-contiguous inputs; forward against numpy; a PyTorch oracle; dtypes.
Kinks and poles are avoided by drawing inputs away from them.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (array, broadcastable_shapes, check_against_torch, leaf, shapes,
                        torch_or_skip)

import tlcore
from tlcore import ops

seeds = st.integers(0, 2**32 - 1)

POSITIVE = dict(low=0.5, high=2.0)  # log, sqrt, a divisor, a base with a tensor exponent

# name -> (tlcore fn, numpy fn, input kwargs for a, input kwargs for b)
BINARY = {
    "add": (lambda a, b: a + b, np.add, {}, {}),
    "sub": (lambda a, b: a - b, np.subtract, {}, {}),
    "mul": (lambda a, b: a * b, np.multiply, {}, {}),
    "div": (lambda a, b: a / b, np.divide, {}, POSITIVE),
    "pow": (lambda a, b: a ** b, np.power, POSITIVE, {}),
    "add_fn": (ops.add, np.add, {}, {}),
    "sub_fn": (ops.sub, np.subtract, {}, {}),
    "mul_fn": (ops.mul, np.multiply, {}, {}),
    "div_fn": (ops.div, np.divide, {}, POSITIVE),
    "pow_fn": (ops.pow, np.power, POSITIVE, {}),
}

# name -> (fn, input kwargs); each fn works on a Tensor and on a numpy array alike
SCALAR = {
    "x * 2.0": (lambda x: x * 2.0, {}),
    "2.0 * x": (lambda x: 2.0 * x, {}),
    "x + 2.0": (lambda x: x + 2.0, {}),
    "2.0 + x": (lambda x: 2.0 + x, {}),
    "x - 2.0": (lambda x: x - 2.0, {}),
    "2.0 - x": (lambda x: 2.0 - x, {}),
    "x / 2.0": (lambda x: x / 2.0, {}),
    "2.0 / x": (lambda x: 2.0 / x, POSITIVE),
    "x ** 3": (lambda x: x ** 3, {}),
    "x ** 2.0": (lambda x: x ** 2.0, {}),
    "x ** 0.5": (lambda x: x ** 0.5, POSITIVE),
    "x ** -1.5": (lambda x: x ** -1.5, POSITIVE),
    "2.0 ** x": (lambda x: 2.0 ** x, {}),
    "-x": (lambda x: -x, {}),
}

# name -> (tlcore fn, numpy fn, input kwargs)
UNARY = {
    "neg": (ops.neg, np.negative, {}),
    "exp": (ops.exp, np.exp, {}),
    "exp_method": (lambda x: x.exp(), np.exp, {}),
    "log": (ops.log, np.log, POSITIVE),
    "log_method": (lambda x: x.log(), np.log, POSITIVE),
    "sqrt": (ops.sqrt, np.sqrt, POSITIVE),
    "abs": (ops.abs, np.abs, dict(away_from=0.0)),
    "abs_builtin": (lambda x: abs(x), np.abs, dict(away_from=0.0)),
}

CLIP_BOUNDS = [(-0.5, 0.7), (None, 0.3), (-0.3, None)]


def _push_away(data, point, gap=0.1):
    """Move values within ``gap`` of ``point`` to 2 gaps from it, in place (as
    strategies.array does for its one ``away_from`` point)."""
    near = np.abs(data - point) < gap
    data[near] = point + np.where(data[near] >= point, gap, -gap) * 2
    return data


def _clip_input(rng, shape, noncontiguous, low, high):
    data = array(rng, shape, noncontiguous)
    for bound in (low, high):
        if bound is not None:
            _push_away(data, bound)
    return data


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_shapes(), seed=seeds, noncontiguous=st.booleans())
def test_binary_forward_and_gradcheck(name, pair, seed, noncontiguous):
    fn, reference, kw_a, kw_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a = array(rng, pair[0], noncontiguous, **kw_a)
    b = array(rng, pair[1], noncontiguous, **kw_b)
    out = fn(leaf(a), leaf(b))
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(out.numpy(), reference(a, b), rtol=1e-12, atol=0)
    assert tlcore.gradcheck(fn, [leaf(a), leaf(b)])


@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_shapes(), seed=seeds)
def test_binary_gradcheck_one_input_needs_grad(name, pair, seed):
    """Only one operand requires grad: the other is a constant tensor or a raw array."""
    fn, _, kw_a, kw_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a = array(rng, pair[0], **kw_a)
    b = array(rng, pair[1], **kw_b)
    assert tlcore.gradcheck(fn, [leaf(a), leaf(b, requires_grad=False)])
    assert tlcore.gradcheck(fn, [leaf(a, requires_grad=False), leaf(b)])
    assert tlcore.gradcheck(lambda x: fn(x, b), [leaf(a)])
    assert tlcore.gradcheck(lambda y: fn(a, y), [leaf(b)])


@pytest.mark.parametrize("name", list(SCALAR))
@given(shape=shapes(), seed=seeds, noncontiguous=st.booleans())
def test_python_scalar_operand(name, shape, seed, noncontiguous):
    fn, kw = SCALAR[name]
    x = array(np.random.default_rng(seed), shape, noncontiguous, **kw)
    np.testing.assert_allclose(fn(leaf(x)).numpy(), fn(x), rtol=1e-12, atol=0)
    assert tlcore.gradcheck(fn, [leaf(x)])


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes(), seed=seeds, noncontiguous=st.booleans())
def test_unary_forward_and_gradcheck(name, shape, seed, noncontiguous):
    fn, reference, kw = UNARY[name]
    x = array(np.random.default_rng(seed), shape, noncontiguous, **kw)
    np.testing.assert_allclose(fn(leaf(x)).numpy(), reference(x), rtol=1e-12, atol=0)
    assert tlcore.gradcheck(fn, [leaf(x)])


@pytest.mark.parametrize("low, high", CLIP_BOUNDS)
@given(shape=shapes(), seed=seeds, noncontiguous=st.booleans())
def test_clip_forward_and_gradcheck(low, high, shape, seed, noncontiguous):
    x = _clip_input(np.random.default_rng(seed), shape, noncontiguous, low, high)
    fn = lambda t: ops.clip(t, low, high)  # noqa: E731
    np.testing.assert_array_equal(fn(leaf(x)).numpy(), np.clip(x, low, high))
    np.testing.assert_array_equal(leaf(x).clip(low, high).numpy(), np.clip(x, low, high))
    assert tlcore.gradcheck(fn, [leaf(x)])


@given(pair=broadcastable_shapes(), seed=seeds, noncontiguous=st.booleans(),
       condition_tensor=st.booleans())
def test_where_forward_and_gradcheck(pair, seed, noncontiguous, condition_tensor):
    rng = np.random.default_rng(seed)
    a = array(rng, pair[0], noncontiguous)
    b = array(rng, pair[1], noncontiguous)
    condition = rng.random(np.broadcast_shapes(a.shape, b.shape)) < 0.5
    cond = tlcore.tensor(condition) if condition_tensor else condition
    fn = lambda x, y: ops.where(cond, x, y)  # noqa: E731
    np.testing.assert_array_equal(fn(leaf(a), leaf(b)).numpy(), np.where(condition, a, b))
    assert tlcore.gradcheck(fn, [leaf(a), leaf(b)])
    # a python scalar on either side
    assert tlcore.gradcheck(lambda x: ops.where(cond, x, 0.5), [leaf(a)])
    assert tlcore.gradcheck(lambda y: ops.where(cond, -1.0, y), [leaf(b)])


def test_where_gradient_goes_to_the_chosen_side():
    condition = np.array([True, False, True])
    a = tlcore.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tlcore.tensor([4.0, 5.0, 6.0], requires_grad=True)
    ops.where(condition, a, b).backward(np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(a.grad, [10.0, 0.0, 30.0])
    np.testing.assert_array_equal(b.grad, [0.0, 20.0, 0.0])


# ----------------------------------------------------------------------------- errors


def test_binary_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tlcore.tensor(np.ones((2, 3))) + tlcore.tensor(np.ones(4))


def test_where_needs_a_bool_condition():
    x = tlcore.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="condition must be a bool array"):
        ops.where(np.array([1, 0]), x, x)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip needs low or high"):
        ops.clip(tlcore.tensor([1.0]))


# ----------------------------------------------------------------------------- kinks


def test_abs_and_clip_gradients_at_their_kinks():
    """abs'(0) = 0 (sign(0)); clip's gradient is 1 at its bounds, 0 outside (PyTorch)."""
    x = tlcore.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    ops.abs(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])
    x = tlcore.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    ops.clip(x, -1.0, 1.0).backward(np.ones(5))
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_pow_gradient_at_zero_base_with_zero_exponent_is_zero():
    """d/da a^0 = 0 everywhere, also at a = 0 (not 0 * 0^-1 = nan), as PyTorch."""
    x = tlcore.tensor(np.array([0.0, 1.5, -2.0]), requires_grad=True)
    (x ** 0).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    x.grad = None
    exponent = tlcore.tensor(np.array([0.0, 0.0, 3.0]))
    (x ** exponent).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 12.0])


# ----------------------------------------------------------------------------- PyTorch


def _torch_binary(torch):
    return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
            "pow": torch.pow}


def test_binary_ops_agree_with_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    for name, torch_fn in _torch_binary(torch).items():
        fn, _, kw_a, kw_b = BINARY[name]
        for shape_a, shape_b in [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), (2, 3, 4))]:
            a, b = array(rng, shape_a, **kw_a), array(rng, shape_b, **kw_b)
            check_against_torch(fn, torch_fn, [a, b], name=f"{name} {shape_a} {shape_b}")


def test_scalar_and_unary_ops_agree_with_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    cases = dict(SCALAR)
    cases.update({name: (fn, kw) for name, (fn, _, kw) in UNARY.items()})
    torch_fns = {"neg": torch.neg, "exp": torch.exp, "exp_method": torch.exp,
                 "log": torch.log, "log_method": torch.log, "sqrt": torch.sqrt,
                 "abs": torch.abs, "abs_builtin": torch.abs}
    for name, (fn, kw) in cases.items():
        x = array(rng, (3, 4), noncontiguous=True, **kw)
        if name.startswith("abs"):
            x[0, 0] = 0.0  # the kink: both give gradient 0 there
        # the scalar lambdas work on torch tensors too
        check_against_torch(fn, torch_fns.get(name, fn), [x], name=name)


def test_clip_and_where_agree_with_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    x = array(rng, (4, 5))
    x[0, :2] = [-0.5, 0.7]  # exactly at the bounds: gradient 1, as torch.clamp
    for low, high in CLIP_BOUNDS + [(-0.5, 0.7)]:
        check_against_torch(lambda t: ops.clip(t, low, high),
                            lambda t: torch.clamp(t, low, high), [x], rtol_out=1e-7,
                            rtol=1e-7, atol=0, name=f"clip {low} {high}")
    condition = rng.random((3, 4)) < 0.5
    check_against_torch(lambda a, b: ops.where(condition, a, b),
                        lambda a, b: torch.where(torch.from_numpy(condition), a, b),
                        [array(rng, (3, 1)), array(rng, (4,))], rtol_out=1e-7, rtol=1e-12,
                        atol=0, name="where")


# ----------------------------------------------------------------------------- dtypes

DTYPE_BINARY = sorted(name for name in BINARY if not name.endswith("_fn"))


def _positive32(rng, shape):
    return rng.uniform(0.5, 2.0, shape).astype(np.float32)


def _raw_grads(out):
    """The gradients the op itself returns for a float32 cotangent, before the engine's
    cast: a float32 op must compute in float32, not silently in float64."""
    grads = out.creator.backward(np.ones(out.shape, np.float32))
    return [g for g in (grads if isinstance(grads, tuple) else (grads,)) if g is not None]


@pytest.mark.parametrize("name", DTYPE_BINARY)
def test_binary_float32_stays_float32(name):
    fn = BINARY[name][0]
    rng = np.random.default_rng(3)
    a = tlcore.tensor(_positive32(rng, (2, 3)), requires_grad=True)
    b = tlcore.tensor(_positive32(rng, (3,)), requires_grad=True)
    out = fn(a, b)
    assert out.dtype == np.float32
    assert {g.dtype for g in _raw_grads(out)} == {np.dtype(np.float32)}
    out.backward(np.ones(out.shape))
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,)


@pytest.mark.parametrize("name", DTYPE_BINARY)
def test_binary_float32_with_float64_promotes(name):
    fn = BINARY[name][0]
    rng = np.random.default_rng(4)
    a = tlcore.tensor(_positive32(rng, (2, 3)), requires_grad=True)
    b = tlcore.tensor(rng.uniform(0.5, 2.0, (3,)), requires_grad=True)
    assert a.dtype == np.float32 and b.dtype == np.float64
    for out in (fn(a, b), fn(b, a)):
        assert out.dtype == np.float64
        a.grad = b.grad = None
        out.backward(np.ones(out.shape))
        assert a.grad.dtype == np.float32
        assert b.grad.dtype == np.float64


FLOAT32_CASES = dict(
    {name: fn for name, (fn, _) in SCALAR.items()},
    **{name: fn for name, (fn, *_) in UNARY.items()},
    clip=lambda t: ops.clip(t, 0.8, 1.5),
    where=lambda t: ops.where(np.array([True, False, True]), t, 0.0),
)


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_stays_float32(name):
    """Python scalars are weak, and unary ops keep float32: output and gradients."""
    x = tlcore.tensor(_positive32(np.random.default_rng(5), (2, 3)), requires_grad=True)
    out = FLOAT32_CASES[name](x)
    assert out.dtype == np.float32
    assert {g.dtype for g in _raw_grads(out)} == {np.dtype(np.float32)}
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", sorted(UNARY) + ["clip"])
def test_unary_float32_with_float64_promotes(name):
    fn = (lambda t: ops.clip(t, 0.8, 1.5)) if name == "clip" else UNARY[name][0]
    rng = np.random.default_rng(7)
    x = tlcore.tensor(_positive32(rng, (2, 3)), requires_grad=True)
    w = tlcore.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    out = fn(x) * w
    assert out.dtype == np.float64
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_where_float32_with_float64_promotes():
    a = tlcore.tensor([1.0, 2.0], requires_grad=True)
    b = tlcore.tensor(np.array([3.0, 4.0]), requires_grad=True)
    out = ops.where(np.array([True, False]), a, b)
    assert out.dtype == np.float64
    out.backward(np.ones(2))
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, [1.0, 0.0])
