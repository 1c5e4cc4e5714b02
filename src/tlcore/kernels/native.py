"""The compiled Cython module (csrc/_native.pyx -> tlcore._native) as a kernel backend.

Only this module imports tlcore._native. If the extension was not built (no compiler
at install time), importing this module fails and the registry lists no "native"
backend.

The split of the work: the GEMMs (the convolution's three, the score matrix F @ G.T)
go to numpy's BLAS; the compiled module does the loops around them, in parallel
(OpenMP) and without temporaries: im2col writes the GEMM's columns directly, col2im adds
them back into the input planes, swap01 moves a GEMM result into NCHW order; max pooling,
the hinge-max loss and its sparse backward, and gradient reversal are whole kernels.
Float32 convolution with one group and enough input channels, on a CPU with AVX-512F,
is a whole kernel too (csrc/conv_avx512.c and csrc/winograd_avx512.c; see "conv2d"
below for why and when), and so is the hinge-max forward from the embeddings
(csrc/hinge_avx512.c).

Layouts and dtypes: the compiled loops take C-contiguous float32 or float64 arrays.
Every array argument is passed through ``np.ascontiguousarray`` in the dtype numpy's
promotion gives the float arguments (the documented contiguous copy: free for an
array that already is one); a call with another dtype runs the numpy reference (the
registry's ``floats``). Index arrays (argmax, target, negative) go through as contiguous
int64. Every kernel here is registered behind its validator (validate.py): the shapes,
the geometry and the range of every index are checked before the compiled loops, which
trust them, run.
"""

import os
from collections import namedtuple

import numpy as np

from tlcore.kernels import threads
from tlcore.kernels.geometry import conv2d_chunks, pool2d_output_size
from tlcore.kernels.layout import finish, flat_in_out, workspace
from tlcore.kernels.registry import register

threads.apply()  # before tlcore._native loads its OpenMP runtime, however this is imported
from tlcore import _native  # noqa: E402

openmp_enabled = _native.openmp_enabled
max_threads = _native.max_threads
# On an OpenMP runtime loaded before ours (PyTorch's), whose idle workers spin, every
# loop runs on the calling thread: see threads.py.
_native.set_parallel_min_work(2**62 if threads.early_openmp() else threads.PARALLEL_MIN_WORK)

# The im2col columns of one chunk of samples, at most. Smaller than the reference's 32 MiB:
# a chunk's columns, written by im2col and read at once by the GEMM, then stay in cache.
CONV2D_CHUNK_BYTES = 8 * 2**20


@register("grad_reverse_backward", "native", floats=(0,))
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out (OpenMP prange over a flat contiguous copy of
    ``grad`` when it is not contiguous)."""
    flat, dst, result = flat_in_out(grad, out)
    _native.scale(flat, -lambda_, dst)
    return finish(result, out)


# ----------------------------------------------------------------------------- pooling


@register("maxpool2d_forward", "native", floats=(0,))
def maxpool2d_forward(x, kernel, stride, padding):
    """(out, argmax) of max pooling, one plane per task; the contract and the tie-break
    (first real element in row-major window order, strict >) are reference.py's."""
    dtype = x.dtype
    x = np.ascontiguousarray(x, dtype)
    out_h, out_w = pool2d_output_size(x.shape[2:], kernel, stride, padding)
    out = np.empty(x.shape[:2] + (out_h, out_w), dtype)
    argmax = np.empty(out.shape, np.int64)
    _native.maxpool2d_forward(x, kernel, stride, padding, out, argmax)
    return out, argmax


@register("maxpool2d_backward", "native", floats=(0,))
def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax] += grad_out, one plane per task (adds in order)."""
    dtype = grad_out.dtype
    grad_out = np.ascontiguousarray(grad_out, dtype)
    argmax = np.ascontiguousarray(argmax, np.int64)
    grad_x = np.empty(x_shape, dtype)
    _native.maxpool2d_backward(grad_out, argmax, grad_x)
    return grad_x


# ----------------------------------------------------------------------------- conv2d
# Float32 with groups = 1 on a CPU with AVX-512F (csrc/conv_avx512.c): each thread pads
# one sample into its own scratch, and a register-tile kernel multiplies the inputs it
# reads there in place by the packed weights (the forward, at column stride 1) or by the
# packed output gradient (the weight gradient, any geometry), so no column matrix goes
# to memory; the input gradient is the forward of grad_out with the kernel flipped
# (stride 1, dilation 1, padding < kernel). A 3x3 kernel at stride 1 takes Winograd's
# algorithm instead, where its buffers fit (see WINOGRAD). Everything else: per chunk of
# samples and group, im2col writes the columns in the order the GEMM reads them, a
# group's rows consecutive: one GEMM per sample on (m, C*kh*kw, Ho*Wo) where C*kh*kw <=
# Ho*Wo, else one on (C*kh*kw, m*Ho*Wo) (see _per_sample). AVX512_CONV = False: im2col
# always.
AVX512_CONV = True
# A 3x3 kernel at stride 1 on AVX-512 takes Winograd's F(2x2, 3x3) for the forward and
# the input gradient, and F(3x3, 2x2) for the weight gradient (csrc/winograd_avx512.c):
# 2.25x fewer multiply-adds, and transforms around them. Measured at the bench's conv3,
# the fastest of 100 calls in one process (WINOGRAD switched per call):
# forward 0.98 ms against the direct tiles' 1.36, input gradient 0.96 against 1.24,
# weight gradient 1.25 against 1.55; at conv2 1.74 against 1.95, 1.93 against 2.08 and
# 2.16 against 2.65. WINOGRAD = False: the direct tiles always.
WINOGRAD = True
# One check serves both AVX-512 kernels: they are built under the same guard.
# TLCORE_AVX512=0 turns them off, to measure or reproduce the route an AVX2 CPU takes.
_HAS_AVX512 = (os.environ.get("TLCORE_AVX512", "1") != "0"
               and _native.conv_avx512_supported() and _native.hinge_avx512_supported())
# The padded samples and packed gradient rows that the weight gradient sums at a time, at
# most: they are written, then read by every thread's tiles, from the core's L2 cache.
AVX512_CHUNK_BYTES = 2**19
# The same for Winograd's weight gradient: each sample's input padded channels-last, and
# its transformed patches and output gradients, 16 values per tile of 2x2 pixels (4x its
# input and output gradient), of which each thread keeps its own positions. Measured on 2
# threads at conv2 and conv3 of the bench: 2 MB 5 to 15% faster than 1 or 4 MB. Where one
# sample's buffers exceed it, the direct tiles take the call.
WINOGRAD_CHUNK_BYTES = 2**21
# Below this many rows of im2col columns (C_in*kh*kw), and this many input channels, the
# products are too thin for the register tiles (up to 14 x 32; the input gradient's
# tiles hold C_in channels): conv1 of bench/kernels.py (one input channel) took 8.5 ms
# there against 6.0 to 6.5 ms through im2col and BLAS.
AVX512_MIN_DEPTH = 32
AVX512_MIN_CHANNELS = 4
# The forward's scratch (the packed weights, and per thread a padded sample and its
# output; Winograd's also the sample's transformed patches and products, about 4x more)
# at most this much per thread, plus 1 MiB: above it, Winograd's forward gives way to the
# direct tiles, and those to the im2col route, whose chunks bound the memory. (So a
# large sample may take another route, rounded otherwise, at another thread count.)
AVX512_SAMPLE_BYTES = 8 * 2**20
# The forward splits the batch between threads: with fewer samples than this (None: the
# number of threads) the others would idle, so im2col and BLAS, which use them all, run.
AVX512_MIN_SAMPLES = None


def _avx512(dtype, groups, x_shape, weight_shape, out_size, padding):
    """True if this call goes to the AVX-512 kernels (csrc/conv_avx512.c, or
    csrc/winograd_avx512.c where _winograd says so): float32, one group, no empty axis,
    enough input channels for the tiles (C_in >= AVX512_MIN_CHANNELS and C_in*kh*kw >=
    AVX512_MIN_DEPTH), and offsets within 32 bits (the padded sample, 16 output planes,
    16 rows of columns)."""
    c_in, (height, width), (kh, kw) = x_shape[1], x_shape[2:], weight_shape[2:]
    padded = c_in * (height + 2 * padding[0]) * (width + 2 * padding[1])
    return (AVX512_CONV and _HAS_AVX512 and groups == 1 and dtype == np.float32
            and c_in >= AVX512_MIN_CHANNELS and c_in * kh * kw >= AVX512_MIN_DEPTH
            and min(x_shape) > 0 and min(weight_shape) > 0 and min(out_size) > 0
            and padded < 2**31 - 2**20 and 16 * out_size[0] * out_size[1] < 2**31
            and 16 * c_in * kh * kw < 2**31)


def _winograd(kernel, stride, dilation):
    """True if an AVX-512 call with this geometry takes Winograd's kernels rather than
    the direct tiles (csrc/winograd_avx512.c: F(2x2, 3x3) for the forward and the input
    gradient, F(3x3, 2x2) for the weight gradient, 2.25x fewer multiply-adds): a 3x3
    kernel at stride 1 and dilation 1."""
    return (WINOGRAD and tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1))


ForwardPlan = namedtuple("ForwardPlan", "winograd floats")


def _avx512_forward_plan(x_shape, c_out, kernel, stride, padding, dilation, out_size):
    """A ForwardPlan: which AVX-512 forward runs, Winograd's (where the geometry allows it
    and its scratch fits) or the direct tiles', and the floats of scratch it needs; None
    where neither should run: fewer samples than AVX512_MIN_SAMPLES, or more scratch than
    AVX512_SAMPLE_BYTES per thread and 1 MiB."""
    threads = _native.max_threads()
    if x_shape[0] < (AVX512_MIN_SAMPLES or threads):
        return None
    for winograd in (True, False) if _winograd(kernel, stride, dilation) else (False,):
        floats = _native.conv_avx512_forward_scratch(x_shape, c_out, kernel, stride, padding,
                                                     dilation, out_size, winograd=winograd)
        if 4 * floats <= AVX512_SAMPLE_BYTES * threads + 2**20:
            return ForwardPlan(winograd, floats)
    return None


def _avx512_forward(x, weight, stride, padding, dilation, out, plan, transposed=False):
    """out = the forward of x by weight (read flipped where transposed) on AVX-512, as
    _avx512_forward_plan chose."""
    _native.conv_avx512_forward(x, weight, stride, padding, dilation, out,
                                workspace("cols", (plan.floats,), np.float32),
                                transposed=transposed, winograd=plan.winograd)
    return out


def _sample_bytes(geometry, winograd):
    """The bytes of one sample's buffers in a weight gradient on AVX-512 (Winograd's or
    the direct tiles'): what its scratch grows by per sample of a chunk."""
    scratch = _native.conv_avx512_backward_weight_scratch
    return 4 * (scratch(*geometry, 1, winograd=winograd)
                - scratch(*geometry, 0, winograd=winograd))


def _chunk(geometry, n, most, winograd):
    """How many samples a weight gradient on AVX-512 sums at a time: as many as have
    their buffers within ``most`` bytes, at most n (0 if not even one)."""
    return min(n, most // _sample_bytes(geometry, winograd))


def _conv_plan(x_shape, weight_shape, stride, padding, dilation, dtype):
    """(out_h, out_w, rows of cols, chunks, largest chunk) for one convolution."""
    c_in, (kh, kw) = x_shape[1], weight_shape[2:]
    out_h, out_w, chunks, size = conv2d_chunks(x_shape, (kh, kw), stride, padding, dilation,
                                               dtype, CONV2D_CHUNK_BYTES)
    return out_h, out_w, c_in * kh * kw, chunks, size


def _gemm(a, b, out):
    """out = a @ b for (G, ., .) stacks; a 2-D GEMM when there is one group."""
    if a.shape[0] == 1:
        np.matmul(a[0], b[0], out=out[0])
    else:
        np.matmul(a, b, out=out)
    return out


def _per_sample(rows, groups, pixels):
    """One GEMM per sample, the columns (m, K, P), where a group's K <= P (few input
    channels, large images: conv1 of bench/kernels.py); else one over the samples side
    by side, the columns (K, m*P). The first writes the output in NCHW order directly and
    reads grad_out in place; the second has larger GEMMs, which BLAS's threads share
    (as numba_cpu.py's convolution chooses; measured at conv1 there: 2x faster)."""
    return rows // groups <= pixels


def _columns(x, chunk, kernel, stride, padding, dilation, rows, pixels, per_sample,
             buffer):
    """im2col of the samples x[chunk] into ``buffer``: (m, K, P) per sample or (K, m*P)
    side by side, as _per_sample chooses."""
    m = chunk.stop - chunk.start
    if per_sample:
        cols = buffer[:rows * m * pixels].reshape(m, rows, pixels)
        view = cols.transpose(1, 0, 2)
    else:
        cols = buffer[:rows * m * pixels].reshape(rows, m * pixels)
        view = cols.reshape(rows, m, pixels)
    _native.im2col(x, chunk.start, m, kernel, stride, padding, dilation, view)
    return cols


@register("conv2d_forward", "native", floats=(0, 1))
def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """Per chunk: im2col, then out (m, G, C_out/G, Ho*Wo) = w_rows @ cols per sample
    (BLAS), or out_rows (G, C_out/G, m*Ho*Wo) = w_rows @ cols and swap01 moves out_rows,
    as (C_out, m, Ho*Wo), into out[chunk] (m, C_out, Ho*Wo): see _per_sample."""
    dtype = np.result_type(x, weight)
    x, weight = np.ascontiguousarray(x, dtype), np.ascontiguousarray(weight, dtype)
    n, c_out = x.shape[0], weight.shape[0]
    kernel = weight.shape[2:]
    out_h, out_w, rows, chunks, size = _conv_plan(x.shape, weight.shape, stride, padding,
                                                  dilation, dtype)
    plan = (_avx512_forward_plan(x.shape, c_out, kernel, stride, padding, dilation,
                                 (out_h, out_w))
            if stride[1] == 1 and _avx512(dtype, groups, x.shape, weight.shape,
                                          (out_h, out_w), padding)
            else None)
    if plan is not None:
        return _avx512_forward(x, weight, stride, padding, dilation,
                               np.empty((n, c_out, out_h, out_w), dtype), plan)
    pixels = out_h * out_w
    per_sample = _per_sample(rows, groups, pixels)
    w_rows = weight.reshape(groups, c_out // groups, rows // groups)
    out = np.empty((n, c_out, pixels), dtype)
    cols_buffer = workspace("cols", (rows * size * pixels,), dtype)
    out_rows_buffer = None if per_sample else workspace("rows", (c_out * size * pixels,),
                                                        dtype)
    for chunk in chunks:
        m = chunk.stop - chunk.start
        cols = _columns(x, chunk, kernel, stride, padding, dilation, rows, pixels, per_sample,
                        cols_buffer)
        if per_sample:
            np.matmul(w_rows, cols.reshape(m, groups, rows // groups, pixels),
                      out=out[chunk].reshape(m, groups, c_out // groups, pixels))
            continue
        out_rows = out_rows_buffer[:c_out * m * pixels].reshape(groups, c_out // groups,
                                                                m * pixels)
        _gemm(w_rows, cols.reshape(groups, rows // groups, m * pixels), out_rows)
        _native.swap01(out_rows.reshape(c_out, m, pixels), out[chunk])
    return out.reshape(n, c_out, out_h, out_w)


def _grad_rows(grad_out, chunk, groups, buffer):
    """grad_out[chunk] (m, C_out, Ho*Wo) moved to (G, C_out/G, m*Ho*Wo) in ``buffer``:
    row o holds output channel o's gradient over the columns of im2col."""
    m, c_out, pixels = chunk.stop - chunk.start, grad_out.shape[1], grad_out.shape[2]
    rows = buffer[:c_out * m * pixels].reshape(c_out, m, pixels)
    _native.swap01(grad_out[chunk], rows)
    return rows.reshape(groups, c_out // groups, m * pixels)


@register("conv2d_backward_input", "native", floats=(0, 1))
def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """On AVX-512 (float32, one group, stride 1, dilation 1): the forward of grad_out
    with the kernel read flipped. Else per chunk: grad_cols = w_rows^T @ grad_out per
    sample, or w_rows^T @ g_rows (G, C/G*kh*kw, m*Ho*Wo) over the chunk (BLAS, the
    transpose a flag of the GEMM, not a copy; see _per_sample), then col2im adds them
    into grad_x."""
    dtype = np.result_type(grad_out, weight)
    weight = np.ascontiguousarray(weight, dtype)
    n, c_out = x_shape[0], weight.shape[0]
    kernel = weight.shape[2:]
    out_h, out_w, rows, chunks, size = _conv_plan(x_shape, weight.shape, stride, padding,
                                                  dilation, dtype)
    (kh, kw), (ph, pw) = kernel, padding
    pad = (kh - 1 - ph, kw - 1 - pw)
    plan = None
    if (tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and min(pad) >= 0
            and _avx512(dtype, groups, x_shape, weight.shape, (out_h, out_w), padding)
            and _avx512(dtype, groups, (n, c_out, out_h, out_w), (x_shape[1], c_out, kh, kw),
                        x_shape[2:], pad)):
        plan = _avx512_forward_plan((n, c_out, out_h, out_w), x_shape[1], kernel, (1, 1), pad,
                                    (1, 1), x_shape[2:])
    if plan is not None:
        # grad_x = grad_out correlated with the flipped kernel, channels swapped, padded
        # by k - 1 - p: grad_x[n, c, i, j] = sum_{o,p,q} grad_out[n, o, i + ph - p,
        # j + pw - q] weight[o, c, p, q] (the kernel read flipped in place: transposed)
        return _avx512_forward(np.ascontiguousarray(grad_out, dtype), weight, (1, 1), pad,
                               (1, 1), np.empty(x_shape, dtype), plan, transposed=True)
    pixels = out_h * out_w
    per_sample = _per_sample(rows, groups, pixels)
    grad_out = np.ascontiguousarray(grad_out, dtype).reshape(n, c_out, pixels)
    w_cols = weight.reshape(groups, c_out // groups, rows // groups).transpose(0, 2, 1)
    grad_x = np.empty(x_shape, dtype)
    g_buffer = None if per_sample else workspace("rows", (c_out * size * pixels,), dtype)
    cols_buffer = workspace("cols", (rows * size * pixels,), dtype)
    for chunk in chunks:
        m = chunk.stop - chunk.start
        if per_sample:  # grad_cols (m, G, K/G, P) = w_cols @ grad_out[n], read in place
            grad_cols = cols_buffer[:rows * m * pixels].reshape(m, groups, rows // groups,
                                                                pixels)
            np.matmul(w_cols, grad_out[chunk].reshape(m, groups, c_out // groups, pixels),
                      out=grad_cols)
            grad_cols = grad_cols.reshape(m, rows, pixels).transpose(1, 0, 2)
        else:
            g_rows = _grad_rows(grad_out, chunk, groups, g_buffer)
            grad_cols = cols_buffer[:rows * m * pixels].reshape(groups, rows // groups,
                                                                m * pixels)
            _gemm(w_cols, g_rows, grad_cols)
            grad_cols = grad_cols.reshape(rows, m, pixels)
        _native.col2im(grad_cols, chunk.start, m, kernel, stride, padding, dilation, grad_x)
    return grad_x


@register("conv2d_backward_weight", "native", floats=(0, 1))
def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """On AVX-512 (float32, one group): csrc/conv_avx512.c, or csrc/winograd_avx512.c for
    a 3x3 kernel at stride 1, which write grad_w (C_out, C, kh, kw) themselves. Else
    grad_w = the sum over chunks of cols @ g_rows^T, or over samples of cols_n @
    grad_out[n]^T (see _per_sample), per group (C/G*kh*kw, C_out/G): the orientation
    BLAS runs fastest here (as in the reference), transposed at the end."""
    dtype = np.result_type(grad_out, x)
    x = np.ascontiguousarray(x, dtype)
    n, c_out = x.shape[0], weight_shape[0]
    kernel = weight_shape[2:]
    out_h, out_w, rows, chunks, size = _conv_plan(x.shape, weight_shape, stride, padding,
                                                  dilation, dtype)
    pixels = out_h * out_w
    grad_out = np.ascontiguousarray(grad_out, dtype).reshape(n, c_out, pixels)
    if _avx512(dtype, groups, x.shape, weight_shape, (out_h, out_w), padding):
        geometry = (x.shape, c_out, kernel, stride, padding, dilation, (out_h, out_w))
        winograd = _winograd(kernel, stride, dilation)
        chunk = _chunk(geometry, n, WINOGRAD_CHUNK_BYTES, True) if winograd else 0
        if chunk < 1:  # the direct tiles, also where one sample's Winograd buffers do not fit
            winograd, chunk = False, max(1, _chunk(geometry, n, AVX512_CHUNK_BYTES, False))
        floats = _native.conv_avx512_backward_weight_scratch(*geometry, chunk,
                                                             winograd=winograd)
        grad_w = np.empty(weight_shape, dtype)
        _native.conv_avx512_backward_weight(grad_out, x, kernel, stride, padding, dilation,
                                            (out_h, out_w), grad_w,
                                            workspace("cols", (floats,), dtype), chunk,
                                            winograd=winograd)
        return grad_w
    per_sample = _per_sample(rows, groups, pixels)
    grad_w = np.zeros((groups, rows // groups, c_out // groups), dtype)
    step = np.empty_like(grad_w) if len(chunks) > 1 else grad_w
    g_buffer = None if per_sample else workspace("rows", (c_out * size * pixels,), dtype)
    cols_buffer = workspace("cols", (rows * size * pixels,), dtype)
    for chunk in chunks:
        m = chunk.stop - chunk.start
        cols = _columns(x, chunk, kernel, stride, padding, dilation, rows, pixels, per_sample,
                        cols_buffer)
        if per_sample:  # sum over n of cols_n @ grad_out[n]^T, grad_out read in place
            g = grad_out[chunk].reshape(m, groups, c_out // groups, pixels)
            grad_w += np.matmul(cols.reshape(m, groups, rows // groups, pixels),
                                g.transpose(0, 1, 3, 2)).sum(axis=0)
            continue
        g_rows = _grad_rows(grad_out, chunk, groups, g_buffer)
        _gemm(cols.reshape(groups, rows // groups, m * pixels), g_rows.transpose(0, 2, 1), step)
        if step is not grad_w:
            grad_w += step
    return np.ascontiguousarray(grad_w.transpose(0, 2, 1)).reshape(weight_shape)


# ----------------------------------------------------------------- embedding and hinge


@register("embedding_scores", "native", floats=(0, 1))
def embedding_scores(f, g, paired=False):
    """S = f @ g.T through numpy's BLAS, or (paired) the row dot products, one row per
    task."""
    dtype = np.result_type(f, g)
    if not paired:
        return np.matmul(f.astype(dtype, copy=False), g.astype(dtype, copy=False).T)
    f, g = np.ascontiguousarray(f, dtype), np.ascontiguousarray(g, dtype)
    out = np.empty(f.shape[0], dtype)
    _native.paired_scores(f, g, out)
    return out


@register("hinge_max_forward", "native", floats=(0,))
def hinge_max_forward(scores, target, margin):
    """(loss, negative): one pass over each row of the scores, one row per task."""
    dtype = scores.dtype
    scores = np.ascontiguousarray(scores, dtype)
    target = np.ascontiguousarray(target, np.int64)
    loss = np.empty(scores.shape[0], dtype)
    negative = np.empty(scores.shape[0], np.int64)
    _native.hinge_max_forward(scores, target, float(margin), loss, negative)
    return loss, negative


@register("embedding_hinge_max_forward", "native", floats=(0, 1))
def embedding_hinge_max_forward(f, g, target, margin):
    """(loss, negative) from the embeddings. Float32 on a CPU with AVX-512F: fused with
    the score GEMM (csrc/hinge_avx512.c), each register tile of S folded into running
    maxima as it is computed, S never formed (bench/hinge_memory.py: 0 MB of peak growth
    against 314 MB for numba's composition at N 4096 D 64 C 20000, and half its time).
    Else BLAS's GEMM, then the scan."""
    dtype = np.result_type(f, g)
    n, classes, dim = f.shape[0], g.shape[0], f.shape[1]
    target = np.ascontiguousarray(target, np.int64)
    if not (_HAS_AVX512 and dtype == np.float32 and n and classes >= 2 and dim
            and 16 * dim < 2**31 and classes < 2**31):  # 32-bit offsets and classes
        return hinge_max_forward.unchecked(embedding_scores.unchecked(f, g), target, margin)
    f, g = np.ascontiguousarray(f, dtype), np.ascontiguousarray(g, dtype)
    loss, negative = np.empty(n, dtype), np.empty(n, np.int64)
    floats = _native.hinge_forward_avx512_scratch(n, classes, dim)
    _native.hinge_forward_avx512(f, g, target, float(margin), loss, negative,
                                 workspace("cols", (floats,), dtype))
    return loss, negative


@register("hinge_max_backward", "native", floats=(0, 1, 4))
def hinge_max_backward(f, g, target, negative, weight):
    """(grad_f, grad_g) of the fused sparse backward, O(N*D); grad_g's rows are summed
    one class per task over the samples that touch it (deterministic, no atomics)."""
    dtype = np.result_type(f, g, weight)
    result_dtype = np.result_type(weight.dtype, g.dtype)  # the reference's, if f is wider
    f, g = np.ascontiguousarray(f, dtype), np.ascontiguousarray(g, dtype)
    weight = np.ascontiguousarray(weight, dtype)
    target = np.ascontiguousarray(target, np.int64)
    negative = np.ascontiguousarray(negative, np.int64)
    grad_f = np.empty(f.shape, dtype)
    grad_g = np.empty(g.shape, dtype)
    _native.hinge_max_backward(f, g, target, negative, weight, grad_f, grad_g)
    return grad_f.astype(result_dtype, copy=False), grad_g.astype(result_dtype, copy=False)
