"""The "numpy" backend: every kernel in numpy alone, memory-bounded and tuned (convolution
in chunks of samples with reused buffers, pooling as a running max over strided views).
Always there, and the fallback of the other backends for an op or a dtype they lack.

It is not the definition: kernels/reference.py is, and this backend is tested against it
like every other. Each kernel takes and returns raw numpy arrays; registry.register puts
each behind its validator (validate.py), so the arguments a kernel here sees are checked."""

import numpy as np

from tlcore.kernels.geometry import (conv2d_chunks, conv2d_output_size, pool2d_output_size,
                                     window_offsets)
from tlcore.kernels.registry import register


@register("grad_reverse_backward", "numpy")
def grad_reverse_backward(grad, lambda_, out=None):
    """Gradient reversal (Ganin & Lempitsky 2015): grad_in = -lambda * grad_out.

    ``out`` may be ``grad`` itself (in place) when the caller owns that array.
    """
    return np.multiply(grad, -lambda_, out=out, dtype=grad.dtype)



# ------------------------------------------------------------------ the update's axpy


@register("axpy", "numpy")
def axpy(alpha, x, y):
    """y += alpha * x: numpy makes alpha * x as a temporary, then adds it (three passes
    over memory where the compiled backends make one)."""
    y += np.multiply(x, y.dtype.type(alpha), dtype=y.dtype)
    return y


# -------------------------------------------------------------------- embedding scores
# Zero-shot learning by attribute embedding scores an input x against a class description
# y by the dot product f(x) . g(y) of their embeddings. Contracts for every backend:
#   embedding_scores(f, g, paired=False) -> scores
#   hinge_max_forward(scores, target, margin) -> (loss, negative)
#   embedding_hinge_max_forward(f, g, target, margin) -> (loss, negative)
#   hinge_max_backward(f, g, target, negative, weight) -> (grad_f, grad_g)


@register("embedding_scores", "numpy")
def embedding_scores(f, g, paired=False):
    """Batched dot products of embeddings, f (N, D) and g (C, D).

    paired=False: the score matrix S = f @ g.T, S[n, c] = f[n] . g[c] (N, C).
    paired=True: the N dot products of matching rows, sum(f * g, axis=1) (g is (N, D)).
    """
    if paired:
        return np.einsum("nd,nd->n", f, g)
    return f @ g.T


@register("hinge_max_forward", "numpy")
def hinge_max_forward(scores, target, margin):
    """The lecture's zero-shot embedding loss, one value per sample:

        loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c])

    scores S (N, C) with C >= 2, target y (N,) integer class indices. Returns (loss (N,),
    negative (N,) int64): negative[n] is the arg-max over the other classes, the first
    such index on ties (the tie-break every backend follows). Where the loss is positive
    its gradient touches exactly S[n, y_n] (-1) and S[n, negative[n]] (+1).
    """
    rows = np.arange(scores.shape[0])
    # One pass: the arg-max of a row is its first maximum; where that is not the true
    # class it is also the first maximum of the others. Only the rows whose arg-max is
    # the true class are copied, masked and scanned again.
    negative = scores.argmax(axis=1)
    best = scores[rows, negative]
    again = np.flatnonzero(negative == target)
    if again.size:
        others = scores[again]
        others[np.arange(again.size), target[again]] = -np.inf
        negative[again] = others.argmax(axis=1)
        best[again] = others[np.arange(again.size), negative[again]]  # -inf if all others are
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as IEEE says, without a warning
        loss = np.maximum(margin - scores[rows, target] + best, 0)
    return loss.astype(scores.dtype, copy=False), negative.astype(np.int64, copy=False)


@register("embedding_hinge_max_forward", "numpy")
def embedding_hinge_max_forward(f, g, target, margin):
    """hinge_max_forward(f @ g.T, target, margin) from the embeddings f (N, D) and g
    (C, D): the forward of the fused loss. A backend may compute it without forming the
    (N, C) scores; its scores are then the same sums in another order, equal to these
    to rounding (and a near-tie may pick the other class)."""
    # checked by this kernel's validator: the two it is made of need not check again
    return hinge_max_forward.unchecked(embedding_scores.unchecked(f, g), target, margin)


@register("hinge_max_backward", "numpy")
def hinge_max_backward(f, g, target, negative, weight):
    """The fused, sparse backward of hinge_max_forward(f @ g.T, target, margin) to the
    embeddings themselves, without forming the (N, C) gradient of the scores.

    weight (N,) is the upstream gradient of each sample's loss, already zero where the
    margin is met (loss[n] == 0). With w = weight[n], y = target[n], m = negative[n]:

        grad_f[n] = w * (g[m] - g[y])
        grad_g[m] += w * f[n],   grad_g[y] -= w * f[n]

    O(N*D) work instead of the O(N*C*D) of the dense matmul backward. Several samples
    can share a class, so the rows of grad_g are scatter-adds (np.add.at).
    """
    w = weight[:, None]
    grad_f = w * (g[negative] - g[target])
    grad_g = np.zeros_like(g, dtype=grad_f.dtype)
    np.add.at(grad_g, negative, w * f)
    np.add.at(grad_g, target, -w * f)
    return grad_f, grad_g

# ----------------------------------------------------------------------------- pooling
# 2-D pooling kernels on NCHW arrays; kernel, stride and padding are (height, width) pairs.
# Contract for every backend: maxpool2d_forward(x, kernel, stride, padding) -> (out, argmax)
# and maxpool2d_backward(grad_out, argmax, x_shape) -> grad_x, with the same tie-break.


@register("maxpool2d_forward", "numpy")
def maxpool2d_forward(x, kernel, stride, padding):
    """Max pooling: out[n, c, oh, ow] = max of x[n, c] over rows oh*sh - ph + [0, kh) and
    columns ow*sw - pw + [0, kw); padding counts as -inf (PyTorch's F.max_pool2d).

    Returns (out, argmax). argmax (int64, out's shape) is the flat index h * W + w of each
    maximum in the UNPADDED plane (PyTorch's return_indices). Tie-break, which every backend
    must follow: the first real element, in row-major window order, that holds the maximum
    (a scan with a strict >, as PyTorch's CPU kernel does), so a window whose real elements
    are all -inf points at its first real element. A NaN makes its window's output NaN;
    that window's index is then unspecified.
    """
    n, c, height, width = x.shape
    (sh, sw), (ph, pw) = stride, padding
    out_h, out_w = pool2d_output_size((height, width), kernel, stride, padding)
    # Window (oh, ow) starts at row oh*sh - ph, column ow*sw - pw of the unpadded plane.
    top = sh * np.arange(out_h) - ph
    left = sw * np.arange(out_w) - pw
    # A running max over the kh*kw offsets of the window, each one strided view of the
    # padded plane, that moves only on a strictly greater value. `offset` is i*W + j, the
    # maximum's place in its window.
    windows = window_offsets(kernel, stride, (out_h, out_w))
    if ph or pw:  # start at "the lowest value, found at the first real element"
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=lowest)
        out = np.full((n, c, out_h, out_w), lowest, dtype=x.dtype)
        offset = np.empty(out.shape, dtype=np.int32)
        offset[...] = np.maximum(-top, 0)[:, None] * width + np.maximum(-left, 0)
    else:  # every window starts on a real element: start there, one pass fewer
        _, _, first = next(windows)
        out = x[first].copy()
        offset = np.zeros(out.shape, dtype=np.int32)
    for i, j, window in windows:
        candidate = x[window]
        better = candidate > out
        np.maximum(out, candidate, out=out)
        # offset = where(better, i*W + j, offset) as arithmetic: np.where and masked
        # assignment branch on every element and run several times slower here
        offset += better * (i * width + j - offset)
    argmax = offset + (top[:, None] * width + left)  # int64: window start + offset
    return out, argmax


@register("maxpool2d_backward", "numpy")
def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax[n, c, oh, ow]] += grad_out[n, c, oh, ow]: each output's
    gradient goes to the element it took. Overlapping windows (stride < kernel) can take
    the same element, so the gradients must add: np.add.at adds repeated indices (a plain
    ``grad_x[index] += g`` would keep only one), over the flat index (n*C + c)*H*W + argmax
    into the whole input. np.add.at is a vectorised scatter-add since numpy 1.25; measured
    at (64, 32, 28, 28) float32, it is twice as fast as np.bincount, which needs float64."""
    n, c, height, width = x_shape
    planes = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (height * width)
    flat = (argmax.astype(np.int64, copy=False) + planes).ravel()  # (uint64 + int64 is float)
    grad_x = np.zeros(n * c * height * width, dtype=grad_out.dtype)
    np.add.at(grad_x, flat, grad_out.ravel())
    return grad_x.reshape(x_shape)


# ----------------------------------------------------------------------------- conv2d
# 2-D convolution on NCHW arrays as im2col + GEMM; stride, padding and dilation are
# (height, width) pairs, groups an int. Contract for every backend:
#   conv2d_forward(x, weight, stride, padding, dilation, groups) -> out (N, C_out, H_out, W_out)
#   conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups) -> grad_x
#   conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups) -> grad_w
# each a new C-contiguous array, in the dtype numpy's promotion gives the two array inputs.
#
# Where the time goes (bench/conv.py): the three GEMMs (BLAS), and the copies around them,
# each done as a few whole-array numpy operations. Samples go in chunks so that the
# columns, kh*kw times the input, take bounded memory at any batch size.

CONV2D_CHUNK_BYTES = 32 * 2**20  # the im2col columns of one chunk of samples, at most


def _conv_columns(x, kernel, stride, padding, dilation, groups, dtype):
    """im2col, one chunk of samples at a time: yields (chunk, cols) with

        cols[g, (c, p, q), (n, i, j)] = xpad[n, g*C/G + c, i*sh + p*dh, j*sw + q*dw]

    for the samples n of the chunk, xpad being x zero-padded by (ph, pw): row (c, p, q) of
    group g holds every input that weight [., c, p, q] multiplies, column (n, i, j) the
    receptive field of output pixel (i, j) of sample n. cols is (G, C/G*kh*kw, m*Ho*Wo),
    C-contiguous, and its memory is reused by the next chunk.

    The windows are one strided view of xpad (no copy): its axes c, p, q, n, i, j step
    through memory by the strides of c, dh rows, dw columns, n, sh rows, sw columns.
    """
    n, c_in, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    out_h, out_w, chunks, size = conv2d_chunks(x.shape, kernel, stride, padding, dilation,
                                               dtype, CONV2D_CHUNK_BYTES)
    xpad = np.zeros((size, c_in, height + 2 * ph, width + 2 * pw), dtype)  # borders stay 0
    cols = np.empty((c_in, kh, kw, size, out_h, out_w), dtype)
    for chunk in chunks:
        m = chunk.stop - chunk.start
        xpad[:m, :, ph:ph + height, pw:pw + width] = x[chunk]
        s_n, s_c, s_h, s_w = xpad.strides
        windows = np.lib.stride_tricks.as_strided(
            xpad, (c_in, kh, kw, m, out_h, out_w),
            (s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w), writeable=False)
        chunk_cols = cols[:, :, :, :m]
        chunk_cols[...] = windows
        yield chunk, chunk_cols.reshape(groups, c_in // groups * kh * kw, m * out_h * out_w)


def _grad_rows(grad_out, groups, buffer):
    """grad_out (m, C_out, Ho, Wo) as (G, C_out/G, m*Ho*Wo), copied into ``buffer``
    (C_out, >= m, Ho*Wo): row o holds the gradient of output channel o over all pixels,
    in the column order of _conv_columns."""
    m, c_out, out_h, out_w = grad_out.shape
    rows = buffer[:, :m]
    rows[...] = grad_out.reshape(m, c_out, out_h * out_w).transpose(1, 0, 2)
    return rows.reshape(groups, c_out // groups, m * out_h * out_w)


@register("conv2d_forward", "numpy")
def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """out[n, o, i, j] = sum_{c,p,q} w[o, c, p, q] * xpad[n, g*C/G + c, i*sh + p*dh,
    j*sw + q*dw], o in group g: x (N, C, H, W), weight (C_out, C/G, kh, kw), no bias.

    For each group: out_rows (C_out/G, pixels) = w_rows (C_out/G, C/G*kh*kw) @ cols, one
    GEMM per chunk of samples (BLAS), then moved to (N, C_out, Ho, Wo).
    """
    n = x.shape[0]
    c_out, c_group, kh, kw = weight.shape
    dtype = np.result_type(x, weight)
    out_h = conv2d_output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    out_w = conv2d_output_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    w_rows = weight.reshape(groups, c_out // groups, c_group * kh * kw).astype(dtype, copy=False)
    out = np.empty((n, c_out, out_h * out_w), dtype)
    for chunk, cols in _conv_columns(x, (kh, kw), stride, padding, dilation, groups, dtype):
        out_rows = w_rows @ cols  # (G, C_out/G, m*Ho*Wo)
        out[chunk] = out_rows.reshape(c_out, -1, out_h * out_w).transpose(1, 0, 2)
    return out.reshape(n, c_out, out_h, out_w)


@register("conv2d_backward_weight", "numpy")
def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """dL/dw[o, c, p, q] = sum_{n,i,j} g[n, o, i, j] * xpad[n, g*C/G + c, i*sh + p*dh,
    j*sw + q*dw]: per group, cols @ g_rows^T summed over the chunks.

    The product is taken as (C/G*kh*kw, C_out/G), the orientation BLAS runs fastest here
    (measured: up to 1.3x over g_rows @ cols^T), and transposed at the end.
    """
    c_out, c_group, kh, kw = weight_shape
    out_h, out_w = grad_out.shape[2:]
    dtype = np.result_type(grad_out, x)
    grad_w = np.zeros((groups, c_group * kh * kw, c_out // groups), dtype)
    g_buffer = np.empty((c_out, x.shape[0], out_h * out_w), dtype)
    for chunk, cols in _conv_columns(x, (kh, kw), stride, padding, dilation, groups, dtype):
        g_rows = _grad_rows(grad_out[chunk], groups, g_buffer)
        grad_w += cols @ g_rows.transpose(0, 2, 1)
    return np.ascontiguousarray(grad_w.transpose(0, 2, 1)).reshape(weight_shape)


@register("conv2d_backward_input", "numpy")
def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx: every input element gets g * w from each output that read it.

    Per group, grad_cols = w_rows^T @ g_rows (one GEMM per chunk) is the gradient of each
    column entry of _conv_columns; col2im adds the entries back to the input pixels they
    came from: for each kernel offset (p, q), the strided view of the padded gradient that
    offset read gets grad_cols[:, p, q] added (kh*kw whole-array adds; np.add.at on flat
    indices is 4x slower at conv2 of bench/conv.py). The padding border is then cut off.
    The padded gradient is kept as (C, m, Hp, Wp), the axis order of grad_cols: the adds
    then walk both arrays in memory order (1.4x faster at conv2 than (m, C, Hp, Wp)).
    """
    n, c_in, height, width = x_shape
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w = grad_out.shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    dtype = np.result_type(grad_out, weight)
    w_cols = weight.reshape(groups, c_out // groups, c_group * kh * kw).astype(dtype, copy=False)
    w_cols = w_cols.transpose(0, 2, 1)  # (G, C/G*kh*kw, C_out/G)
    _, _, chunks, size = conv2d_chunks(x_shape, (kh, kw), stride, padding, dilation, dtype,
                                       CONV2D_CHUNK_BYTES)
    grad_x = np.empty(x_shape, dtype)
    g_buffer = np.empty((c_out, size, out_h * out_w), dtype)
    grad_pad = np.empty((c_in, size, height + 2 * ph, width + 2 * pw), dtype)
    for chunk in chunks:
        m = chunk.stop - chunk.start
        g_rows = _grad_rows(grad_out[chunk], groups, g_buffer)
        grad_cols = (w_cols @ g_rows).reshape(c_in, kh, kw, m, out_h, out_w)
        target = grad_pad[:, :m]
        target.fill(0)
        for p in range(kh):
            rows = slice(p * dh, p * dh + sh * (out_h - 1) + 1, sh)
            for q in range(kw):
                cols = slice(q * dw, q * dw + sw * (out_w - 1) + 1, sw)
                target[:, :, rows, cols] += grad_cols[:, p, q]
        grad_x[chunk] = target[:, :, ph:ph + height, pw:pw + width].transpose(1, 0, 2, 3)
    return grad_x
