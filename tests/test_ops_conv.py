"""conv2d: finite-difference gradients and PyTorch oracles over random configurations
(stride, padding, dilation, groups up to depthwise, odd sizes, a batch of one, strided
inputs), each kernel against the definition written as loops, float32, the chunked path,
skipped work, and clear errors."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, check_against_torch, leaf, torch_or_skip

import tlcore
from tlcore import gradcheck, kernels, ops
from tlcore.kernels import reference
from tlcore.kernels.backends import numpy_fast

seeds = st.integers(0, 2**32 - 1)


@st.composite
def conv_configs(draw):
    """A small conv2d setting: shapes of x and weight, and the keyword arguments, each of
    stride, padding and dilation given as an int or as a (height, width) pair."""
    kind = draw(st.sampled_from(["groups=1", "groups=2", "depthwise"]))
    if kind == "groups=1":
        groups, c_in = 1, draw(st.integers(1, 3))
    elif kind == "groups=2":
        groups, c_in = 2, 2 * draw(st.integers(1, 2))
    else:
        c_in = draw(st.integers(1, 3))
        groups = c_in
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    settings = {}
    for name, low, high in (("stride", 1, 3), ("padding", 0, 2), ("dilation", 1, 2)):
        if draw(st.booleans()):
            value = draw(st.integers(low, high))
            settings[name], pair = value, (value, value)
        else:
            pair = (draw(st.integers(low, high)), draw(st.integers(low, high)))
            settings[name] = pair
        settings[name + "_pair"] = pair
    (sh, sw), (ph, pw), (dh, dw) = (settings.pop(k + "_pair")
                                    for k in ("stride", "padding", "dilation"))
    # the smallest input giving 1 to 3 outputs per axis, plus up to stride - 1 extra rows
    sizes = []
    for k, s, p, d in ((kernel[0], sh, ph, dh), (kernel[1], sw, pw, dw)):
        outputs = draw(st.integers(1, 3))
        sizes.append(max(1, (outputs - 1) * s + d * (k - 1) + 1 - 2 * p
                         + draw(st.integers(0, s - 1))))
    n = draw(st.integers(1, 2))
    return (n, c_in, *sizes), (c_out, c_in // groups, *kernel), dict(settings, groups=groups)


def _make(rng, x_shape, w_shape, strided=False):
    x = array(rng, x_shape, noncontiguous=strided)
    w = array(rng, w_shape, noncontiguous=strided)
    b = array(rng, (w_shape[0],))
    return x, w, b


@given(config=conv_configs(), seed=seeds, strided=st.booleans())
def test_conv2d_gradcheck(config, seed, strided):
    x_shape, w_shape, settings = config
    x, w, b = (leaf(a) for a in _make(np.random.default_rng(seed), x_shape, w_shape, strided))
    assert gradcheck(lambda x, w, b: ops.conv2d(x, w, b, **settings), [x, w, b])


@given(config=conv_configs(), seed=seeds, with_bias=st.booleans())
def test_conv2d_matches_pytorch(config, seed, with_bias):
    torch = torch_or_skip()
    x_shape, w_shape, settings = config
    arrays = list(_make(np.random.default_rng(seed), x_shape, w_shape))
    if not with_bias:
        arrays = arrays[:2]
    check_against_torch(lambda *t: ops.conv2d(*t, **settings),
                        lambda *t: torch.nn.functional.conv2d(*t, **settings), arrays,
                        seed=seed, name=str(settings))


# -- the kernels against the definition, written as loops --------------------------------


def conv2d_loops(x, w, g, stride, padding, dilation, groups):
    """out, dL/dx, dL/dw of out[n, o, i, j] = sum_{c,p,q} w[o, c, p, q] * xpad[n,
    grp*C/G + c, i*sh + p*dh, j*sw + q*dw] for the upstream gradient g, one term at a time."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c_in, height, width = x.shape
    c_out, c_group, kh, kw = w.shape
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, c_out, out_h, out_w))
    grad_xpad = np.zeros_like(xpad)
    grad_w = np.zeros_like(w)
    for b in range(n):
        for o in range(c_out):
            first = (o // (c_out // groups)) * c_group  # first input channel of o's group
            for i in range(out_h):
                for j in range(out_w):
                    for c in range(c_group):
                        for p in range(kh):
                            for q in range(kw):
                                at = (b, first + c, i * sh + p * dh, j * sw + q * dw)
                                out[b, o, i, j] += w[o, c, p, q] * xpad[at]
                                grad_xpad[at] += g[b, o, i, j] * w[o, c, p, q]
                                grad_w[o, c, p, q] += g[b, o, i, j] * xpad[at]
    return out, grad_xpad[:, :, ph:ph + height, pw:pw + width], grad_w


KERNEL_CASES = {
    # x shape, weight shape, stride, padding, dilation, groups
    "plain": ((2, 3, 5, 4), (2, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    "strided-padded-dilated": ((2, 4, 7, 6), (4, 2, 2, 3), (2, 1), (1, 2), (2, 1), 2),
    "depthwise": ((1, 3, 6, 5), (6, 1, 3, 2), (1, 2), (2, 1), (1, 2), 3),
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernels_match_the_loop_definition(case):
    x_shape, w_shape, stride, padding, dilation, groups = KERNEL_CASES[case]
    rng = np.random.default_rng(3)
    x = array(rng, x_shape, noncontiguous=True)
    w = array(rng, w_shape)
    out = reference.conv2d_forward(x, w, stride, padding, dilation, groups)
    g = array(rng, out.shape, noncontiguous=True)
    expected_out, expected_gx, expected_gw = conv2d_loops(x, w, g, stride, padding, dilation,
                                                          groups)
    grad_x = reference.conv2d_backward_input(g, w, x.shape, stride, padding, dilation, groups)
    grad_w = reference.conv2d_backward_weight(g, x, w.shape, stride, padding, dilation, groups)
    for got, expected in ((out, expected_out), (grad_x, expected_gx), (grad_w, expected_gw)):
        assert got.shape == expected.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert {"conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"} <= \
        set(kernels.ops("numpy"))


@pytest.mark.parametrize("chunk_bytes", [1, 2000], ids=["1-sample", "2-samples"])
def test_kernels_give_the_same_result_in_chunks_of_samples(monkeypatch, chunk_bytes):
    """The numpy backend's chunks of one or two samples (then a last chunk of one) give
    what one chunk of the whole batch gives."""
    rng = np.random.default_rng(4)
    x, w = array(rng, (5, 2, 6, 5)), array(rng, (3, 2, 3, 2))
    settings = ((2, 1), (1, 0), (1, 2), 1)
    g = array(rng, reference.conv2d_forward(x, w, *settings).shape)
    calls = [(numpy_fast.conv2d_forward, (x, w)),
             (numpy_fast.conv2d_backward_input, (g, w, x.shape)),
             (numpy_fast.conv2d_backward_weight, (g, x, w.shape))]
    whole = [kernel(*args, *settings) for kernel, args in calls]
    # forward's columns take 2*3*2 * 3*3 * 8 = 864 bytes per sample: 2000 bytes hold two
    monkeypatch.setattr(numpy_fast, "CONV2D_CHUNK_BYTES", chunk_bytes)
    for (kernel, args), expected in zip(calls, whole):
        np.testing.assert_allclose(kernel(*args, *settings), expected, rtol=1e-13, atol=1e-13)


# -- dtypes, skipped work ------------------------------------------------------------------


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(5)
    x64, w64, b64 = _make(rng, (3, 4, 9, 8), (6, 2, 3, 3))
    settings = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    grads = {}
    for dtype in (np.float32, np.float64):
        x, w, b = (tlcore.tensor(a, requires_grad=True, dtype=dtype) for a in (x64, w64, b64))
        out = ops.conv2d(x, w, b, **settings)
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape).astype(dtype))
        assert out.dtype == dtype and x.grad.dtype == dtype
        assert w.grad.dtype == dtype and b.grad.dtype == dtype
        grads[dtype] = [out.numpy(), x.grad, w.grad, b.grad]
    for single, double in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(single, double, rtol=1e-5, atol=1e-5)


def test_mixed_dtypes_promote_and_gradients_keep_each_dtype():
    rng = np.random.default_rng(6)
    x = tlcore.tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True, dtype=np.float32)
    w = tlcore.tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True, dtype=np.float64)
    out = ops.conv2d(x, w)
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_inputs_that_need_no_gradient_cost_nothing(monkeypatch):
    def not_needed(*args):
        raise AssertionError("conv2d_backward_input ran for an input that needs no grad")

    monkeypatch.setitem(kernels.registry._kernels, ("conv2d_backward_input", "numpy"),
                        not_needed)
    rng = np.random.default_rng(7)
    x = leaf(rng.standard_normal((2, 2, 5, 5)), requires_grad=False)
    w = leaf(rng.standard_normal((3, 2, 3, 3)))
    b = leaf(rng.standard_normal(3), requires_grad=False)
    with kernels.use("numpy"):
        ops.conv2d(x, w, b, padding=1).sum().backward()
    expected = reference.conv2d_backward_weight(np.ones((2, 3, 5, 5)), x.numpy(), w.shape,
                                                (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)
    assert x.grad is None and b.grad is None


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, w_shape, b_shape, settings, message", [
    ((3, 5, 5), (2, 3, 3, 3), None, {},
     "conv2d: input x must be 4-D (N, C_in, H, W), got shape (3, 5, 5)"),
    ((1, 3, 5, 5), (2, 3, 3), None, {},
     "conv2d: weight must be 4-D (C_out, C_in / groups, kh, kw), got shape (2, 3, 3)"),
    ((1, 3, 5, 5), (2, 1, 3, 3), None, {"groups": 2},
     "conv2d: the input channels of x (3, shape (1, 3, 5, 5)) must be divisible by groups=2"),
    ((1, 4, 5, 5), (3, 2, 3, 3), None, {"groups": 2},
     "conv2d: the output channels of weight (3, shape (3, 2, 3, 3)) must be divisible by "
     "groups=2"),
    ((1, 4, 5, 5), (2, 4, 3, 3), None, {"groups": 2},
     "conv2d: weight of shape (2, 4, 3, 3) does not fit x of shape (1, 4, 5, 5) with "
     "groups=2: weight.shape[1] must be C_in / groups = 2"),
    ((1, 3, 5, 5), (2, 3, 3, 3), (3,), {}, "conv2d: bias must have shape (2,), got (3,)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"stride": (1, 0)},
     "conv2d: stride must be at least 1, got (1, 0)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"padding": -1},
     "conv2d: padding must be at least 0, got (-1, -1)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"dilation": 0},
     "conv2d: dilation must be at least 1, got (0, 0)"),
    ((1, 3, 5, 5), (3, 1, 3, 3), None, {"groups": 0},
     "conv2d: groups must be a positive int, got 0"),
    ((1, 3, 4, 9), (2, 3, 3, 3), None, {"dilation": 2},
     "conv2d: the output would be empty: input height 4 + 2 * padding 0 is smaller than the "
     "dilated kernel height 5 (kernel 3, dilation 2)"),
    ((1, 3, 9, 1), (2, 3, 3, 4), None, {"padding": (0, 1)},
     "conv2d: the output would be empty: input width 1 + 2 * padding 1 is smaller than the "
     "dilated kernel width 4 (kernel 4, dilation 1)"),
])
def test_bad_arguments_name_what_is_wrong(x_shape, w_shape, b_shape, settings, message):
    x, w = leaf(np.zeros(x_shape)), leaf(np.zeros(w_shape))
    args = [x, w] if b_shape is None else [x, w, leaf(np.zeros(b_shape))]
    with pytest.raises(ValueError, match=re.escape(message)):
        ops.conv2d(*args, **settings)


def test_stride_must_be_an_int_or_a_pair():
    x, w = leaf(np.zeros((1, 1, 4, 4))), leaf(np.zeros((1, 1, 2, 2)))
    with pytest.raises(TypeError, match=re.escape(
            "conv2d: stride must be an int or a pair of ints, got (1, 2, 3)")):
        ops.conv2d(x, w, stride=(1, 2, 3))
    with pytest.raises(TypeError, match=re.escape(
            "conv2d: padding must be an int or a pair of ints, got 1.5")):
        ops.conv2d(x, w, padding=1.5)


def test_an_empty_batch_gives_empty_output_and_zero_weight_gradient():
    x = leaf(np.zeros((0, 2, 5, 5)))
    w = leaf(np.ones((3, 2, 3, 3)))
    out = ops.conv2d(x, w, padding=1)
    assert out.shape == (0, 3, 5, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 2, 3, 3)))
