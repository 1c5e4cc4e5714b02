"""The geometry of 2-D windows (convolution, pooling): argument pairs, output sizes, and
the strided views of each window offset. Shared by the ops, the layers and every kernel
backend, so that they all agree on it."""

import numpy as np


def pool2d_output_size(size, kernel, stride, padding):
    """(out_h, out_w), each floor((n + 2 padding - kernel) / stride) + 1 (no ceil_mode)."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding))


def window_offsets(kernel, stride, out_size):
    """For each offset (i, j) of the pooling window, in row-major order: (i, j, index),
    where ``padded[index]`` is the (..., out_h, out_w) strided view holding element (i, j)
    of every window of a padded plane. The same index writes a gradient back."""
    (kh, kw), (sh, sw), (out_h, out_w) = kernel, stride, out_size
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + sh * (out_h - 1) + 1, sh)
            cols = slice(j, j + sw * (out_w - 1) + 1, sw)
            yield i, j, (Ellipsis, rows, cols)


def conv2d_output_size(size, kernel, stride, padding, dilation):
    """Output length along one axis: floor((size + 2 padding - dilation (kernel - 1) - 1)
    / stride) + 1, as in PyTorch's Conv2d."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_chunks(x_shape, kernel, stride, padding, dilation, dtype, max_bytes):
    """(out_h, out_w, chunks, size) of an im2col convolution done a chunk of samples at a
    time: ``chunks`` are consecutive slices of the batch, each of at most ``size`` samples
    (at least one) whose columns, C_in*kh*kw*Ho*Wo values per sample, fit in
    ``max_bytes``. Every backend's convolution bounds its memory this way."""
    n, c_in, height, width = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    out_h = conv2d_output_size(height, kh, sh, ph, dh)
    out_w = conv2d_output_size(width, kw, sw, pw, dw)
    per_sample = c_in * kh * kw * out_h * out_w * np.dtype(dtype).itemsize
    size = max(1, min(n, max_bytes // max(1, per_sample)))  # n = 0: no chunk
    return out_h, out_w, [slice(s, min(n, s + size)) for s in range(0, n, size)], size
