"""Nearest-neighbour upsampling of (N, C, H, W) tensors by an integer factor, PyTorch's
F.interpolate(x, scale_factor=s, mode="nearest") and nn.Upsample(scale_factor=s) for an
integer s (the decoder half of a convolutional autoencoder).

    y[n, c, i, j] = x[n, c, i // s, j // s]        y: (N, C, s H, s W)

Each input pixel is copied to an s x s block of the output, so its gradient is the sum
of the upstream gradient over that block.
"""

import numbers

from tlcore import backend
from tlcore.autograd import Function


def check_scale(op, scale, name="scale"):
    """``scale`` as an int, after checking that it is an integer >= 1 (bools are not)."""
    if (not isinstance(scale, numbers.Integral) or isinstance(scale, bool)
            or int(scale) < 1):
        raise ValueError(f"{op}: {name} must be an int >= 1 (one factor for both axes), "
                         f"got {scale!r}")
    return int(scale)


class UpsampleNearest(Function):
    """y[n, c, i, j] = x[n, c, i // s, j // s] for an (N, C, H, W) input x and an integer
    scale s >= 1; y is (N, C, s H, s W). PyTorch's F.interpolate(mode="nearest") and
    nn.Upsample(scale_factor=s) for integer s.

    Backward: dL/dx[n, c, h, w] = sum over a, b < s of g[n, c, h s + a, w s + b], i.e.
    g reshaped to (N, C, H, s, W, s) and summed over its axes 3 and 5.
    """

    def __init__(self, scale=2):
        self.scale = check_scale("upsample_nearest", scale)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"upsample_nearest expects a 4-D (N, C, H, W) input, got "
                             f"shape {x.shape}")
        s = self.scale
        n, c, height, width = x.shape
        # y viewed as (N, C, H, s, W, s): y[n, c, h, a, w, b] = x[n, c, h, w]. A new array
        # even for s = 1: the output never shares memory with x.
        blocks = backend.array_module(x).empty((n, c, height, s, width, s), dtype=x.dtype)
        blocks[...] = x[:, :, :, None, :, None]
        return blocks.reshape(n, c, height * s, width * s)

    def backward(self, g):
        s = self.scale
        n, c, out_h, out_w = g.shape
        blocks = g.reshape(n, c, out_h // s, s, out_w // s, s)
        # dL/dx[n, c, h, w] = sum_{a, b < s} g[n, c, h s + a, w s + b], which is
        # blocks.sum(axis=(3, 5)); added here a strided slice at a time, because numpy's
        # reduction over two short axes runs element by element (10 to 15x slower at an
        # autoencoder's shapes, README). Each row of a block first, then the rows: the
        # order numpy's sum takes, so the bits are the same.
        def row(a):  # sum over b of g[n, c, h s + a, w s + b]
            total = blocks[:, :, :, a, :, 0].copy()
            for b in range(1, s):
                total += blocks[:, :, :, a, :, b]
            return total
        grad = row(0)
        for a in range(1, s):
            grad += row(a)
        return grad


def upsample_nearest(x, scale=2):
    """Nearest-neighbour upsampling: y[n, c, i, j] = x[n, c, i // s, j // s] with s =
    ``scale`` (an int >= 1, both axes), x (N, C, H, W) -> y (N, C, s H, s W). PyTorch's
    F.interpolate(x, scale_factor=s, mode="nearest") for integer s. The gradient of each
    input pixel is the sum of the upstream gradient over its s x s block."""
    return UpsampleNearest(scale)(x)
