"""ops.batch_norm (the BatchNorm Function): finite-difference gradients in training and
evaluation mode over 2-D, 3-D and 4-D inputs and every weight/bias combination, the
numpy formula, the in-place running statistics (momentum, unbiased variance), PyTorch's
F.batch_norm as oracle, dtypes, and clear errors."""

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, torch_or_skip

import tlcore
from tlcore import gradcheck, ops

seeds = st.integers(0, 2**32 - 1)
AFFINE = [(True, True), (True, False), (False, True), (False, False)]
AFFINE_IDS = ["weight+bias", "weight", "bias", "neither"]
SHAPES = [(2, 3), (4, 2), (2, 3, 4), (3, 2, 2, 3), (2, 1, 3, 2)]


@st.composite
def bn_shapes(draw):
    """(N, C, *spatial) with at least two values per channel (training needs them)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    if n * int(np.prod(spatial)) < 2:
        n = 2
    return (n, c) + spatial


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _numpy_batch_norm(x, mean, var, weight, bias, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1)."""
    out = (x - _channel(mean, x.ndim)) / np.sqrt(_channel(var, x.ndim) + eps)
    if weight is not None:
        out = out * _channel(weight, x.ndim)
    if bias is not None:
        out = out + _channel(bias, x.ndim)
    return out


def _spread_enough(x, minimum=0.05):
    """Every channel's batch variance is away from 0, where 1/sqrt(var + eps) explodes
    and central differences stop being accurate."""
    return np.var(x, axis=_axes(x)).min() > minimum


def _affine(rng, channels, with_weight, with_bias, strided=False):
    weight = leaf(array(rng, (channels,), noncontiguous=strided)) if with_weight else None
    bias = leaf(array(rng, (channels,), noncontiguous=strided)) if with_bias else None
    return weight, bias


def _raw(t):
    return None if t is None else t.numpy()


def _running(rng, channels):
    """Running statistics: any mean, a variance in [0.5, 2)."""
    return rng.standard_normal(channels), rng.uniform(0.5, 2.0, channels)


# -- training mode (batch statistics) ----------------------------------------------------


@pytest.mark.parametrize("with_weight, with_bias", AFFINE, ids=AFFINE_IDS)
@given(shape=bn_shapes(), seed=seeds, strided=st.booleans())
def test_batch_norm_training_gradcheck_and_forward(with_weight, with_bias, shape, seed,
                                                   strided):
    rng = np.random.default_rng(seed)
    x_data = array(rng, shape, noncontiguous=strided)
    assume(_spread_enough(x_data))
    x = leaf(x_data)
    weight, bias = _affine(rng, shape[1], with_weight, with_bias, strided)
    out = ops.batch_norm(x, None, None, weight, bias, training=True)
    mean, var = x_data.mean(axis=_axes(x_data)), x_data.var(axis=_axes(x_data))
    expected = _numpy_batch_norm(x_data, mean, var, _raw(weight), _raw(bias))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, w, b: ops.batch_norm(x, None, None, w, b, training=True),
                     [x, weight, bias])


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_training_gradcheck_batch_of_two_and_strided(shape):
    rng = np.random.default_rng(3)
    x_data = array(rng, shape, noncontiguous=True)
    assert _spread_enough(x_data)
    x = leaf(x_data)
    weight, bias = _affine(rng, shape[1], True, True, strided=True)
    assert not x.data.flags.c_contiguous
    assert gradcheck(lambda x, w, b: ops.batch_norm(x, None, None, w, b, training=True),
                     [x, weight, bias])


def test_batch_norm_training_output_is_normalised_per_channel():
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal((5, 3, 4, 4)) * 3 + 7)
    out = ops.batch_norm(x, None, None, None, None, training=True).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    # var(out) = var / (var + eps), a hair under 1
    var = x.numpy().var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), var / (var + 1e-5), rtol=1e-10)


@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5), (3, 3, 2, 2)])
def test_batch_norm_training_moves_running_statistics(shape, momentum):
    """running = (1 - momentum) * running + momentum * batch, the variance unbiased
    (m / (m - 1) with m values per channel), in place in the given arrays."""
    rng = np.random.default_rng(1)
    x_data = rng.standard_normal(shape)
    running_mean, running_var = _running(rng, shape[1])
    mean0, var0 = running_mean.copy(), running_var.copy()
    mean_id = id(running_mean)
    ops.batch_norm(leaf(x_data), running_mean, running_var, training=True, momentum=momentum)
    axes = _axes(x_data)
    np.testing.assert_allclose(running_mean,
                               (1 - momentum) * mean0 + momentum * x_data.mean(axis=axes),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(running_var,
                               (1 - momentum) * var0 + momentum * x_data.var(axis=axes, ddof=1),
                               rtol=1e-12, atol=1e-15)
    assert id(running_mean) == mean_id


# -- evaluation mode (given statistics) --------------------------------------------------


@pytest.mark.parametrize("with_weight, with_bias", AFFINE, ids=AFFINE_IDS)
@given(shape=bn_shapes(), seed=seeds, strided=st.booleans())
def test_batch_norm_eval_gradcheck_and_forward(with_weight, with_bias, shape, seed, strided):
    rng = np.random.default_rng(seed)
    x_data = array(rng, shape, noncontiguous=strided)
    x = leaf(x_data)
    weight, bias = _affine(rng, shape[1], with_weight, with_bias, strided)
    running_mean, running_var = _running(rng, shape[1])
    before = running_mean.copy(), running_var.copy()
    out = ops.batch_norm(x, running_mean, running_var, weight, bias, training=False)
    expected = _numpy_batch_norm(x_data, running_mean, running_var, _raw(weight),
                                 _raw(bias))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: ops.batch_norm(x, running_mean, running_var, w, b),
                     [x, weight, bias])
    np.testing.assert_array_equal(running_mean, before[0])  # evaluation changes nothing
    np.testing.assert_array_equal(running_var, before[1])


def test_batch_norm_eval_works_on_a_single_sample():
    rng = np.random.default_rng(4)
    running_mean, running_var = _running(rng, 3)
    x = leaf(rng.standard_normal((1, 3)))
    assert gradcheck(lambda x: ops.batch_norm(x, running_mean, running_var), [x])


# -- PyTorch oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("with_weight, with_bias", AFFINE, ids=AFFINE_IDS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_matches_pytorch(shape, training, with_weight, with_bias):
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    c = shape[1]
    x_data = rng.standard_normal(shape)
    arrays = [x_data] + [rng.standard_normal(c) for _ in range(with_weight + with_bias)]
    stats = _running(rng, c)
    ours = [stats[0].copy(), stats[1].copy()]
    theirs = [torch.from_numpy(stats[0].copy()), torch.from_numpy(stats[1].copy())]

    def split(params):
        params = list(params)
        weight = params.pop(0) if with_weight else None
        bias = params.pop(0) if with_bias else None
        return weight, bias

    def fn(x, *params):
        return ops.batch_norm(x, *ours, *split(params), training=training, momentum=0.3)

    def torch_fn(x, *params):
        return torch.nn.functional.batch_norm(x, *theirs, *split(params), training=training,
                                              momentum=0.3)

    check_against_torch(fn, torch_fn, arrays, rtol_out=1e-10, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ours[0], theirs[0].numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-12, atol=1e-15)


# -- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_float32_stays_float32(training):
    rng = np.random.default_rng(6)
    x = tlcore.tensor(rng.standard_normal((4, 3, 2)).astype(np.float32), requires_grad=True)
    w = tlcore.tensor(np.ones(3, np.float32), requires_grad=True)
    b = tlcore.tensor(np.zeros(3, np.float32), requires_grad=True)
    running_mean, running_var = np.zeros(3, np.float32), np.ones(3, np.float32)
    out = ops.batch_norm(x, running_mean, running_var, w, b, training=training)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    assert running_mean.dtype == running_var.dtype == np.float32


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["weight", "bias"])
def test_batch_norm_wrong_weight_or_bias_shape_is_named(name):
    x = leaf(np.random.default_rng(0).standard_normal((4, 3)))
    kwargs = {name: leaf(np.ones(2))}
    message = f"batch_norm: {name} must have shape (3,) for input of shape (4, 3), got (2,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        ops.batch_norm(x, None, None, training=True, **kwargs)


def test_batch_norm_wrong_running_statistics_shape_is_named():
    x = leaf(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=re.escape("running_var must have shape (3,)")):
        ops.batch_norm(x, np.zeros(3), np.ones(4))


@pytest.mark.parametrize("shape", [(1, 3), (1, 2, 1), (1, 2, 1, 1)])
def test_batch_norm_training_needs_more_than_one_value_per_channel(shape):
    x = leaf(np.zeros(shape))
    with pytest.raises(ValueError, match="more than one value per channel"):
        ops.batch_norm(x, None, None, training=True)


def test_batch_norm_eval_needs_running_statistics():
    with pytest.raises(ValueError, match="training=False needs running_mean and running_var"):
        ops.batch_norm(leaf(np.zeros((4, 3))))  # training=False is PyTorch's default


def test_batch_norm_needs_a_channel_axis():
    with pytest.raises(ValueError, match=re.escape("shape (N, C) or (N, C, ...), got (4,)")):
        ops.batch_norm(leaf(np.zeros(4)), None, None, training=True)


def test_batch_norm_training_with_only_one_running_statistic_is_refused_unchanged():
    """PyTorch: 'running_mean and running_var must either both be None or neither be
    None'; nothing may be half-updated."""
    running_mean = np.zeros(3)
    x = leaf(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(ValueError, match="running_mean and running_var"):
        ops.batch_norm(x, running_mean, None, training=True)
    np.testing.assert_array_equal(running_mean, np.zeros(3))


def test_running_statistics_may_be_tensors_in_training_and_in_evaluation():
    x = np.random.default_rng(0).normal(size=(6, 3))
    mean, var = tlcore.tensor(np.zeros(3)), tlcore.tensor(np.ones(3))
    ops.batch_norm(x, mean, var, training=True, momentum=0.5)
    np.testing.assert_allclose(mean.data, 0.5 * x.mean(axis=0))
    out = ops.batch_norm(x, mean, var, training=False)
    np.testing.assert_allclose(out.data, (x - mean.data) / np.sqrt(var.data + 1e-5))
