"""The definition of every kernel: the plainest correct numpy, to read and to test against.

Every backend ("numpy", "numba", "native", "cupy") must give what these functions give,
to float rounding: same arguments, shapes, dtypes, and the same index on a tie. Nothing
here is tuned, and nothing here is registered: the registry never runs this module; the
tests compare each backend with it on the same random inputs.

Arrays are NCHW for images; kernel, stride, padding and dilation are (height, width)
pairs, groups an int. The arguments are assumed valid (validate.py checks a backend's).
"""

import numpy as np

from tlcore.kernels.geometry import conv2d_output_size, pool2d_output_size

# ---------------------------------------------------------------- gradient reversal


def grad_reverse_backward(grad, lambda_, out=None):
    """Gradient reversal (Ganin & Lempitsky 2015): grad_in = -lambda * grad_out, in
    grad's dtype, written into ``out`` when given (``out`` may be ``grad`` itself)."""
    result = (-lambda_ * grad).astype(grad.dtype, copy=False)
    if out is None:
        return result
    out[...] = result
    return out


# ------------------------------------------------------------------ the update's axpy


def axpy(alpha, x, y):
    """y += alpha * x, in place (BLAS's axpy: y <- alpha x + y), alpha cast to y's dtype;
    returns y. The update of plain SGD, theta <- theta - lr * g, is axpy(-lr, g, theta)."""
    y += np.multiply(x, y.dtype.type(alpha), dtype=y.dtype)
    return y


# ------------------------------------------------------------------- embedding scores
# Zero-shot learning scores an input x against a class description y by the dot product
# f(x) . g(y) of their embeddings, and trains with a hinge on those scores.


def embedding_scores(f, g, paired=False):
    """S = f @ g.T, S[n, c] = f[n] . g[c], for f (N, D) and g (C, D).

    paired=True: g is (N, D) and the result the N dot products f[n] . g[n]."""
    if paired:
        return (f * g).sum(axis=1)
    return f @ g.T


def hinge_max_forward(scores, target, margin):
    """loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]), for scores S (N, C),
    C >= 2, and target y (N,).

    Returns (loss (N,) in the scores' dtype, negative (N,) int64): negative[n] is the
    arg-max over the other classes, the first one on a tie (np.argmax's rule; a NaN
    counts as the largest). Where the loss is positive, its gradient is -1 at S[n, y_n]
    and +1 at S[n, negative[n]].
    """
    rows = np.arange(scores.shape[0])
    is_target = np.arange(scores.shape[1]) == target[:, None]
    others = np.where(is_target, -np.inf, scores)  # the true class never wins the max
    negative = others.argmax(axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as IEEE says, without a warning
        loss = np.maximum(0, margin - scores[rows, target] + others[rows, negative])
    return loss.astype(scores.dtype, copy=False), negative.astype(np.int64)


def embedding_hinge_max_forward(f, g, target, margin):
    """The hinge on the scores of the embeddings: hinge_max_forward(f @ g.T, ...)."""
    return hinge_max_forward(embedding_scores(f, g), target, margin)


def hinge_max_backward(f, g, target, negative, weight):
    """The gradient of sum_n weight[n] * loss[n] to f and g, where loss is
    embedding_hinge_max_forward's and weight is already 0 where the margin is met.

    loss[n] = margin - f[n] . g[y] + f[n] . g[m] (y = target[n], m = negative[n]), so

        grad_f[n] = w[n] * (g[m] - g[y]),   grad_g[m] += w[n] * f[n],   grad_g[y] -= w[n] * f[n]

    Several samples can share a class: the rows of grad_g add up (one sample at a time).
    Returns (grad_f (N, D), grad_g (C, D)), both in the dtype of weight * g.
    """
    grad_f = weight[:, None] * (g[negative] - g[target])
    grad_g = np.zeros(g.shape, grad_f.dtype)
    for n in range(f.shape[0]):
        grad_g[negative[n]] += weight[n] * f[n]
        grad_g[target[n]] -= weight[n] * f[n]
    return grad_f, grad_g


# --------------------------------------------------------------------------- pooling


def maxpool2d_forward(x, kernel, stride, padding):
    """Max pooling: out[n, c, i, j] is the max of x[n, c] over the window of rows
    i*sh - ph + [0, kh) and columns j*sw - pw + [0, kw), padding left out (it counts as
    -inf, as in PyTorch's F.max_pool2d).

    Returns (out in x's dtype, argmax int64), both (N, C, H_out, W_out); argmax is the flat
    index h * W + w of the maximum in the unpadded plane, the first real element in
    row-major window order on a tie (so a window of -inf points at its first element).
    A NaN makes its window's output NaN; its index is then unspecified.
    """
    n, c, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    out_h, out_w = pool2d_output_size((height, width), kernel, stride, padding)
    out = np.empty((n, c, out_h, out_w), x.dtype)
    argmax = np.empty((n, c, out_h, out_w), np.int64)
    for i in range(out_h):
        top, bottom = max(i * sh - ph, 0), min(i * sh - ph + kh, height)
        for j in range(out_w):
            left, right = max(j * sw - pw, 0), min(j * sw - pw + kw, width)
            window = x[:, :, top:bottom, left:right].reshape(n, c, -1)  # row-major order
            first = window.argmax(axis=2)  # the first maximum
            out[:, :, i, j] = np.take_along_axis(window, first[..., None], axis=2)[..., 0]
            row, col = np.divmod(first, right - left)
            argmax[:, :, i, j] = (top + row) * width + left + col
    return out, argmax


def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax[n, c, i, j]] += grad_out[n, c, i, j]: each output's
    gradient goes to the element it took. Overlapping windows can take the same element,
    so the gradients add (np.add.at; a plain ``+=`` on repeated indices keeps one)."""
    n, c, height, width = x_shape
    grad_x = np.zeros((n, c, height * width), grad_out.dtype)
    samples = np.arange(n)[:, None, None]
    channels = np.arange(c)[None, :, None]
    np.add.at(grad_x, (samples, channels, argmax.reshape(n, c, -1)),
              grad_out.reshape(n, c, -1))
    return grad_x.reshape(x_shape)


# --------------------------------------------------------------------------- conv2d
# Convolution without bias, as im2col + one matmul:
#
#   out[n, o, i, j] = sum_{c, p, q} w[o, c, p, q] * xpad[n, g*C/G + c, i*sh + p*dh, j*sw + q*dw]
#
# for output channel o of group g, xpad being x zero-padded by (ph, pw). im2col lays out
# each receptive field as a column, so the sum is a matrix product of the weight rows with
# the columns. Each result is a new C-contiguous array, in the dtype numpy's promotion
# gives the two array arguments.


def _window(p, q, out_size, stride, dilation):
    """The strided (rows, columns) slices of a padded plane that offset (p, q) of the
    kernel reads: element (p, q) of the receptive field of every output pixel."""
    (out_h, out_w), (sh, sw), (dh, dw) = out_size, stride, dilation
    return (slice(p * dh, p * dh + sh * (out_h - 1) + 1, sh),
            slice(q * dw, q * dw + sw * (out_w - 1) + 1, sw))


def im2col(x, kernel, stride, padding, dilation):
    """cols[n, c, p, q, i, j] = xpad[n, c, i*sh + p*dh, j*sw + q*dw]: for each output pixel
    (i, j), the C*kh*kw inputs its weights multiply."""
    (kh, kw), (ph, pw) = kernel, padding
    out_size = tuple(conv2d_output_size(*args) for args in zip(x.shape[2:], kernel, stride,
                                                                padding, dilation))
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty(x.shape[:2] + (kh, kw) + out_size, x.dtype)
    for p in range(kh):
        for q in range(kw):
            cols[:, :, p, q] = xpad[(Ellipsis,) + _window(p, q, out_size, stride, dilation)]
    return cols


def col2im(cols, x_shape, stride, padding, dilation):
    """The adjoint of im2col: each entry of cols (N, C, kh, kw, H_out, W_out) is added back
    to the input element it was copied from (an element read by several windows gets the
    sum), and the padding border is cut off."""
    n, c, height, width = x_shape
    kh, kw, out_h, out_w = cols.shape[2:]
    ph, pw = padding
    grad_pad = np.zeros((n, c, height + 2 * ph, width + 2 * pw), cols.dtype)
    for p in range(kh):
        for q in range(kw):
            grad_pad[(Ellipsis,) + _window(p, q, (out_h, out_w), stride, dilation)] += \
                cols[:, :, p, q]
    return grad_pad[:, :, ph:ph + height, pw:pw + width].copy()


def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """out (N, C_out, H_out, W_out) from x (N, C, H, W) and weight (C_out, C/G, kh, kw).

    Per group: out rows (C_out/G, pixels) = weight rows (C_out/G, C/G*kh*kw) @ columns
    (C/G*kh*kw, pixels), all groups and samples in one batched matmul."""
    n = x.shape[0]
    c_out, c_group, kh, kw = weight.shape
    dtype = np.result_type(x, weight)
    cols = im2col(x.astype(dtype, copy=False), (kh, kw), stride, padding, dilation)
    out_h, out_w = cols.shape[4:]
    cols = cols.reshape(n, groups, c_group * kh * kw, out_h * out_w)
    w_rows = weight.astype(dtype, copy=False).reshape(groups, c_out // groups, -1)
    out = w_rows @ cols  # (N, G, C_out/G, H_out*W_out)
    return out.reshape(n, c_out, out_h, out_w)


def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """dL/dw = sum over samples and pixels of grad_out rows times the columns they were
    made from: per group, g_rows (C_out/G, pixels) @ cols^T (pixels, C/G*kh*kw)."""
    n, c_out, out_h, out_w = grad_out.shape
    _, c_group, kh, kw = weight_shape
    dtype = np.result_type(grad_out, x)
    cols = im2col(x.astype(dtype, copy=False), (kh, kw), stride, padding, dilation)
    cols = cols.reshape(n, groups, c_group * kh * kw, out_h * out_w)
    g_rows = grad_out.astype(dtype, copy=False).reshape(n, groups, c_out // groups, -1)
    grad_w = (g_rows @ cols.transpose(0, 1, 3, 2)).sum(axis=0)  # summed over samples
    return grad_w.reshape(weight_shape)


def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx: the gradient of each column entry, w_rows^T @ g_rows per group, put back on
    the input elements by col2im."""
    n, c_out, out_h, out_w = grad_out.shape
    _, c_group, kh, kw = weight.shape
    dtype = np.result_type(grad_out, weight)
    w_cols = weight.astype(dtype, copy=False).reshape(groups, c_out // groups, -1)
    g_rows = grad_out.astype(dtype, copy=False).reshape(n, groups, c_out // groups, -1)
    grad_cols = w_cols.transpose(0, 2, 1) @ g_rows  # (N, G, C/G*kh*kw, H_out*W_out)
    grad_cols = grad_cols.reshape(n, groups * c_group, kh, kw, out_h, out_w)
    return col2im(grad_cols, x_shape, stride, padding, dilation)
