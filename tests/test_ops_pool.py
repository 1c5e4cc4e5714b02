"""max_pool2d and avg_pool2d: finite-difference gradients over random configurations,
forwards against a loop over every window, PyTorch oracles (values, indices, gradients),
the max tie-break rule, overlapping windows, dtypes and clear errors."""

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, torch_or_skip

import tlcore
from tlcore import gradcheck, kernels, ops
from tlcore.kernels.backends import numpy_fast

seeds = st.integers(0, 2**32 - 1)


@st.composite
def pool_configs(draw):
    """(input shape, kernel, stride, padding): kernel 1-3, stride 1-3, padding up to
    kernel // 2, odd spatial sizes, a batch of one or two."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.sampled_from([1, 3, 5, 7])) for _ in range(2))
    assume(all(n + 2 * p >= k for n, p, k in zip(size, padding, kernel)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    return shape, kernel, stride, padding


def distinct_values(rng, shape, noncontiguous=False):
    """No ties and values 0.1 apart (a shuffled grid), so that max pooling's finite
    differences (eps 1e-6) never cross a kink; strided if asked."""
    data = array(rng, shape, noncontiguous=noncontiguous)
    data[...] = (rng.permutation(data.size).reshape(shape) - data.size / 2) * 0.1
    return data


def pool_by_loops(x, kernel, stride, padding, mode, count_include_pad=True):
    """The definition, one window at a time: (out, index of the first maximum) for "max",
    the mean (padding counted as zeros, or not counted) for "avg"."""
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    out_h, out_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    out = np.empty((n, c, out_h, out_w))
    index = np.empty((n, c, out_h, out_w), dtype=np.int64)
    for b, ch, oh, ow in np.ndindex(out.shape):
        cells = [(h, w) for h in range(oh * sh - ph, oh * sh - ph + kh)
                 for w in range(ow * sw - pw, ow * sw - pw + kw)
                 if 0 <= h < height and 0 <= w < width]  # real elements, row-major
        values = [x[b, ch, h, w] for h, w in cells]
        if mode == "max":
            first = int(np.argmax(values))
            out[b, ch, oh, ow] = values[first]
            index[b, ch, oh, ow] = cells[first][0] * width + cells[first][1]
        else:
            out[b, ch, oh, ow] = sum(values) / (kh * kw if count_include_pad else len(cells))
    return out, index


# -- gradients and forwards over random configurations ------------------------------------


@given(config=pool_configs(), seed=seeds, strided=st.booleans())
def test_max_pool2d_gradcheck_and_forward(config, seed, strided):
    shape, kernel, stride, padding = config
    x = leaf(distinct_values(np.random.default_rng(seed), shape, noncontiguous=strided))
    out, indices = ops.max_pool2d(x, kernel, stride, padding, return_indices=True)
    expected, expected_index = pool_by_loops(x.numpy(), kernel, stride, padding, "max")
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(indices.numpy(), expected_index)
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert gradcheck(lambda t: ops.max_pool2d(t, kernel, stride, padding), [x])


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["with-pad", "without-pad"])
@given(config=pool_configs(), seed=seeds, strided=st.booleans())
def test_avg_pool2d_gradcheck_and_forward(count_include_pad, config, seed, strided):
    shape, kernel, stride, padding = config
    x = leaf(array(np.random.default_rng(seed), shape, noncontiguous=strided))
    out = ops.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    expected, _ = pool_by_loops(x.numpy(), kernel, stride, padding, "avg", count_include_pad)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: ops.avg_pool2d(t, kernel, stride, padding, count_include_pad),
                     [x])


# -- PyTorch oracles ---------------------------------------------------------------------


@given(config=pool_configs(), seed=seeds, ties=st.booleans())
def test_max_pool2d_matches_pytorch(config, seed, ties):
    """Values, indices and gradients; with ``ties`` the input holds only 0..3, so most
    windows have several maxima and the tie-break must be PyTorch's."""
    torch = torch_or_skip()
    shape, kernel, stride, padding = config
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    check_against_torch(lambda t: ops.max_pool2d(t, kernel, stride, padding),
                        lambda t: torch.nn.functional.max_pool2d(t, kernel, stride, padding),
                        [x])
    _, indices = ops.max_pool2d(leaf(x), kernel, stride, padding, return_indices=True)
    _, expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel, stride, padding,
                                                 return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["with-pad", "without-pad"])
@given(config=pool_configs(), seed=seeds)
def test_avg_pool2d_matches_pytorch(count_include_pad, config, seed):
    torch = torch_or_skip()
    shape, kernel, stride, padding = config
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_torch(
        lambda t: ops.avg_pool2d(t, kernel, stride, padding, count_include_pad),
        lambda t: torch.nn.functional.avg_pool2d(t, kernel, stride, padding,
                                                 count_include_pad=count_include_pad),
        [x])


# -- the max tie-break, overlapping windows, -inf ---------------------------------------


def test_max_pool2d_tie_gives_the_gradient_to_the_first_index():
    # Each 2x2 window holds its maximum twice; the first in row-major order wins.
    x = leaf(np.array([[[[1.0, 5.0, 7.0, 2.0],
                         [5.0, 0.0, 3.0, 7.0]]]]))
    out, indices = ops.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), [[[[5.0, 7.0]]]])
    np.testing.assert_array_equal(indices.numpy(), [[[[1, 2]]]])  # (0, 1) and (0, 2)
    out.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 10.0, 20.0, 0.0],
                                              [0.0, 0.0, 0.0, 0.0]]]])


def test_max_pool2d_overlapping_windows_add_their_gradients():
    # Stride 1 < kernel 2: all four windows of this 3x3 plane take the centre.
    x = leaf(np.array([[[[1.0, 2.0, 3.0],
                         [4.0, 9.0, 5.0],
                         [6.0, 7.0, 8.0]]]]))
    out = ops.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(out.numpy(), np.full((1, 1, 2, 2), 9.0))
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 1.0 + 2.0 + 3.0 + 4.0
    np.testing.assert_array_equal(x.grad, expected)


def test_max_pool2d_window_of_minus_infinity_points_at_its_first_real_element():
    # Padding is -inf too, yet never wins: the index stays inside the input plane.
    x = leaf(np.full((1, 1, 2, 3), -np.inf))
    out, indices = ops.max_pool2d(x, 2, stride=1, padding=1, return_indices=True)
    assert np.all(out.numpy() == -np.inf)
    first_real = [[0, 0, 1, 2],
                  [0, 0, 1, 2],
                  [3, 3, 4, 5]]
    np.testing.assert_array_equal(indices.numpy()[0, 0], first_real)


def test_max_pool2d_kernels_are_registered_with_their_contract():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    with kernels.use("numpy"):
        forward = kernels.get("maxpool2d_forward", x)
    out, argmax = forward(x, (3, 2), (2, 1), (1, 1))
    assert forward is numpy_fast.maxpool2d_forward
    assert out.shape == argmax.shape == (2, 3, 3, 5) and argmax.dtype == np.int64
    assert argmax.min() >= 0 and argmax.max() < 5 * 4  # indices into the unpadded plane
    g = np.ones(out.shape, dtype=np.float32)
    grad = kernels.get("maxpool2d_backward", g)(g, argmax, x.shape)
    assert grad.shape == x.shape and grad.dtype == np.float32
    assert grad.sum() == out.size  # every output's gradient lands somewhere


# -- shapes and dtypes -------------------------------------------------------------------


POOLS = {
    "max": lambda x, *args: ops.max_pool2d(x, *args),
    "avg": lambda x, *args: ops.avg_pool2d(x, *args),
    "avg-without-pad": lambda x, *args: ops.avg_pool2d(x, *args, count_include_pad=False),
}


@pytest.mark.parametrize("pool", list(POOLS))
def test_float32_stays_float32(pool):
    x = tlcore.tensor(np.random.default_rng(1).standard_normal((2, 3, 6, 5)),
                      requires_grad=True, dtype=np.float32)
    out = POOLS[pool](x, 3, 2, 1)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("pool", list(POOLS))
def test_unbatched_input_is_pooled_as_a_batch_of_one(pool):
    data = np.random.default_rng(2).standard_normal((3, 5, 6))
    x, x_batched = leaf(data), leaf(data[None])
    out, out_batched = POOLS[pool](x, 2, 1, 1), POOLS[pool](x_batched, 2, 1, 1)
    assert out.shape == (3, 6, 7)
    np.testing.assert_array_equal(out.numpy(), out_batched.numpy()[0])
    v = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(v)
    out_batched.backward(v[None])
    np.testing.assert_array_equal(x.grad, x_batched.grad[0])


@pytest.mark.parametrize("pool", list(POOLS))
def test_stride_defaults_to_the_kernel_size(pool):
    x = leaf(np.random.default_rng(4).standard_normal((1, 2, 7, 6)))
    out = POOLS[pool](x, (3, 2))
    assert out.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), POOLS[pool](x, (3, 2), (3, 2)).numpy())


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape, args, error, message", [
    ((1, 1, 4, 4), (0,), ValueError, "kernel_size must be at least 1, got 0"),
    ((1, 1, 4, 4), ((2, 0),), ValueError, "kernel_size must be at least 1, got (2, 0)"),
    ((1, 1, 4, 4), (2, 0), ValueError, "stride must be at least 1, got 0"),
    ((1, 1, 4, 4), (3, 1, 2), ValueError, "padding must be between 0 and half the kernel "
                                          "size (kernel_size // 2, PyTorch's rule), got "
                                          "padding 2 for kernel_size 3"),
    ((1, 1, 4, 4), ((3, 2), 1, (1, 2)), ValueError, "got padding (1, 2) for kernel_size (3, 2)"),
    ((1, 1, 4, 4), (2, 1, -1), ValueError, "got padding -1"),
    ((1, 1, 4, 4), (2.5,), TypeError, "kernel_size must be an int or a pair of ints, got 2.5"),
    ((1, 1, 4, 4), (2, (1, 2, 3)), TypeError, "stride must be an int or a pair of ints, "
                                              "got (1, 2, 3)"),
    ((4, 4), (2,), ValueError, "expects a 4-D (N, C, H, W) or 3-D (C, H, W) input with "
                               "non-zero C, H and W, got shape (4, 4)"),
    ((1, 0, 4, 4), (2,), ValueError, "got shape (1, 0, 4, 4)"),
    ((1, 1, 2, 5), (3,), ValueError, "input of size 2x5 is too small for kernel_size (3, 3) "
                                     "with padding (0, 0): the output would be 0x1"),
])
def test_bad_arguments_are_named(op, shape, args, error, message):
    x = leaf(np.zeros(shape))
    with pytest.raises(error, match=re.escape(message)):
        getattr(ops, op)(x, *args)
    with pytest.raises(error, match=re.escape(op)):
        getattr(ops, op)(x, *args)


def test_returned_indices_do_not_share_memory_with_what_backward_uses():
    x = tlcore.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    out, indices = ops.max_pool2d(x, 2, return_indices=True)
    with tlcore.no_grad():
        indices.fill_(0)  # the caller's copy only
    out.sum().backward()
    expected = np.zeros((4, 4))
    expected[1::2, 1::2] = 1  # each window's maximum is its bottom-right element
    np.testing.assert_array_equal(x.grad[0, 0], expected)
