"""2-D convolution over (N, C, H, W) tensors, PyTorch's F.conv2d.

With G groups, C_in / G input channels per group and the zero-padded input xpad, output
channel o (in group g = o // (C_out / G)) is

    out[n, o, i, j] = b[o] + sum_{c,p,q} w[o, c, p, q] * xpad[n, g*C_in/G + c, i*s + p*d, j*s + q*d]

(s, d: stride and dilation, per axis), so the output has
floor((H + 2 pad - d (kh - 1) - 1) / s) + 1 rows, likewise columns. The work runs in three
kernels of the registry (defined in kernels/reference.py as im2col + one matmul):

    conv2d_forward(x, w)                  -> out
    conv2d_backward_input(g, w, x.shape)  -> dL/dx[n, c', y, z] = sum over the outputs that
                                             read xpad[n, c', y, z] of g * the weight used
    conv2d_backward_weight(g, x, w.shape) -> dL/dw[o, c, p, q] = sum_{n,i,j} g[n, o, i, j]
                                             * xpad[n, g*C_in/G + c, i*s + p*d, j*s + q*d]

and dL/db[o] = sum_{n,i,j} g[n, o, i, j].
"""

from tlcore import kernels
from tlcore.arguments import pair
from tlcore.autograd import Function
from tlcore.kernels.geometry import conv2d_output_size


def _conv_settings(stride, padding, dilation, groups):
    """Check and normalise stride, padding, dilation to (height, width) pairs."""
    stride = pair(stride, "conv2d", "stride")
    padding = pair(padding, "conv2d", "padding")
    dilation = pair(dilation, "conv2d", "dilation")
    if min(stride) < 1:
        raise ValueError(f"conv2d: stride must be at least 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"conv2d: padding must be at least 0, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"conv2d: dilation must be at least 1, got {dilation}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    return stride, padding, dilation, groups


def _check_shapes(x, weight, bias, stride, padding, dilation, groups):
    """Raise a clear error unless x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw)
    and bias (C_out,) fit together and give a non-empty output."""
    if x.ndim != 4:
        raise ValueError(f"conv2d: input x must be 4-D (N, C_in, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError("conv2d: weight must be 4-D (C_out, C_in / groups, kh, kw), got "
                         f"shape {weight.shape}")
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups:
        raise ValueError(f"conv2d: the input channels of x ({c_in}, shape {x.shape}) must be "
                         f"divisible by groups={groups}")
    if c_out % groups:
        raise ValueError(f"conv2d: the output channels of weight ({c_out}, shape "
                         f"{weight.shape}) must be divisible by groups={groups}")
    if weight.shape[1] != c_in // groups:
        raise ValueError(f"conv2d: weight of shape {weight.shape} does not fit x of shape "
                         f"{x.shape} with groups={groups}: weight.shape[1] must be "
                         f"C_in / groups = {c_in // groups}")
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"conv2d: bias must have shape ({c_out},), got {bias.shape}")
    for axis, name in ((0, "height"), (1, "width")):
        size, kernel = x.shape[2 + axis], weight.shape[2 + axis]
        out = conv2d_output_size(size, kernel, stride[axis], padding[axis], dilation[axis])
        if out < 1:
            raise ValueError(
                f"conv2d: the output would be empty: input {name} {size} + 2 * padding "
                f"{padding[axis]} is smaller than the dilated kernel {name} "
                f"{dilation[axis] * (kernel - 1) + 1} (kernel {kernel}, dilation "
                f"{dilation[axis]})")


class Conv2d(Function):
    """out = conv(x, w) + b through the conv2d kernels; see the module docstring.

    Backward: dL/dx by conv2d_backward_input, dL/dw by conv2d_backward_weight, dL/db as
    the sum of g over (N, H, W); an input that needs no gradient costs nothing.
    """

    def __init__(self, stride=1, padding=0, dilation=1, groups=1):
        self.stride, self.padding, self.dilation, self.groups = _conv_settings(
            stride, padding, dilation, groups)

    def forward(self, x, weight, bias=None):
        _check_shapes(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        self.x, self.weight = x, weight
        out = kernels.conv2d_forward(x, weight, self.stride, self.padding, self.dilation,
                                     self.groups)
        if bias is not None:
            if bias.dtype == out.dtype:
                out += bias[:, None, None]  # in place: out is a fresh array
            else:
                out = out + bias[:, None, None]  # mixed dtypes promote, as everywhere else
        return out

    def backward(self, g):
        need = self.needs_input_grad
        x, weight = self.x, self.weight
        settings = (self.stride, self.padding, self.dilation, self.groups)
        gx = gw = gb = None
        if need[0]:
            gx = kernels.conv2d_backward_input(g, weight, x.shape, *settings)
        if need[1]:
            gw = kernels.conv2d_backward_weight(g, x, weight.shape, *settings)
        if len(need) == 2:
            return gx, gw
        if need[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in every deep-learning library), PyTorch's
    F.conv2d: x (N, C_in, H, W), weight (C_out, C_in / groups, kh, kw), bias (C_out,) or
    None; stride, padding (zeros) and dilation an int or a (height, width) pair.

    out[n, o, i, j] = b[o] + sum_{c,p,q} w[o, c, p, q] * xpad[n, g*C_in/G + c, i*s + p*d,
    j*s + q*d], with g the group of output channel o; out is (N, C_out, H_out, W_out),
    H_out = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1, likewise W_out.
    groups=C_in with C_out = k * C_in is a depthwise convolution.
    """
    fn = Conv2d(stride, padding, dilation, groups)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
