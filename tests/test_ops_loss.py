"""Losses: cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits, kl_div.

Each is checked by finite differences over hypothesis shapes and every reduction,
against its numpy formula, against PyTorch (values and gradients, every reduction),
for clear errors at the boundary, and for keeping float32 in float32.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, shapes, torch_or_skip

import tlcore
from tlcore import gradcheck, ops

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)
REDUCTIONS = ["mean", "sum", "none"]
KL_REDUCTIONS = REDUCTIONS + ["batchmean"]


# The PyTorch oracle's tolerances for losses (a reduction adds rounding to the value).
ORACLE = dict(rtol_out=1e-10, rtol=1e-10, atol=1e-12)


def _reduce(losses, reduction, batch=None):
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "batchmean":
        return losses.sum() / batch
    return losses.mean()


def _class_problem(draw_shape, seed, strided):
    """Logits of shape (N, C, d...) and integer targets of shape (N, d...)."""
    rng = np.random.default_rng(seed)
    n, c, extra = draw_shape
    logits = array(rng, (n, c) + extra, noncontiguous=strided)
    target = rng.integers(0, c, (n,) + extra)
    return logits, target


class_shapes = st.tuples(sizes, sizes, st.lists(st.integers(1, 3), max_size=2).map(tuple))


def _numpy_cross_entropy(logits, target):
    """-log softmax(logits)[target] per sample (class axis 1), via logsumexp."""
    m = logits.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    picked = np.take_along_axis(logits, target[:, None], axis=1)[:, 0]
    return lse - picked


# -- cross_entropy -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=class_shapes, seed=seeds, strided=st.booleans())
def test_cross_entropy_gradcheck_and_forward(reduction, shape, seed, strided):
    logits, target = _class_problem(shape, seed, strided)
    x = leaf(logits)
    out = ops.cross_entropy(x, target, reduction=reduction)
    expected = _reduce(_numpy_cross_entropy(logits, target), reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: ops.cross_entropy(t, target, reduction), [x])


def test_cross_entropy_accepts_a_tensor_target_and_large_logits():
    x = leaf(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]))
    out = ops.cross_entropy(x, tlcore.tensor([0, 2]), reduction="none")
    np.testing.assert_allclose(out.numpy(), [0.0, np.log(3.0)], atol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [[0.0, 0.0, 0.0], [1 / 3, 1 / 3, -2 / 3]], atol=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 3), (3, 4, 2), (2, 3, 2, 2)], ids=str)
def test_class_losses_match_pytorch(name, reduction, shape):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    scores = rng.standard_normal(shape)
    target = rng.integers(0, shape[1], shape[:1] + shape[2:])
    mine, theirs = getattr(ops, name), getattr(torch.nn.functional, name)
    check_against_torch(
        lambda x: mine(x, target, reduction=reduction),
        lambda x: theirs(x, torch.from_numpy(target), reduction=reduction),
        [scores], name=name, **ORACLE)


def test_cross_entropy_float_target_is_a_type_error_naming_target():
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class "
                                        "indices, got dtype float64"):
        ops.cross_entropy(leaf(np.zeros((2, 3))), np.array([0.0, 1.0]))


@pytest.mark.parametrize("bad", [3, -1])
def test_cross_entropy_class_out_of_range_names_the_class(bad):
    with pytest.raises(IndexError, match=re.escape(
            f"cross_entropy: target holds class {bad}, outside [0, 3)")):
        ops.cross_entropy(leaf(np.zeros((2, 3))), np.array([0, bad]))


@pytest.mark.parametrize("logits_shape, target_shape, expected", [
    ((2, 3), (3,), "(2,)"), ((2, 3), (2, 1), "(2,)"), ((2, 3, 4), (2,), "(2, 4)"),
])
def test_cross_entropy_wrong_target_shape_names_both_shapes(logits_shape, target_shape,
                                                            expected):
    with pytest.raises(ValueError, match=re.escape(
            f"target has shape {target_shape}; scores of shape {logits_shape} need class "
            f"indices of shape {expected}")):
        ops.cross_entropy(leaf(np.zeros(logits_shape)), np.zeros(target_shape, dtype=int))


# -- nll_loss ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=class_shapes, seed=seeds, strided=st.booleans())
def test_nll_loss_gradcheck_and_forward(reduction, shape, seed, strided):
    log_probs, target = _class_problem(shape, seed, strided)
    x = leaf(log_probs)
    out = ops.nll_loss(x, target, reduction=reduction)
    picked = -np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(out.numpy(), _reduce(picked, reduction), rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda t: ops.nll_loss(t, target, reduction), [x])


def test_nll_loss_of_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(3)
    logits, target = rng.standard_normal((4, 5)), rng.integers(0, 5, 4)
    np.testing.assert_allclose(
        ops.nll_loss(ops.log_softmax(leaf(logits), axis=1), target).numpy(),
        ops.cross_entropy(leaf(logits), target).numpy(), rtol=1e-12)


def test_nll_loss_bad_targets_are_clear_errors():
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        ops.nll_loss(x, np.array([0.5, 1.0]))
    with pytest.raises(IndexError, match=re.escape("target holds class 7, outside [0, 3)")):
        ops.nll_loss(x, np.array([7, 1]))
    with pytest.raises(ValueError, match=re.escape("target has shape (1,)")):
        ops.nll_loss(x, np.array([1]))


# -- mse_loss ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes(), seed=seeds,
       strided=st.booleans())
def test_mse_loss_gradcheck_to_input_and_target(reduction, shape, seed, strided):
    rng = np.random.default_rng(seed)
    a, b = array(rng, shape, noncontiguous=strided), array(rng, shape, noncontiguous=strided)
    x, t = leaf(a), leaf(b)
    out = ops.mse_loss(x, t, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), _reduce((a - b) ** 2, reduction), rtol=1e-12)
    assert gradcheck(lambda s, u: ops.mse_loss(s, u, reduction), [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_pytorch(reduction):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    check_against_torch(lambda x, t: ops.mse_loss(x, t, reduction=reduction),
                        lambda x, t: F.mse_loss(x, t, reduction=reduction), [a, b], **ORACLE)


def test_mse_loss_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "mse_loss: input has shape (3,) but target has shape (3, 1); they must match")):
        ops.mse_loss(leaf(np.zeros(3)), leaf(np.zeros((3, 1))))


# -- binary_cross_entropy_with_logits ----------------------------------------------------


def _numpy_bce(x, t):
    """The textbook form -[t log s + (1 - t) log(1 - s)], s = sigmoid(x) (moderate x)."""
    s = 1 / (1 + np.exp(-x))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes(), seed=seeds,
       strided=st.booleans())
def test_bce_with_logits_gradcheck_to_input_and_target(reduction, shape, seed, strided):
    rng = np.random.default_rng(seed)
    logits = array(rng, shape, noncontiguous=strided)
    target = array(rng, shape, noncontiguous=strided, low=0.0, high=1.0)
    x, t = leaf(logits), leaf(target)
    out = ops.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), _reduce(_numpy_bce(logits, target), reduction),
                               rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda s, u: ops.binary_cross_entropy_with_logits(s, u, reduction),
                     [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scale", [1.0, 100.0], ids=["moderate", "saturated"])
def test_bce_with_logits_matches_pytorch(reduction, scale):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    logits = scale * np.sign(rng.standard_normal((3, 4))) if scale > 1 else \
        rng.standard_normal((3, 4))
    target = rng.uniform(0, 1, (3, 4))
    check_against_torch(
        lambda x, t: ops.binary_cross_entropy_with_logits(x, t, reduction=reduction),
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
        [logits, target], **ORACLE)


def test_bce_with_logits_is_stable_at_large_logits():
    x = leaf(np.array([100.0, -100.0, 100.0, -100.0]))
    t = leaf(np.array([0.0, 1.0, 1.0, 0.0]))
    out = ops.binary_cross_entropy_with_logits(x, t, reduction="none")
    # a confident wrong answer costs |x|; a confident right one log(1 + e^-100) ~ 0
    np.testing.assert_allclose(out.numpy(), [100.0, 100.0, 0.0, 0.0], atol=1e-40)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, -1.0, 0.0, 0.0], atol=1e-40)
    np.testing.assert_array_equal(t.grad, [-100.0, 100.0, -100.0, 100.0])
    assert gradcheck(lambda s, u: ops.binary_cross_entropy_with_logits(s, u), [x, t])


def test_bce_with_logits_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "binary_cross_entropy_with_logits: input has shape (2, 2) but target has shape "
            "(4,)")):
        ops.binary_cross_entropy_with_logits(leaf(np.zeros((2, 2))), np.zeros(4))


# -- kl_div ------------------------------------------------------------------------------


def _kl_problem(rng, shape, strided, zeros=False):
    """Log-probabilities q and probabilities p over the last axis (p may hold zeros)."""
    q = array(rng, shape, noncontiguous=strided)
    q = q - np.log(np.exp(q).sum(axis=-1, keepdims=True))
    p = array(rng, shape, noncontiguous=strided, low=0.05, high=1.0)
    if zeros:
        p[rng.random(shape) < 0.4] = 0.0
    p /= np.maximum(p.sum(axis=-1, keepdims=True), 1e-12)
    return q, p


def _numpy_kl(q, target, log_target):
    """p (log p - q) per element, with 0 log 0 = 0."""
    if log_target:
        return np.exp(target) * (target - q)
    safe = np.where(target > 0, target, 1.0)
    return np.where(target > 0, target * (np.log(safe) - q), 0.0)


@pytest.mark.parametrize("log_target", [False, True], ids=["p", "log-p"])
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@given(shape=shapes(), seed=seeds,
       strided=st.booleans())
def test_kl_div_gradcheck_to_input_and_target(reduction, log_target, shape, seed, strided):
    q, p = _kl_problem(np.random.default_rng(seed), shape, strided)
    target = np.log(p) if log_target else p
    x, t = leaf(q), leaf(target)
    out = ops.kl_div(x, t, reduction=reduction, log_target=log_target)
    expected = _reduce(_numpy_kl(q, target, log_target), reduction, batch=shape[0])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda s, u: ops.kl_div(s, u, reduction, log_target), [x, t])


@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@given(shape=shapes(), seed=seeds,
       strided=st.booleans())
def test_kl_div_with_zeros_in_the_target(reduction, shape, seed, strided):
    q, p = _kl_problem(np.random.default_rng(seed), shape, strided, zeros=True)
    x = leaf(q)
    out = ops.kl_div(x, p, reduction=reduction)
    assert np.all(np.isfinite(out.numpy()))
    expected = _reduce(_numpy_kl(q, p, False), reduction, batch=shape[0])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    # the gradient to the target at p = 0 is unbounded (d p log p / dp -> -inf): only
    # the input's gradient is checked here
    assert gradcheck(lambda s: ops.kl_div(s, p, reduction), [x])


@pytest.mark.filterwarnings("ignore:reduction.*mean:UserWarning")
@pytest.mark.parametrize("log_target", [False, True], ids=["p", "log-p"])
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
def test_kl_div_matches_pytorch(reduction, log_target):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    q, p = _kl_problem(rng, (3, 4), False)
    target = np.log(p) if log_target else p
    check_against_torch(
        lambda x, t: ops.kl_div(x, t, reduction=reduction, log_target=log_target),
        lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
        [q, target], **ORACLE)


@pytest.mark.filterwarnings("ignore:reduction.*mean:UserWarning")
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
def test_kl_div_with_zero_targets_matches_pytorch(reduction):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    q, p = _kl_problem(rng, (4, 5), False, zeros=True)
    assert (p == 0).any()
    check_against_torch(lambda x: ops.kl_div(x, p, reduction=reduction),
                        lambda x: F.kl_div(x, torch.from_numpy(p), reduction=reduction),
                        [q], **ORACLE)


def test_kl_div_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "kl_div: input has shape (2, 3) but target has shape (3,)")):
        ops.kl_div(leaf(np.zeros((2, 3))), np.full(3, 1 / 3))


# -- every loss --------------------------------------------------------------------------

_TARGETS = {"cross_entropy": lambda: np.array([0, 2]), "nll_loss": lambda: np.array([1, 0])}


def _call(name, x, reduction, **kwargs):
    target = _TARGETS[name]() if name in _TARGETS else np.full(x.shape, 0.25, dtype=x.dtype)
    return getattr(ops, name)(x, target, reduction=reduction, **kwargs)


LOSSES = ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
          "kl_div"]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", ["avg", "batchmean", None])
def test_unknown_reduction_lists_the_allowed_ones(name, reduction):
    if name == "kl_div" and reduction == "batchmean":
        reduction = "elementwise_mean"
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape(
            "reduction must be one of ('mean', 'sum', 'none'") + ".*" +
            re.escape(f"got {reduction!r}")):
        _call(name, x, reduction)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_in_float32_stay_float32(name, reduction):
    values = np.random.default_rng(9).standard_normal((2, 3)).astype(np.float32)
    x = tlcore.tensor(values, requires_grad=True)
    assert x.dtype == np.float32
    out = _call(name, x, reduction)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32
    assert np.all(np.isfinite(x.grad))
    # the same loss in float64 agrees to float32 precision
    expected = _call(name, leaf(values.astype(np.float64)), reduction).numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_batchmean_is_the_sum_over_the_batch_size():
    q, p = _kl_problem(np.random.default_rng(10), (4, 3), False)
    total = ops.kl_div(leaf(q), p, reduction="sum").item()
    assert ops.kl_div(leaf(q), p, reduction="batchmean").item() == pytest.approx(total / 4)
    assert ops.kl_div(leaf(q), p, reduction="mean").item() == pytest.approx(total / 12)
