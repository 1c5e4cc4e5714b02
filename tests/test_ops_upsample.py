"""upsample_nearest and nn.Upsample: finite-difference gradients over shapes and scales
(strided and transposed inputs too), the forward against its definition, PyTorch's
F.interpolate(mode="nearest") as the oracle, the layer, dtypes and clear errors."""

import re

import numpy as np
import pytest
from strategies import array, check_against_torch, leaf, torch_or_skip

import tlcore
from tlcore import gradcheck, nn, ops
from tlcore.nn import functional as F

SHAPES = [(1, 1, 1, 1), (2, 3, 2, 3), (1, 2, 4, 1), (2, 1, 3, 2)]
SCALES = [1, 2, 3]


def upsample_by_loops(x, s):
    """The definition: y[n, c, i, j] = x[n, c, i // s, j // s]."""
    n, c, height, width = x.shape
    out = np.empty((n, c, height * s, width * s))
    for b, ch, i, j in np.ndindex(out.shape):
        out[b, ch, i, j] = x[b, ch, i // s, j // s]
    return out


def transposed(rng, shape):
    """A non-contiguous (N, C, H, W) view: the H and W axes of a (N, C, W, H) array swapped."""
    n, c, height, width = shape
    data = rng.standard_normal((n, c, width, height)).swapaxes(2, 3)
    assert data.shape == shape
    return data


INPUTS = {
    "contiguous": lambda rng, shape: array(rng, shape),
    "strided": lambda rng, shape: array(rng, shape, noncontiguous=True),
    "transposed": transposed,
}


# -- gradients and forwards --------------------------------------------------------------


@pytest.mark.parametrize("layout", list(INPUTS))
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gradcheck_and_forward(shape, scale, layout):
    x = leaf(INPUTS[layout](np.random.default_rng(sum(shape) + scale), shape))
    out = ops.upsample_nearest(x, scale)
    np.testing.assert_array_equal(out.numpy(), upsample_by_loops(x.numpy(), scale))
    assert gradcheck(lambda t: ops.upsample_nearest(t, scale), [x])


def test_transposed_view_input_is_non_contiguous():
    data = transposed(np.random.default_rng(0), (2, 3, 4, 5))
    assert not data.flags.c_contiguous
    x = leaf(data)
    np.testing.assert_array_equal(ops.upsample_nearest(x, 2).numpy(), upsample_by_loops(data, 2))
    assert gradcheck(lambda t: ops.upsample_nearest(t, 2), [x])


def test_gradient_is_the_sum_over_each_block():
    x = leaf(np.zeros((1, 1, 2, 2)))
    g = np.arange(16.0).reshape(1, 1, 4, 4)
    ops.upsample_nearest(x, 2).backward(g)
    expected = [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7],
                [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]
    np.testing.assert_array_equal(x.grad[0, 0], expected)


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_gradient_has_the_bits_of_the_block_sum(scale):
    """The backward adds strided slices in the order of numpy's sum over each block, so
    it gives that sum's bits, in float32 too (the experiments' numbers rest on it)."""
    g = np.random.default_rng(scale).standard_normal((3, 4, 5 * scale, 6 * scale))
    for dtype in (np.float32, np.float64):
        x = tlcore.tensor(np.zeros((3, 4, 5, 6), dtype), requires_grad=True)
        ops.upsample_nearest(x, scale).backward(g.astype(dtype))
        expected = g.astype(dtype).reshape(3, 4, 5, scale, 6, scale).sum(axis=(3, 5))
        np.testing.assert_array_equal(x.grad, expected)


def test_scale_one_is_the_identity_and_a_new_array():
    data = np.random.default_rng(1).standard_normal((2, 2, 3, 3))
    out = ops.upsample_nearest(leaf(data), 1)
    np.testing.assert_array_equal(out.numpy(), data)
    assert not np.shares_memory(out.numpy(), data)


def test_float32_stays_float32_and_numpy_integer_scale():
    x = tlcore.tensor(np.random.default_rng(2).standard_normal((1, 2, 3, 3)),
                      requires_grad=True, dtype=np.float32)
    out = ops.upsample_nearest(x, np.int64(2))
    assert out.dtype == np.float32 and out.shape == (1, 2, 6, 6)
    out.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.full((1, 2, 3, 3), 4.0, np.float32))


# -- PyTorch oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", SHAPES + [(3, 2, 5, 7)], ids=lambda s: "x".join(map(str, s)))
def test_matches_pytorch_interpolate(shape, scale):
    torch = torch_or_skip()
    x = np.random.default_rng(3 + scale).standard_normal(shape)
    check_against_torch(
        lambda t: ops.upsample_nearest(t, scale),
        lambda t: torch.nn.functional.interpolate(t, scale_factor=scale, mode="nearest"),
        [x], rtol_out=0, rtol=1e-12)


def test_layer_matches_pytorch_upsample():
    torch = torch_or_skip()
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    check_against_torch(nn.Upsample(scale_factor=3),
                        torch.nn.Upsample(scale_factor=3, mode="nearest"), [x])


# -- the layer and the functional form ---------------------------------------------------


def test_layer_and_functional_give_the_ops_result():
    data = np.random.default_rng(5).standard_normal((2, 3, 4, 4))
    expected = ops.upsample_nearest(leaf(data), 2).numpy()
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(leaf(data)).numpy(), expected)
    np.testing.assert_array_equal(nn.Upsample()(leaf(data)).numpy(), expected)  # default 2
    np.testing.assert_array_equal(F.upsample_nearest(leaf(data), 2).numpy(), expected)
    assert F.upsample_nearest is ops.upsample_nearest
    assert "Upsample" in nn.__all__


def test_layer_gradient_and_repr():
    layer = nn.Upsample(scale_factor=3)
    assert repr(layer) == "Upsample(scale_factor=3, mode='nearest')"
    assert list(layer.parameters()) == []
    x = leaf(np.random.default_rng(6).standard_normal((1, 2, 2, 3)))
    assert gradcheck(layer, [x])


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0, -1, 2.0, 1.5, True, "2", None, (2, 2)])
def test_bad_scale_is_named(scale):
    message = f"upsample_nearest: scale must be an int >= 1 (one factor for both axes), " \
              f"got {scale!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        ops.upsample_nearest(leaf(np.zeros((1, 1, 2, 2))), scale)


@pytest.mark.parametrize("shape", [(2, 2), (1, 2, 2), (1, 1, 1, 2, 2)])
def test_input_that_is_not_4d_is_refused(shape):
    message = f"upsample_nearest expects a 4-D (N, C, H, W) input, got shape {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        ops.upsample_nearest(leaf(np.zeros(shape)), 2)
    with pytest.raises(ValueError, match=re.escape("4-D (N, C, H, W)")):
        nn.Upsample(2)(leaf(np.zeros(shape)))


def test_layer_arguments_are_named():
    with pytest.raises(ValueError, match=re.escape("Upsample: scale_factor must be an int >= 1 "
                                                   "(one factor for both axes), got 0")):
        nn.Upsample(scale_factor=0)
    with pytest.raises(ValueError, match=re.escape("Upsample: scale_factor must be an int >= 1 "
                                                   "(one factor for both axes), got 2.5")):
        nn.Upsample(scale_factor=2.5)
    with pytest.raises(ValueError, match=re.escape("Upsample: mode must be 'nearest' (the only "
                                                   "mode tlcore has), got 'bilinear'")):
        nn.Upsample(scale_factor=2, mode="bilinear")
