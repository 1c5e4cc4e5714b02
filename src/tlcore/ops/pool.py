"""2-D max and average pooling over (N, C, H, W) tensors, with PyTorch's signatures and
semantics (F.max_pool2d, F.avg_pool2d). A 3-D (C, H, W) input is pooled as a batch of
one and comes back 3-D, as PyTorch allows.

Window (oh, ow) covers rows oh*sh - ph + [0, kh) and columns ow*sw - pw + [0, kw) of the
input, so the output has floor((H + 2 ph - kh) / sh) + 1 rows (no ceil_mode), and the
same for columns. Max pooling runs through the kernel registry (maxpool2d_forward and
maxpool2d_backward); average pooling is plain numpy, a sum over the window offsets.
"""


from tlcore import backend, kernels
from tlcore.arguments import pair
from tlcore.autograd import Function, Tensor
from tlcore.kernels.geometry import pool2d_output_size, window_offsets

INT32_MAX = 2**31 - 1


def _pool_settings(op, kernel_size, stride, padding):
    """Check and normalise (kernel, stride, padding) to (height, width) pairs."""
    kernel = pair(kernel_size, op, "kernel_size")
    strides = kernel if stride is None else pair(stride, op, "stride")
    paddings = pair(padding, op, "padding")
    if min(kernel) < 1:
        raise ValueError(f"{op}: kernel_size must be at least 1, got {kernel_size!r}")
    if min(strides) < 1:
        raise ValueError(f"{op}: stride must be at least 1, got {stride!r}")
    if min(paddings) < 0 or any(p > k // 2 for p, k in zip(paddings, kernel)):
        # PyTorch's rule: more padding would make windows of padding alone
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size "
                         f"(kernel_size // 2, PyTorch's rule), got padding {padding!r} for "
                         f"kernel_size {kernel_size!r}")
    return kernel, strides, paddings


def _check_input(op, x, kernel, stride, padding):
    """The output's (out_h, out_w), after checking that x is (N, C, H, W) or (C, H, W)."""
    if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
        raise ValueError(f"{op} expects a 4-D (N, C, H, W) or 3-D (C, H, W) input with "
                         f"non-zero C, H and W, got shape {x.shape}")
    out_size = pool2d_output_size(x.shape[-2:], kernel, stride, padding)
    if min(out_size) < 1:
        raise ValueError(f"{op}: input of size {x.shape[-2]}x{x.shape[-1]} is too small for "
                         f"kernel_size {kernel} with padding {padding}: the output would be "
                         f"{out_size[0]}x{out_size[1]}")
    return out_size


class MaxPool2d(Function):
    """out[n, c, oh, ow] = max of the window, padding counting as -inf.

    The gradient goes to the element that gave each maximum (the first one in row-major
    window order on a tie), and adds up where overlapping windows took the same element.
    ``self.indices`` holds PyTorch's return_indices: the flat index h * W + w of each
    maximum in its (unpadded) input plane.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel, self.stride, self.padding = _pool_settings(
            "max_pool2d", kernel_size, stride, padding)

    def forward(self, x):
        _check_input("max_pool2d", x, self.kernel, self.stride, self.padding)
        (kh, kw), width = self.kernel, x.shape[-1]
        if (kh - 1) * width + kw - 1 > INT32_MAX:
            raise ValueError(
                f"max_pool2d: x of width {width} is too wide for kernel_size {self.kernel}: "
                f"the offset (kh - 1) * width + kw - 1 = {(kh - 1) * width + kw - 1} of a "
                f"window's last element is past {INT32_MAX}, the int32 range of the "
                f"reference kernel's offsets")
        self.unbatched = x.ndim == 3
        if self.unbatched:
            x = x[None]
        self.x_shape = x.shape
        out, self.argmax = kernels.maxpool2d_forward(x, self.kernel, self.stride,
                                                     self.padding)
        self.indices = self.argmax[0] if self.unbatched else self.argmax
        return out[0] if self.unbatched else out

    def backward(self, g):
        if self.unbatched:
            g = g[None]
        # unchecked: the argmax comes from this op's forward, so it is in range, and the
        # engine has checked g against the output; the kernel's one pass over argmax to
        # validate it (7-9% of a pooling step) is for callers of the kernel itself.
        grad = kernels.maxpool2d_backward(g, self.argmax, self.x_shape, unchecked=True)
        return grad[0] if self.unbatched else grad


class AvgPool2d(Function):
    """out[n, c, oh, ow] = (1 / d) * sum of the window of the zero-padded input.

    d = kh * kw when ``count_include_pad`` (PyTorch's default: padding counts as zeros in
    the mean), else the number of real input elements in the window. Backward: each
    element of the window gets g / d, summed over the windows that cover it.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        self.kernel, self.stride, self.padding = _pool_settings(
            "avg_pool2d", kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        out_size = _check_input("avg_pool2d", x, self.kernel, self.stride, self.padding)
        (ph, pw), (sh, sw), (kh, kw) = self.padding, self.stride, self.kernel
        height, width = x.shape[-2:]
        self.x_shape = x.shape
        xp = backend.array_module(x)
        if ph or pw:
            x = xp.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
        total = xp.zeros(x.shape[:-2] + out_size, dtype=x.dtype)
        for _, _, window in window_offsets(self.kernel, self.stride, out_size):
            total += x[window]
        if self.count_include_pad:
            self.divisor = x.dtype.type(kh * kw)
        else:  # real rows of window oh: [oh*sh - ph, oh*sh - ph + kh) within [0, H)
            top = sh * xp.arange(out_size[0]) - ph
            left = sw * xp.arange(out_size[1]) - pw
            rows = xp.minimum(top + kh, height) - xp.maximum(top, 0)
            cols = xp.minimum(left + kw, width) - xp.maximum(left, 0)
            self.divisor = (rows[:, None] * cols).astype(x.dtype)
        return total / self.divisor

    def backward(self, g):
        (ph, pw), (height, width) = self.padding, self.x_shape[-2:]
        xp = backend.array_module(g)
        share = g / self.divisor
        grad = xp.zeros(self.x_shape[:-2] + (height + 2 * ph, width + 2 * pw), dtype=g.dtype)
        for _, _, window in window_offsets(self.kernel, self.stride, g.shape[-2:]):
            grad[window] += share  # one offset's windows never overlap: a plain add is exact
        return grad[..., ph:ph + height, pw:pw + width]


def max_pool2d(x, kernel_size, stride=None, padding=0, *, return_indices=False):
    """2-D max pooling, PyTorch's F.max_pool2d (no dilation, no ceil_mode).

    out[n, c, oh, ow] = max over i < kh, j < kw of x_pad[n, c, oh*sh + i, ow*sw + j], with
    x padded by ph rows and pw columns of -inf; out has floor((H + 2 ph - kh) / sh) + 1
    rows, likewise columns. ``stride`` defaults to ``kernel_size``; ``padding`` must be at
    most kernel_size // 2 (PyTorch's rule). x: (N, C, H, W) or (C, H, W). With
    ``return_indices=True``, also returns the int64 tensor of each maximum's flat index
    h * W + w in its input plane (ties go to the first in row-major window order). The
    offsets in a window, up to (kh - 1) * W + kw - 1, must fit in int32.
    """
    pool = MaxPool2d(kernel_size, stride, padding)
    out = pool(x)
    if return_indices:
        return out, Tensor(pool.indices.copy())  # a copy: backward keeps its own
    return out


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """2-D average pooling, PyTorch's F.avg_pool2d (no ceil_mode, no divisor_override).

    out[n, c, oh, ow] = (1 / d) * sum over i < kh, j < kw of x_pad[n, c, oh*sh + i,
    ow*sw + j], with x zero-padded by ph rows and pw columns; d = kh * kw when
    ``count_include_pad`` (the default, as in PyTorch), else the number of real elements
    in the window. Output size, stride default and padding rule as in ``max_pool2d``.
    """
    return AvgPool2d(kernel_size, stride, padding, count_include_pad)(x)
