"""Numba CPU kernels: @njit(parallel=True, cache=True), compiled on first call.

Only this module imports numba; importing it is what makes the "numba" backend
available, and the registry does that lazily. Each kernel follows the contract of its
numpy twin in reference.py (same arguments, results, dtypes, tie-breaks); the loops run
in parallel over independent rows, planes or images (``prange``), so that no two
threads ever write the same element and every result is deterministic. GEMMs stay with
BLAS (numpy's ``@``), called between the compiled loops.

Arguments: every kernel here is registered behind its validator (validate.py), which
checks the shapes, the geometry and the range of every index before a loop runs: the
loops index without bounds checks.
Dtypes: the compiled loops take float32 and float64 (one machine-code version each);
a call with another dtype runs the numpy backend (the registry's ``floats``).
Strides: the conv, pool, hinge-forward and gradient-reversal loops run over flat
C-contiguous buffers, indexed by unsigned offsets (numba then skips its negative-index
test, and the loops vectorise); a non-contiguous input is copied to a contiguous one
first (np.ascontiguousarray). The paired scores and the hinge backward index by (row,
column) and read any strides.
fastmath stays off: every float operation is the one the formula states, in its order.
``error_model="numpy"`` drops the division-by-zero checks of integer // and %.

Threads: each call is one or more parallel regions of numba's pool, between BLAS
calls. On an OpenMP runtime whose idle workers spin (the default, shared with PyTorch)
they run on the calling thread: see kernels/backends/threads.py.
"""

import functools

import numpy as np

from tlcore.kernels.backends import numpy_fast
from tlcore.kernels.backends import threads
from tlcore.kernels.geometry import conv2d_chunks, pool2d_output_size
from tlcore.kernels.backends.layout import finish, flat_in_out, flat_pair, workspace
from tlcore.kernels.registry import register

threads.apply()  # before numba starts its OpenMP threading layer, however this is imported
import numba  # noqa: E402
from numba import prange, uint64  # noqa: E402

jit = numba.njit(parallel=True, cache=True, fastmath=False, error_model="numpy")


def description():
    """'numba 0.61.0, 2 threads': for ``tlcore info``."""
    return f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads"



def register_sized(op, floats):
    """Register a kernel as ``op``'s numba implementation (for float32 and float64 in the
    argument positions ``floats``: see registry.register), running on one numba thread
    when its largest array holds fewer than threads.PARALLEL_MIN_WORK elements: waking
    the pool costs more than such a call's whole work. The caller's numba thread count
    is restored afterwards."""
    def decorate(kernel):
        @functools.wraps(kernel)
        def run(*args, **kwargs):
            work = max((a.size for a in args if isinstance(a, np.ndarray)), default=0)
            before = numba.get_num_threads()
            wanted = threads.threads_for(work, before)
            if wanted == before:
                return kernel(*args, **kwargs)
            numba.set_num_threads(wanted)
            try:
                return kernel(*args, **kwargs)
            finally:
                numba.set_num_threads(before)
        return register(op, "numba", floats)(run)
    return decorate


# ------------------------------------------------------------------- gradient reversal


@jit
def _scale(src, factor, dst):
    for i in prange(src.size):
        dst[i] = src[i] * factor


@register_sized("grad_reverse_backward", floats=(0,))
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out on flat contiguous buffers (a non-contiguous
    ``grad`` is copied to a contiguous one first)."""
    flat, dst, result = flat_in_out(grad, out)
    _scale(flat, flat.dtype.type(-lambda_), dst)
    return finish(result, out)


# ------------------------------------------------------------------ the update's axpy


@jit
def _axpy(alpha, x, y):
    for i in prange(y.size):
        y[i] += alpha * x[i]


@register_sized("axpy", floats=(1, 2))
def axpy(alpha, x, y):
    """y += alpha * x in one pass over flat buffers; where y is not contiguous, or x
    overlaps it, the numpy backend (layout.flat_pair)."""
    pair = flat_pair(x, y)
    if pair is None:
        return numpy_fast.axpy.unchecked(alpha, x, y)
    _axpy(y.dtype.type(alpha), *pair)
    return y


# -------------------------------------------------------------------- embedding scores


@jit
def _paired_dots(f, g, zero, out):
    for n in prange(f.shape[0]):
        total = zero
        for d in range(f.shape[1]):
            total += f[n, d] * g[n, d]
        out[n] = total


@register_sized("embedding_scores", floats=(0, 1))
def embedding_scores(f, g, paired=False):
    """S = f @ g.T by BLAS; paired=True: the N row dot products f[n] . g[n], one row
    per loop iteration, in parallel."""
    if not paired:
        return f @ g.T
    dtype = np.result_type(f, g)
    out = np.empty(f.shape[0], dtype)
    _paired_dots(f.astype(dtype, copy=False), g.astype(dtype, copy=False), dtype.type(0), out)
    return out


@numba.njit(error_model="numpy", inline="always")
def _bits_max_min(bits, lo, hi, high, low, magnitude, sign_off):
    """(max, min) of high, low and the integers bits[lo:hi], and the max of magnitude and
    their magnitudes (bits & sign_off): integer reductions, which LLVM vectorises (a
    float max loop it does not, here, even with fastmath)."""
    for c in range(uint64(lo), uint64(hi)):
        high = max(high, bits[c])
        low = min(low, bits[c])
        magnitude = max(magnitude, bits[c] & sign_off)
    return high, low, magnitude


@numba.njit(error_model="numpy", inline="always")
def _first_equal(bits, lo, hi, key):
    """The first c in [lo, hi) with bits[c] == key, or hi: whole blocks of 32 are
    tested by a vectorised or-reduction, then the block that has it scalar."""
    c = lo
    while c + 32 <= hi:
        hit = False
        for k in range(uint64(c), uint64(c + 32)):
            hit |= bits[k] == key
        if hit:
            break
        c += 32
    while c < hi and bits[c] != key:
        c += 1
    return c


@jit
def _hinge_max_forward(scores, bits, target, margin, loss, negative, sign_off, inf_bits):
    """Per row: the best score of the other classes and its first index, then the hinge.

    The scan runs on the scores' bit patterns read as signed integers (``bits``, the
    same memory), where LLVM vectorises it (a float max loop it does not, here, even
    with fastmath). A float >= +0 orders as its bits; a negative float has negative
    bits that order by magnitude, reversed. So if any other score is >= +0 the best is
    the one with the largest bits, else the one with the smallest; and the first class
    c != y with those bits is the arg-max: the first index on ties, as np.argmax over
    the row with y set to -inf. Two floats are equal iff their bits are, except +0 and
    -0 (a best of 0 takes a float scan instead) and NaN: a magnitude (bits & sign_off)
    above that of inf is a NaN of either sign, and then the first NaN is the arg-max.
    """
    classes = scores.shape[1]
    for n in prange(scores.shape[0]):
        y = target[n]
        row, row_bits = scores[n], bits[n]
        start = 1 if y == 0 else 0
        first = row_bits[start]
        high, low, magnitude = _bits_max_min(row_bits, start, y, first, first,
                                             first & sign_off, sign_off)
        high, low, magnitude = _bits_max_min(row_bits, y + 1, classes, high, low,
                                             magnitude, sign_off)
        if magnitude > inf_bits:  # a NaN: the first one
            arg = start
            while arg == y or row[arg] == row[arg]:
                arg += 1
        else:
            key = high if high >= 0 else low
            arg = _first_equal(row_bits, 0, y, key)
            if arg == y:
                arg = _first_equal(row_bits, y + 1, classes, key)
            best = row[arg]
            if best == 0:  # +0 and -0 are equal: the first of either
                for c in range(classes):
                    if c != y and row[c] == 0:
                        arg = c
                        break
            elif best == -np.inf:
                arg = 0  # np.argmax's answer when every other score is -inf
        negative[n] = arg
        value = margin - row[y] + (row[arg] if arg != y else -np.inf)  # y counts as -inf
        loss[n] = value if not value <= 0 else 0  # max(value, 0), NaN stays NaN


@register_sized("hinge_max_forward", floats=(0,))
def hinge_max_forward(scores, target, margin):
    """loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]) and that arg-max,
    one row per loop iteration, in parallel."""
    target = np.ascontiguousarray(target, np.int64)
    scores = np.ascontiguousarray(scores)
    loss = np.empty(scores.shape[0], scores.dtype)
    negative = np.empty(scores.shape[0], np.int64)
    bits = scores.view(np.int32 if scores.dtype == np.float32 else np.int64)
    sign_off = bits.dtype.type(np.iinfo(bits.dtype).max)  # every bit but the sign
    inf_bits = np.array(np.inf, scores.dtype).view(bits.dtype)[()]
    _hinge_max_forward(scores, bits, target, scores.dtype.type(margin), loss, negative,
                       sign_off, inf_bits)
    return loss, negative


@register("embedding_hinge_max_forward", "numba", floats=(0, 1))
def embedding_hinge_max_forward(f, g, target, margin):
    """hinge_max_forward(embedding_scores(f, g), ...): BLAS's GEMM, then the scan."""
    return hinge_max_forward.unchecked(embedding_scores.unchecked(f, g), target, margin)


@jit
def _hinge_grad_f(g, target, negative, weight, grad_f):
    for n in prange(grad_f.shape[0]):
        w, y, m = weight[n], target[n], negative[n]
        for d in range(grad_f.shape[1]):
            grad_f[n, d] = w * (g[m, d] - g[y, d])


@jit
def _hinge_grad_g(f, target, negative, weight, grad_g):
    """grad_g[c] = sum of w_n f[n] over the samples whose negative is c, minus that over
    the samples whose target is c, without races: the (sample, sign) pairs are first
    sorted by class (a counting sort, O(N)), then each class sums its own list, in
    parallel over classes. Samples of weight 0 (margin met) are left out. Each list
    holds its negatives, then its targets, in sample order: the order np.add.at adds."""
    classes, n_samples = grad_g.shape[0], f.shape[0]
    start = np.zeros(classes + 1, np.int64)
    for n in range(n_samples):
        if weight[n] != 0:
            start[negative[n] + 1] += 1
            start[target[n] + 1] += 1
    for c in range(classes):
        start[c + 1] += start[c]
    fill = start[:classes].copy()
    entries = np.empty(start[classes], np.int64)  # sample n, or -1 - n for "minus f[n]"
    for n in range(n_samples):
        if weight[n] != 0:
            entries[fill[negative[n]]] = n
            fill[negative[n]] += 1
    for n in range(n_samples):
        if weight[n] != 0:
            entries[fill[target[n]]] = -1 - n
            fill[target[n]] += 1
    for c in prange(classes):
        for d in range(grad_g.shape[1]):
            grad_g[c, d] = 0
        for k in range(start[c], start[c + 1]):
            n = entries[k]
            if n >= 0:
                w = weight[n]
            else:
                n = -1 - n
                w = -weight[n]
            for d in range(grad_g.shape[1]):
                grad_g[c, d] += w * f[n, d]


@register_sized("hinge_max_backward", floats=(0, 1, 4))
def hinge_max_backward(f, g, target, negative, weight):
    """grad_f[n] = w (g[m] - g[y]) row by row in parallel, and grad_g by a race-free
    per-class sum (see _hinge_grad_g): O(N*D) work, deterministic. Computed in the
    dtype of ``weight * g`` (the reference's), f cast to it."""
    target = np.ascontiguousarray(target, np.int64)
    negative = np.ascontiguousarray(negative, np.int64)
    dtype = np.result_type(weight, g)
    f, g, weight = (a.astype(dtype, copy=False) for a in (f, g, weight))
    grad_f = np.empty(f.shape, dtype)
    grad_g = np.empty(g.shape, dtype)
    _hinge_grad_f(g, target, negative, weight, grad_f)
    _hinge_grad_g(f, target, negative, weight, grad_g)
    return grad_f, grad_g


# ----------------------------------------------------------------------------- pooling


@jit
def _maxpool2d_forward(x, kh, kw, sh, sw, ph, pw, out, argmax):
    """One (sample, channel) plane per iteration, on flat C-contiguous buffers. Each
    window is scanned over its real elements only (padding, -inf, never wins a strict
    >), from the first one, in row-major order: the first maximum wins a tie. A NaN is
    taken and kept."""
    planes, height, width = x.shape[0] * x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    xf, of, af = x.reshape(-1), out.reshape(-1), argmax.reshape(-1)
    for plane in prange(planes):
        src = plane * height * width
        for oh in range(out_h):
            top = oh * sh - ph
            r0, r1 = max(top, 0), min(top + kh, height)
            dst = (plane * out_h + oh) * out_w
            for ow in range(out_w):
                left = ow * sw - pw
                c0, c1 = max(left, 0), min(left + kw, width)
                index = r0 * width + c0
                if r0 >= r1 or c0 >= c1:  # a window of padding only (as the reference)
                    of[uint64(dst + ow)] = -np.inf
                    af[uint64(dst + ow)] = index
                    continue
                best = xf[uint64(src + index)]
                for r in range(r0, r1):
                    for col in range(c0, c1):
                        value = xf[uint64(src + r * width + col)]
                        if value > best or value != value:
                            best = value
                            index = r * width + col
                of[uint64(dst + ow)] = best
                af[uint64(dst + ow)] = index


@jit
def _maxpool2x2_forward(x, out, argmax):
    """The common 2x2 window, stride 2, no padding, unrolled: the same scan, 7x faster
    than the general loop above (measured at (64, 32, 28, 28)), whose short loops of
    unknown length compile to unpredictable branches."""
    planes, height, width = x.shape[0] * x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    xf, of, af = x.reshape(-1), out.reshape(-1), argmax.reshape(-1)
    for plane in prange(planes):
        src = plane * height * width
        for oh in range(out_h):
            dst = (plane * out_h + oh) * out_w
            for ow in range(out_w):
                at = 2 * oh * width + 2 * ow
                best, index = xf[uint64(src + at)], at
                value = xf[uint64(src + at + 1)]
                if value > best or value != value:
                    best, index = value, at + 1
                value = xf[uint64(src + at + width)]
                if value > best or value != value:
                    best, index = value, at + width
                value = xf[uint64(src + at + width + 1)]
                if value > best or value != value:
                    best, index = value, at + width + 1
                of[uint64(dst + ow)] = best
                af[uint64(dst + ow)] = index


@register_sized("maxpool2d_forward", floats=(0,))
def maxpool2d_forward(x, kernel, stride, padding):
    """Max pooling with PyTorch's return_indices, one plane per parallel iteration; see
    reference.maxpool2d_forward for the contract and the tie-break."""
    x = np.ascontiguousarray(x)
    n, c, height, width = x.shape
    out_h, out_w = pool2d_output_size((height, width), kernel, stride, padding)
    out = np.empty((n, c, out_h, out_w), x.dtype)
    argmax = np.empty((n, c, out_h, out_w), np.int64)
    if tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0):
        _maxpool2x2_forward(x, out, argmax)
    else:
        _maxpool2d_forward(x, *kernel, *stride, *padding, out, argmax)
    return out, argmax


@jit
def _maxpool2d_backward(grad_out, argmax, grad_x):
    """One plane per iteration: zero it, then add each output's gradient at its argmax
    (in output order, as np.add.at: overlapping windows add up, in the same order)."""
    planes, size = grad_x.shape[0] * grad_x.shape[1], grad_x.shape[2] * grad_x.shape[3]
    outputs = grad_out.shape[2] * grad_out.shape[3]
    gf, af, xf = grad_out.reshape(-1), argmax.reshape(-1), grad_x.reshape(-1)
    for plane in prange(planes):
        dst = uint64(plane * size)
        for k in range(uint64(size)):
            xf[dst + k] = 0
        src = uint64(plane * outputs)
        for k in range(uint64(outputs)):
            xf[dst + uint64(af[src + k])] += gf[src + k]


@register_sized("maxpool2d_backward", floats=(0,))
def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax] += grad_out, one plane per parallel iteration."""
    grad_x = np.empty(x_shape, grad_out.dtype)
    _maxpool2d_backward(np.ascontiguousarray(grad_out), np.ascontiguousarray(argmax, np.int64),
                        grad_x)
    return grad_x


# ----------------------------------------------------------------------------- conv2d
# im2col + GEMM, as numpy_fast.py, with the copies around the GEMMs done by parallel
# compiled loops that write each array once, straight in the layout the GEMM reads.
# With K = C/G*kh*kw and P = Ho*Wo, the columns cols[g, (c, p, q), (n, i, j)] =
# xpad[n, g*C/G + c, i*sh + p*dh, j*sw + q*dw] (padding by bounds: no padded copy of x)
# are laid out in one of two ways:
#
#   per sample (m, G, K, P): one GEMM per sample reads and writes NCHW in place
#       forward   out[n] = w_rows @ cols_n          (where K <= P)
#       input     grad_cols_n = w_rows^T @ g[n]     then col2im (always)
#       weight    sum_n cols_n @ g[n]^T             (where K <= P)
#   side by side (G, K, m*P): one big GEMM; grad_out or the output moved between NCHW
#   and (C_out, m*P) by a parallel copy
#       forward   out_rows = w_rows @ cols          (where K > P)
#       weight    grad_w^T = cols @ g_rows^T        (where K > P)
#
# Measured at bench/conv.py's shapes: with few input channels and large images (conv1,
# K = 9, P = 784) the per-sample GEMMs avoid moving an output 87x larger than K and run
# 2x faster; with many channels and small images (conv2, conv3) they are too small for
# two BLAS threads, and the big GEMM wins. Samples go in chunks of at most
# numpy_fast.CONV2D_CHUNK_BYTES of columns.
#
# The loops run over flat C-contiguous buffers (a non-contiguous x or grad_out is
# copied once) with unsigned offsets: numba then skips its negative-index wrap-around
# test and the copies vectorize (3-5x faster here than 4-D indexing). In the common case
# stride 1 and Wo == W (a "same" convolution), the rows of a window follow each other in
# memory on both sides, and each (row, sample) is one long copy.

_inline = numba.njit(error_model="numpy", inline="always")


@_inline
def _copy(dst, at, src, frm, count):
    a, b = uint64(at), uint64(frm)
    for k in range(uint64(count)):
        dst[a + k] = src[b + k]


@_inline
def _add(dst, at, src, frm, count):
    a, b = uint64(at), uint64(frm)
    for k in range(uint64(count)):
        dst[a + k] += src[b + k]


@_inline
def _zero(dst, at, count):
    a = uint64(at)
    for k in range(uint64(count)):
        dst[a + k] = 0


@_inline
def _inside(n_out, stride, shift, size):
    """[lo, hi): the outputs k whose input k*stride + shift lies in [0, size)."""
    lo = 0
    while lo < n_out and lo * stride + shift < 0:
        lo += 1
    hi = n_out
    while hi > lo and (hi - 1) * stride + shift >= size:
        hi -= 1
    return lo, hi


@jit
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, cf, row_step, sample_step):
    """cf[row * row_step + n * sample_step + i*Wo + j] = xpad[n, c, i*sh + p*dh, j*sw +
    q*dw] for x (m, C, H, W) and row = (c, p, q): one (row, sample) stretch of P
    entries per iteration, 0 in the padding. cf is flat; the steps give its layout."""
    m, channels, height, width = x.shape
    pixels = out_h * out_w
    xf = x.reshape(-1)
    rows_follow = sh == 1 and sw == 1 and out_w == width
    for task in prange(channels * kh * kw * m):
        row, n = task // m, task % m
        c, p, q = row // (kh * kw), row // kw % kh, row % kw
        i0, i1 = _inside(out_h, sh, p * dh - ph, height)
        j0, j1 = _inside(out_w, sw, q * dw - pw, width)
        at = row * row_step + n * sample_step
        plane = (n * channels + c) * height * width
        if i0 >= i1 or j0 >= j1:
            _zero(cf, at, pixels)
            continue
        _zero(cf, at, i0 * out_w)  # rows of padding above and below
        _zero(cf, at + i1 * out_w, (out_h - i1) * out_w)
        if rows_follow:  # one stretch from (i0, j0) to (i1 - 1, j1), then the side edges
            _copy(cf, at + i0 * out_w + j0,
                  xf, plane + (i0 + p * dh - ph) * width + j0 + q * dw - pw,
                  (i1 - 1 - i0) * out_w + j1 - j0)
            for i in range(i0, i1):
                _zero(cf, at + i * out_w, j0)
                _zero(cf, at + i * out_w + j1, out_w - j1)
            continue
        for i in range(i0, i1):
            line = at + i * out_w
            src = plane + (i * sh + p * dh - ph) * width + q * dw - pw
            _zero(cf, line, j0)
            if sw == 1:
                _copy(cf, line + j0, xf, src + j0, j1 - j0)
            else:
                for j in range(j0, j1):
                    cf[uint64(line + j)] = xf[uint64(src + j * sw)]
            _zero(cf, line + j1, out_w - j1)


@jit
def _col2im(gf, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w, grad_x, row_step, sample_step):
    """grad_x[n, c] = the sum, over the offsets (p, q) in order and the outputs that read
    each pixel, of gf[row * row_step + n * sample_step + i*Wo + j], row = (c, p, q), the
    layout of _im2col: one input plane per iteration, so no two iterations write the
    same pixel, and each pixel sums in numpy_fast's order. The entries of gf that fall
    in the padding are set to 0 (it is scratch)."""
    m, channels, height, width = grad_x.shape
    xf = grad_x.reshape(-1)
    rows_follow = sh == 1 and sw == 1 and out_w == width
    for task in prange(m * channels):
        n, c = task // channels, task % channels
        plane = (n * channels + c) * height * width
        _zero(xf, plane, height * width)
        for p in range(kh):
            i0, i1 = _inside(out_h, sh, p * dh - ph, height)
            for q in range(kw):
                j0, j1 = _inside(out_w, sw, q * dw - pw, width)
                if i0 >= i1 or j0 >= j1:
                    continue
                at = ((c * kh + p) * kw + q) * row_step + n * sample_step
                if rows_follow:  # zero the side edges, then add one stretch
                    for i in range(i0, i1):
                        _zero(gf, at + i * out_w, j0)
                        _zero(gf, at + i * out_w + j1, out_w - j1)
                    _add(xf, plane + (i0 + p * dh - ph) * width + j0 + q * dw - pw,
                         gf, at + i0 * out_w + j0, (i1 - 1 - i0) * out_w + j1 - j0)
                    continue
                for i in range(i0, i1):
                    line = at + i * out_w
                    dst = plane + (i * sh + p * dh - ph) * width + q * dw - pw
                    if sw == 1:
                        _add(xf, dst + j0, gf, line + j0, j1 - j0)
                    else:
                        for j in range(j0, j1):
                            xf[uint64(dst + j * sw)] += gf[uint64(line + j)]


@jit
def _swap01(src, dst):
    """dst[b, a, :] = src[a, b, :] for C-contiguous src (A, B, L) and dst (B, A, L): a GEMM's
    (C_out, m, P) result to NCHW, or an NCHW gradient to the GEMM's (C_out, m, P) rows."""
    a_size, b_size, length = src.shape
    sf, df = src.reshape(-1), dst.reshape(-1)
    for task in prange(a_size * b_size):
        a, b = task // b_size, task % b_size
        _copy(df, (b * a_size + a) * length, sf, (a * b_size + b) * length, length)


def _columns(x, kernel, stride, padding, dilation, out_h, out_w, groups, per_sample):
    """The im2col columns of the samples x (m, C, H, W) in the "cols" workspace, laid
    out per sample (m, G, K/G, P) or side by side (G, K/G, m*P): see above."""
    m, c_in = x.shape[:2]
    pixels, k = out_h * out_w, c_in * kernel[0] * kernel[1]
    if per_sample:
        shape, row_step, sample_step = (m, groups, k // groups, pixels), pixels, k * pixels
    else:
        shape, row_step, sample_step = (groups, k // groups, m * pixels), m * pixels, pixels
    cols = workspace("cols", shape, x.dtype)
    _im2col(x, *kernel, *stride, *padding, *dilation, out_h, out_w, cols.reshape(-1),
            row_step, sample_step)
    return cols


def _grouped(rows, groups):
    """(G * R, L) as the stacked (G, R, L) the batched GEMM takes."""
    return rows.reshape(groups, rows.shape[0] // groups, rows.shape[1])


@register_sized("conv2d_forward", floats=(0, 1))
def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """out = w_rows @ cols per group (BLAS), cols by a parallel compiled loop (see
    above). Contract: reference.conv2d_forward.

    Where K <= P, one GEMM per sample writes out[n] in place. Elsewhere (many channels,
    small images: conv2 and conv3 of bench/conv.py) the per-sample GEMMs are too small
    for BLAS's threads (measured 2x slower on 2 threads at conv2), so one big GEMM over
    all samples' columns is taken, and its (C_out, m*P) result moved to NCHW.
    """
    dtype = np.result_type(x, weight)
    x = np.ascontiguousarray(x, dtype)
    n = x.shape[0]
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w, chunks, _ = conv2d_chunks(x.shape, (kh, kw), stride, padding, dilation,
                                          dtype, numpy_fast.CONV2D_CHUNK_BYTES)
    pixels = out_h * out_w
    per_sample = c_group * kh * kw <= pixels
    w_rows = weight.reshape(groups, c_out // groups, -1).astype(dtype, copy=False)
    out = np.empty((n, groups, c_out // groups, pixels), dtype)
    for chunk in chunks:
        start, stop = chunk.start, chunk.stop
        m = stop - start
        cols = _columns(x[start:stop], (kh, kw), stride, padding, dilation, out_h, out_w,
                        groups, per_sample)
        if per_sample:
            np.matmul(w_rows, cols, out=out[start:stop])
            continue
        out_rows = workspace("rows", (c_out, m * pixels), dtype)
        np.matmul(w_rows, cols, out=_grouped(out_rows, groups))
        _swap01(out_rows.reshape(c_out, m, pixels), out[start:stop].reshape(m, c_out, pixels))
    return out.reshape(n, c_out, out_h, out_w)


@register_sized("conv2d_backward_weight", floats=(0, 1))
def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """grad_w^T = cols @ g_rows^T per group and chunk (BLAS), summed, then transposed.
    Contract: reference.conv2d_backward_weight.

    Two ways to sum over the samples: one big GEMM over the columns of all samples side
    by side, which needs grad_out moved to g_rows (C_out, m*P); or one GEMM per sample,
    cols_n @ grad_out[n]^T (grad_out read in place), whose (m, K, C_out/G) partial
    products are then summed. The second moves less memory where K <= P (few input
    channels, large images: conv1 of bench/conv.py, 2x faster there), the first elsewhere.
    """
    dtype = np.result_type(grad_out, x)
    x, grad_out = np.ascontiguousarray(x, dtype), np.ascontiguousarray(grad_out, dtype)
    n, c_in = x.shape[:2]
    c_out, c_group, kh, kw = weight_shape
    out_h, out_w, chunks, _ = conv2d_chunks(x.shape, (kh, kw), stride, padding, dilation,
                                          dtype, numpy_fast.CONV2D_CHUNK_BYTES)
    pixels, k = out_h * out_w, c_in * kh * kw
    per_sample = c_group * kh * kw <= pixels
    grad_w = np.zeros((groups, k // groups, c_out // groups), dtype)
    for chunk in chunks:
        start, stop = chunk.start, chunk.stop
        m = stop - start
        cols = _columns(x[start:stop], (kh, kw), stride, padding, dilation, out_h, out_w,
                        groups, per_sample)
        if per_sample:
            g = grad_out[start:stop].reshape(m, groups, c_out // groups, pixels)
            grad_w += np.matmul(cols, g.transpose(0, 1, 3, 2)).sum(axis=0)
            continue
        g_rows = workspace("rows", (c_out, m * pixels), dtype)
        _swap01(grad_out[start:stop].reshape(m, c_out, pixels), g_rows.reshape(c_out, m, pixels))
        grad_w += cols @ _grouped(g_rows, groups).transpose(0, 2, 1)
    return np.ascontiguousarray(grad_w.transpose(0, 2, 1)).reshape(weight_shape)


@register_sized("conv2d_backward_input", floats=(0, 1))
def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """grad_cols_n = w_rows^T @ grad_out[n] per sample and group (BLAS), then col2im by
    the input planes in parallel. Contract: reference.conv2d_backward_input."""
    dtype = np.result_type(grad_out, weight)
    grad_out = np.ascontiguousarray(grad_out, dtype)
    n, c_in = x_shape[:2]
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w, chunks, _ = conv2d_chunks(x_shape, (kh, kw), stride, padding, dilation,
                                          dtype, numpy_fast.CONV2D_CHUNK_BYTES)
    pixels, k = out_h * out_w, c_in * kh * kw
    w_cols = weight.reshape(1, groups, c_out // groups, -1).astype(dtype, copy=False)
    w_cols = w_cols.transpose(0, 1, 3, 2)  # (1, G, K/G, C_out/G)
    g = grad_out.reshape(n, groups, c_out // groups, pixels)
    grad_x = np.empty(x_shape, dtype)
    for chunk in chunks:
        start, stop = chunk.start, chunk.stop
        m = stop - start
        grad_cols = workspace("cols", (m, groups, k // groups, pixels), dtype)
        np.matmul(w_cols, g[start:stop], out=grad_cols)
        _col2im(grad_cols.reshape(-1), kh, kw, *stride, *padding, *dilation, out_h, out_w,
                grad_x[start:stop], pixels, k * pixels)
    return grad_x
