"""Complex dtypes refused where tensors are made, the mean of an empty loss is NaN as
in PyTorch, and max_pool2d refuses a width whose window offsets overflow int32."""

import re
import warnings

import numpy as np
import pytest

import tlcore
from tlcore import kernels, nn, ops

# -- complex dtypes ----------------------------------------------------------------------

COMPLEX_SOURCES = {
    "a Python complex": lambda: tlcore.tensor(1 + 2j),
    "a complex array": lambda: tlcore.tensor(np.array([1 + 2j])),
    "a complex64 array": lambda: tlcore.tensor(np.ones(2, np.complex64)),
    "dtype=complex128": lambda: tlcore.tensor([1.0, 2.0], dtype=np.complex128),
    "Tensor(...)": lambda: tlcore.Tensor(np.ones(2, np.complex128)),
    "a Parameter": lambda: nn.Parameter(np.ones(2, np.complex64)),
    "sigmoid of a raw complex array": lambda: ops.sigmoid(np.array([1 + 2j])),
    "a real tensor times 1j": lambda: tlcore.tensor([1.0, 2.0]) * 1j,
    "a real tensor plus a complex array": lambda: tlcore.tensor([1.0]) + np.array([1j]),
}


@pytest.mark.parametrize("source", COMPLEX_SOURCES)
def test_complex_data_is_refused_naming_the_dtype(source):
    with pytest.raises(TypeError, match=r"complex.*dtype complex(64|128)"):
        COMPLEX_SOURCES[source]()


def test_real_tensors_are_still_made():
    assert tlcore.tensor(1.5).dtype == np.float32
    assert tlcore.tensor([1, 2]).dtype == np.int64
    assert tlcore.tensor(np.array([True])).dtype == np.bool_


# -- a mean over nothing -----------------------------------------------------------------


def _empty_losses(dtype=np.float64):
    """name -> (tlcore call(x, reduction), torch call(x, reduction)), x of shape (0, 3)."""
    def torch_long(torch):
        return torch.zeros(0, dtype=torch.long)
    label = np.zeros(0, np.int64)
    zeros = np.zeros((0, 3), dtype)
    return {
        "cross_entropy": (lambda x, r: ops.cross_entropy(x, label, r),
                          lambda F, t, x, r: F.cross_entropy(x, torch_long(t), reduction=r)),
        "nll_loss": (lambda x, r: ops.nll_loss(x, label, r),
                     lambda F, t, x, r: F.nll_loss(x, torch_long(t), reduction=r)),
        "mse_loss": (lambda x, r: ops.mse_loss(x, zeros, r),
                     lambda F, t, x, r: F.mse_loss(x, t.zeros(0, 3, dtype=x.dtype),
                                                   reduction=r)),
        "binary_cross_entropy_with_logits": (
            lambda x, r: ops.binary_cross_entropy_with_logits(x, zeros, r),
            lambda F, t, x, r: F.binary_cross_entropy_with_logits(
                x, t.zeros(0, 3, dtype=x.dtype), reduction=r)),
        "kl_div": (lambda x, r: ops.kl_div(x, zeros, r),
                   lambda F, t, x, r: F.kl_div(x, t.zeros(0, 3, dtype=x.dtype), reduction=r)),
    }


EMPTY = list(_empty_losses())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", EMPTY)
def test_an_empty_loss_matches_pytorch(name, reduction):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: oracle test skipped")
    mine, theirs = _empty_losses()[name]
    x = tlcore.tensor(np.zeros((0, 3)), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" warning from 0 / 0
        out = mine(x, reduction)
        out.sum().backward()
    tx = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs(torch.nn.functional, torch, tx, reduction)
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())  # NaN == NaN here
    assert out.shape == tuple(expected.shape) and out.dtype == np.float64
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("name", EMPTY)
def test_an_empty_mean_is_nan_without_pytorch(name):
    mine, _ = _empty_losses(np.float32)[name]
    out = mine(tlcore.tensor(np.zeros((0, 3), np.float32)), "mean")
    assert np.isnan(out.item()) and out.dtype == np.float32


def test_an_empty_batchmean_is_nan():
    out = ops.kl_div(tlcore.tensor(np.zeros((0, 3))), np.zeros((0, 3)), "batchmean")
    assert np.isnan(out.item())


def test_cross_entropy_over_an_empty_spatial_axis_is_nan():
    out = ops.cross_entropy(tlcore.tensor(np.zeros((2, 3, 0))), np.zeros((2, 0), np.int64))
    assert np.isnan(out.item())


@pytest.mark.parametrize("op", [ops.hinge_max_loss, ops.hinge_sum_loss])
def test_an_empty_hinge_mean_is_nan_and_its_sum_zero(op):
    scores = tlcore.tensor(np.zeros((0, 3)), requires_grad=True)
    assert np.isnan(op(scores, np.zeros(0, np.int64)).item())
    total = op(scores, np.zeros(0, np.int64), reduction="sum")
    total.backward()
    assert total.item() == 0.0 and scores.grad.shape == (0, 3)


# -- max_pool2d's index range ------------------------------------------------------------


def _wide(width, height=3):
    """An (1, 1, height, width) int8 input that takes no memory: every element is one
    zero (integer inputs run the numpy reference on every backend)."""
    return tlcore.tensor(np.broadcast_to(np.zeros((), np.int8), (1, 1, height, width)))


@pytest.mark.parametrize("kernel, width", [((3, 3), 2**30 + 1), ((2, 1), 2**31),
                                           ((3, 1), 2**31 + 7)])
def test_max_pool2d_refuses_a_width_whose_window_offsets_overflow(kernel, width):
    with pytest.raises(ValueError, match=re.escape(f"max_pool2d: x of width {width}")):
        ops.max_pool2d(_wide(width), kernel, stride=(kernel[0], 2**29))


def test_max_pool2d_takes_the_widest_width_that_fits():
    width = 2**31 - 1  # the offset (2 - 1) * width + 0 is the largest int32
    with kernels.use("numpy"):
        out, indices = ops.max_pool2d(_wide(width, 2), (2, 1), stride=(2, 2**30),
                                      return_indices=True)
    assert out.shape == (1, 1, 1, 2)
    assert indices.tolist() == [[[[0, 2**30]]]]
