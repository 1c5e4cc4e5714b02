"""The compiled Cython module (csrc/_native.pyx -> tlcore._native) as a kernel backend.

Only this module and routes.py (its choice among the compiled routes) import
tlcore._native. If the extension was not built (no compiler
at install time), importing this module fails and the registry lists no "native"
backend.

The split of the work: the GEMMs (the convolution's three, the score matrix F @ G.T)
go to numpy's BLAS; the compiled module does the loops around them, in parallel
(OpenMP) and without temporaries: im2col writes the GEMM's columns directly, col2im adds
them back into the input planes, swap01 moves a GEMM result into NCHW order; max pooling,
the hinge-max loss and its sparse backward, and gradient reversal are whole kernels.
Float32 convolution with one group and enough input channels is a whole kernel too,
on the compiled route the CPU runs (csrc/conv.c and csrc/winograd.c, built for AVX-512F,
AVX2+FMA or the baseline's vectors; routes.py says which, why and when), and so are the
hinge-max forward from the embeddings (csrc/hinge.c) and, in float32 and float64, max
pooling (csrc/pool.c) and the hinge's sparse backward (csrc/hinge_backward.c).

Layouts and dtypes: the compiled loops take C-contiguous float32 or float64 arrays.
Every array argument is passed through ``np.ascontiguousarray`` in the dtype numpy's
promotion gives the float arguments (the documented contiguous copy: free for an
array that already is one); a call with another dtype runs the numpy backend (the
registry's ``floats``). Index arrays (argmax, target, negative) go through as contiguous
int64. Every kernel here is registered behind its validator (validate.py): the shapes,
the geometry and the range of every index are checked before the compiled loops, which
trust them, run.
"""

import numpy as np

from tlcore.kernels.backends import numpy_fast, threads
from tlcore.kernels.backends.layout import finish, flat_in_out, flat_pair, workspace
from tlcore.kernels.geometry import conv2d_chunks, pool2d_output_size
from tlcore.kernels.registry import register

threads.apply()  # before tlcore._native loads its OpenMP runtime, however this is imported
from tlcore import _native  # noqa: E402
from tlcore.kernels.backends import routes as route  # noqa: E402

openmp_enabled = _native.openmp_enabled
max_threads = _native.max_threads


def team_size():
    """The threads of the routes' own team (csrc/team.h)."""
    return _native.team()[0]

# On an OpenMP runtime whose idle workers spin (the default, which PyTorch, sharing the
# runtime, needs), every loop runs on the calling thread: see threads.py.
_native.set_parallel_min_work(threads.parallel_min_work())
# The routes' kernels run on tlcore's own team of threads, which sleep when idle.
_native.set_team(threads.team_size(), threads.PARALLEL_MIN_WORK)

# The im2col columns of one chunk of samples, at most. Smaller than numpy_fast's 32 MiB:
# a chunk's columns, written by im2col and read at once by the GEMM, then stay in cache.
CONV2D_CHUNK_BYTES = 8 * 2**20


@register("grad_reverse_backward", "native", floats=(0,))
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out (OpenMP prange over a flat contiguous copy of
    ``grad`` when it is not contiguous)."""
    flat, dst, result = flat_in_out(grad, out)
    _native.scale(flat, -lambda_, dst)
    return finish(result, out)


# ------------------------------------------------------------------ the update's axpy


@register("axpy", "native", floats=(1, 2))
def axpy(alpha, x, y):
    """y += alpha * x in one pass over flat buffers (OpenMP prange); where y is not
    contiguous, or x overlaps it, the numpy backend (layout.flat_pair)."""
    pair = flat_pair(x, y)
    if pair is None:
        return numpy_fast.axpy.unchecked(alpha, x, y)
    _native.axpy(alpha, *pair)
    return y


# ----------------------------------------------------------------------------- pooling


@register("maxpool2d_forward", "native", floats=(0,))
def maxpool2d_forward(x, kernel, stride, padding):
    """(out, argmax) of max pooling, one plane per task; the contract and the tie-break
    (first real element in row-major window order, strict >) are reference.py's. The
    2x2 window at stride 2 without padding on the compiled route (csrc/pool.c: tlcore's
    own team of threads, whatever the OpenMP runtime does), any other here."""
    dtype = x.dtype
    x = np.ascontiguousarray(x, dtype)
    out_h, out_w = pool2d_output_size(x.shape[2:], kernel, stride, padding)
    out = np.empty(x.shape[:2] + (out_h, out_w), dtype)
    argmax = np.empty(out.shape, np.int64)
    if route.ROUTE is not None and (tuple(kernel), tuple(stride), tuple(padding)) == (
            (2, 2), (2, 2), (0, 0)):
        _native.maxpool2x2_forward_route(route.ROUTE["index"], x, out, argmax)
    else:
        _native.maxpool2d_forward(x, kernel, stride, padding, out, argmax)
    return out, argmax


@register("maxpool2d_backward", "native", floats=(0,))
def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax] += grad_out, one plane per task (adds in order); on the
    compiled route, the planes shared out to tlcore's own team (csrc/pool.c)."""
    dtype = grad_out.dtype
    grad_out = np.ascontiguousarray(grad_out, dtype)
    argmax = np.ascontiguousarray(argmax, np.int64)
    grad_x = np.empty(x_shape, dtype)
    if route.ROUTE is not None:
        _native.maxpool_backward_route(route.ROUTE["index"], grad_out, argmax, grad_x)
    else:
        _native.maxpool2d_backward(grad_out, argmax, grad_x)
    return grad_x


# ----------------------------------------------------------------------------- conv2d
# Which way a call goes, im2col and BLAS or a compiled route's tiles (the route, the
# switches and the thresholds), is routes.py's choice; both run here.


def _tiles_forward(x, weight, stride, padding, dilation, out, plan, transposed=False):
    """out = the forward of x by weight (read flipped where transposed) on the compiled
    route, as routes.forward_plan chose."""
    _native.conv_tiles_forward(route.ROUTE["index"], x, weight, stride, padding, dilation,
                               out, workspace("cols", (plan.floats,), np.float32),
                               transposed=transposed, winograd=plan.winograd)
    return out


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
    plan = (route.forward_plan(x.shape, c_out, kernel, stride, padding, dilation,
                               (out_h, out_w))
            if stride[1] == 1 and route.takes_tiles(dtype, groups, x.shape, weight.shape,
                                                    (out_h, out_w), padding)
            else None)
    if plan is not None:
        return _tiles_forward(x, weight, stride, padding, dilation,
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
    """On a compiled route (float32, one group, stride 1, dilation 1): the forward of grad_out
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
            and route.takes_tiles(dtype, groups, x_shape, weight.shape, (out_h, out_w),
                                  padding)
            and route.takes_tiles(dtype, groups, (n, c_out, out_h, out_w),
                                  (x_shape[1], c_out, kh, kw), x_shape[2:], pad, thin=True)):
        plan = route.forward_plan((n, c_out, out_h, out_w), x_shape[1], kernel, (1, 1), pad,
                                    (1, 1), x_shape[2:])
    if plan is not None:
        # grad_x = grad_out correlated with the flipped kernel, channels swapped, padded
        # by k - 1 - p: grad_x[n, c, i, j] = sum_{o,p,q} grad_out[n, o, i + ph - p,
        # j + pw - q] weight[o, c, p, q] (the kernel read flipped in place: transposed)
        return _tiles_forward(np.ascontiguousarray(grad_out, dtype), weight, (1, 1), pad,
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
    """On a compiled route (float32, one group): csrc/conv.c, or csrc/winograd.c for a
    3x3 kernel at stride 1, which write grad_w (C_out, C, kh, kw) themselves. Else
    grad_w = the sum over chunks of cols @ g_rows^T, or over samples of cols_n @
    grad_out[n]^T (see _per_sample), per group (C/G*kh*kw, C_out/G): the orientation
    BLAS runs fastest here (as in numpy_fast.py), transposed at the end."""
    dtype = np.result_type(grad_out, x)
    x = np.ascontiguousarray(x, dtype)
    n, c_out = x.shape[0], weight_shape[0]
    kernel = weight_shape[2:]
    out_h, out_w, rows, chunks, size = _conv_plan(x.shape, weight_shape, stride, padding,
                                                  dilation, dtype)
    pixels = out_h * out_w
    grad_out = np.ascontiguousarray(grad_out, dtype).reshape(n, c_out, pixels)
    if route.takes_tiles(dtype, groups, x.shape, weight_shape, (out_h, out_w), padding):
        geometry = (x.shape, c_out, kernel, stride, padding, dilation, (out_h, out_w))
        winograd = route.takes_winograd(kernel, stride, dilation)
        chunk = (route.samples_per_chunk(geometry, n, route.WINOGRAD_CHUNK_BYTES, True)
                 if winograd else 0)
        if chunk < 1:  # the direct tiles, also where one sample's Winograd buffers do not fit
            winograd = False
            chunk = max(1, route.samples_per_chunk(geometry, n, route.CHUNK_BYTES, False))
        index = route.ROUTE["index"]
        floats = _native.conv_tiles_backward_weight_scratch(index, *geometry, chunk,
                                                            winograd=winograd)
        grad_w = np.empty(weight_shape, dtype)
        _native.conv_tiles_backward_weight(index, grad_out, x, kernel, stride, padding,
                                           dilation, (out_h, out_w), grad_w,
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
    """(loss, negative) from the embeddings. Float32 on a compiled route, with
    routes.MIN_HINGE_CLASSES classes or more: fused with the score GEMM (csrc/hinge.c),
    each register tile of S folded into running maxima as it is computed, S never formed
    (bench/hinge_memory.py: 0 MB of peak growth against 314 MB for numba's composition
    at N 4096 D 64 C 20000, and half its time). Else BLAS's GEMM, then the scan."""
    dtype = np.result_type(f, g)
    n, classes, dim = f.shape[0], g.shape[0], f.shape[1]
    target = np.ascontiguousarray(target, np.int64)
    if not route.takes_fused_hinge(dtype, n, classes, dim):
        return hinge_max_forward.unchecked(embedding_scores.unchecked(f, g), target, margin)
    f, g = np.ascontiguousarray(f, dtype), np.ascontiguousarray(g, dtype)
    loss, negative = np.empty(n, dtype), np.empty(n, np.int64)
    index = route.ROUTE["index"]
    floats = _native.hinge_fused_scratch(index, n, classes, dim)
    _native.hinge_fused_forward(index, f, g, target, float(margin), loss, negative,
                                workspace("cols", (floats,), dtype))
    return loss, negative


@register("hinge_max_backward", "native", floats=(0, 1, 4))
def hinge_max_backward(f, g, target, negative, weight):
    """(grad_f, grad_g) of the fused sparse backward, O(N*D); grad_g's rows are summed
    one class per task over the samples that touch it (deterministic, no atomics): on the
    route's team of threads (csrc/hinge_backward.c), or without a route in Cython's
    loops."""
    dtype = np.result_type(f, g, weight)
    result_dtype = np.result_type(weight.dtype, g.dtype)  # the reference's, if f is wider
    f, g = np.ascontiguousarray(f, dtype), np.ascontiguousarray(g, dtype)
    weight = np.ascontiguousarray(weight, dtype)
    target = np.ascontiguousarray(target, np.int64)
    negative = np.ascontiguousarray(negative, np.int64)
    grad_f = np.empty(f.shape, dtype)
    grad_g = np.empty(g.shape, dtype)
    if route.ROUTE is not None:
        _native.hinge_max_backward_route(route.ROUTE["index"], f, g, target, negative, weight,
                                         grad_f, grad_g)
    else:
        _native.hinge_max_backward(f, g, target, negative, weight, grad_f, grad_g)
    return grad_f.astype(result_dtype, copy=False), grad_g.astype(result_dtype, copy=False)
