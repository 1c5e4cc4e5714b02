"""The GPU kernels: CUDA C++ (kernels/backends/cuda_sources.py) through cupy, GEMMs by cuBLAS.

Only this module and backend.py import cupy; the registry imports this module the
first time a kernel is asked for cupy arrays, never at ``import tlcore``. The CUDA
sources are compiled on first use (NVRTC, one cupy.RawModule for every raw kernel in
float and double; cupy caches the binary on disk) and the kernel objects are kept.

Each kernel follows the contract of its numpy twin in reference.py (same arguments,
results, dtypes, tie-breaks) on cupy arrays in and out; numpy arrays given beside them
(a target, an argmax) are copied to the GPU. Layout: the raw kernels read C-contiguous
buffers, so a non-contiguous input is first copied by cupy.ascontiguousarray.
Dtypes: float32 and float64 (the instances compiled); any other gets a TypeError.
Subnormals: CuPy compiles every kernel with -ftz=true, so a float32 result smaller than
the smallest normal number (1.2e-38) is 0 on the GPU, as in cupy's own arithmetic.

Where the work goes, per op (see cuda_sources.py for the kernels themselves):

* conv2d: im2col (one thread per column entry) + cupy.matmul per group, the three
  products of reference.py; the input gradient goes back by col2im as a gather (one
  thread per input pixel, no atomics). Samples go in chunks whose columns take at most
  CONV2D_CHUNK_BYTES of GPU memory.
* max-pool: one thread per output scans its window (first maximum wins); the backward
  scatters with atomicAdd (the contract passes no window geometry): bit-for-bit
  repeatable unless windows overlap so much that one element is the maximum of three
  or more of them (cuda_sources.py says when).
* embedding_scores: cupy.matmul, or a ReductionKernel for the paired dot products.
* hinge-max forward: one block of 128 threads per row (arg-max over the other classes,
  first index on a tie, then the hinge). Backward: grad_f by one thread per element;
  grad_g, a scatter-add of 2N rows, is made deterministic by sorting instead of
  atomics: the 2N contributions are sorted by class with cupy.argsort (a stable sort:
  within a class they keep their positions, so every run gives the same order), bounded
  per class by cupy.searchsorted, and one thread per element of grad_g sums its class's
  contributions in sample order. Same bits at every run, O(N log N + (N + C) * D).
* grad_reverse: an ElementwiseKernel, -lambda * grad, in place when ``out`` is ``grad``.
* axpy: an ElementwiseKernel, y += alpha * x in place.

Arguments: every kernel here is registered behind its validator (validate.py), as on
the CPU: shapes, dtypes, geometry, and the range of an index array (argmax, target,
negative) given as a numpy array. No kernel copies data to the host or synchronises,
so the range of an index array already on the GPU is not read back: the raw kernels
never index outside an array with it, a bad one gives a NaN instead (a class index
outside [0, C): the loss and grad_f; an argmax outside its plane: the plane's first
element of grad_x).
"""

import functools

import cupy
import numpy as np

from tlcore.kernels.backends import cuda_sources
from tlcore.kernels.geometry import conv2d_chunks, pool2d_output_size
from tlcore.kernels.registry import register

CONV2D_CHUNK_BYTES = 256 * 2**20  # the im2col columns of one chunk of samples, at most
THREADS = 256  # threads per block of the element-wise raw kernels
MAX_BLOCKS = 2**20  # the grid-stride loops cover any size with at most this many blocks


# ------------------------------------------------------------------------ compilation


@functools.lru_cache(maxsize=None)
def _module():
    """Every raw kernel, float and double, in one module compiled on first use."""
    return cupy.RawModule(code=cuda_sources.RAW_SOURCE,
                          name_expressions=cuda_sources.all_name_expressions())


@functools.lru_cache(maxsize=None)
def _function(kernel, dtype):
    return _module().get_function(cuda_sources.name_expression(kernel, dtype))


@functools.lru_cache(maxsize=None)
def _elementwise(name):
    in_params, out_params, operation, kernel_name = cuda_sources.ELEMENTWISE[name]
    return cupy.ElementwiseKernel(in_params, out_params, operation, kernel_name)


@functools.lru_cache(maxsize=None)
def _reduction(name):
    in_params, out_params, map_expr, reduce_expr, post_map, identity, kernel_name = \
        cuda_sources.REDUCTION[name]
    return cupy.ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map,
                                identity, kernel_name)


def _launch(kernel, dtype, total, arrays, sizes):
    """Run a grid-stride raw kernel over ``total`` elements: ``arrays`` (device arrays
    and typed scalars) then ``sizes`` (ints, passed as C long long)."""
    if total == 0:
        return
    blocks = min(-(-total // THREADS), MAX_BLOCKS)
    args = tuple(arrays) + tuple(np.int64(size) for size in sizes)
    _function(kernel, dtype)((blocks,), (THREADS,), args)


def _float_dtype(name, dtype):
    """The dtype, if the raw kernels were compiled for it (float32, float64)."""
    dtype = np.dtype(dtype)
    if dtype.name not in cuda_sources.DTYPES:
        raise TypeError(f"{name} must be float32 or float64 for the cupy kernels, got {dtype}")
    return dtype


def _contiguous(array, dtype):
    """A C-contiguous cupy array of ``dtype`` (a copy only where needed; a numpy array
    is copied to the GPU)."""
    return cupy.ascontiguousarray(cupy.asarray(array, dtype=dtype))


# ------------------------------------------------------------------- gradient reversal


@register("grad_reverse_backward", "cupy")
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out, -lambda cast to grad's dtype (the reference's
    np.multiply(..., dtype=grad.dtype)); ``out`` may be ``grad`` itself."""
    scale = grad.dtype.type(-lambda_)
    kernel = _elementwise("grad_reverse")
    if out is None:
        return kernel(grad, scale)
    kernel(grad, scale, out)  # out has grad's shape and dtype (validate.py)
    return out


# ------------------------------------------------------------------ the update's axpy


@register("axpy", "cupy")
def axpy(alpha, x, y):
    """y += alpha * x in place, one elementwise kernel (alpha cast to y's dtype)."""
    _elementwise("axpy")(x, y.dtype.type(alpha), y)
    return y


# -------------------------------------------------------------------- embedding scores


@register("embedding_scores", "cupy")
def embedding_scores(f, g, paired=False):
    """S = f @ g.T by cuBLAS; paired=True: the N row dot products by a ReductionKernel
    (sum over axis 1 of f * g, no (N, D) temporary)."""
    if not paired:
        return cupy.matmul(f, g.T)
    dtype = np.result_type(f.dtype, g.dtype)
    return _reduction("paired_dot")(f.astype(dtype, copy=False), g.astype(dtype, copy=False),
                                    axis=1)


@register("hinge_max_forward", "cupy")
def hinge_max_forward(scores, target, margin):
    """loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c]) and that arg-max
    (first index on a tie), one block per row."""
    rows, classes = scores.shape
    dtype = _float_dtype("scores", scores.dtype)
    target = _contiguous(target, np.int64)
    scores = cupy.ascontiguousarray(scores)
    loss = cupy.empty(rows, dtype)
    negative = cupy.empty(rows, np.int64)
    if rows:
        blocks = min(rows, MAX_BLOCKS)
        _function("tlcore_hinge_max_forward", dtype)(
            (blocks,), (cuda_sources.HINGE_BLOCK,),
            (scores, target, dtype.type(margin), loss, negative, np.int64(rows),
             np.int64(classes)))
    return loss, negative


@register("embedding_hinge_max_forward", "cupy")
def embedding_hinge_max_forward(f, g, target, margin):
    """hinge_max_forward(embedding_scores(f, g), ...): cuBLAS's GEMM, then the scan."""
    return hinge_max_forward.unchecked(embedding_scores.unchecked(f, g), target, margin)


@register("hinge_max_backward", "cupy")
def hinge_max_backward(f, g, target, negative, weight):
    """grad_f[n] = w (g[m] - g[y]) and grad_g by a sorted, deterministic segmented sum
    (see the module docstring). Computed in the dtype of f, g and weight together;
    returned in the reference's, that of ``weight * g``."""
    rows, dim = f.shape
    classes = g.shape[0]
    target = _contiguous(target, np.int64)
    negative = _contiguous(negative, np.int64)
    out_dtype = np.result_type(weight.dtype, g.dtype)
    dtype = _float_dtype("f, g and weight", np.result_type(out_dtype, f.dtype))
    f, g, weight = (_contiguous(a, dtype) for a in (f, g, weight))

    grad_f = cupy.empty((rows, dim), dtype)
    _launch("tlcore_hinge_max_backward_f", dtype, rows * dim,
            (g, target, negative, weight, grad_f), (rows, classes, dim))

    # contribution k < N: +w f[k] to row negative[k]; k = N + n: -w f[n] to row target[n]
    class_of = cupy.concatenate((negative, target))
    order = cupy.argsort(class_of).astype(np.int64, copy=False)  # stable
    bounds = cupy.searchsorted(class_of[order], cupy.arange(classes + 1, dtype=np.int64))
    bounds = bounds.astype(np.int64, copy=False)
    grad_g = cupy.empty((classes, dim), dtype)
    _launch("tlcore_hinge_max_backward_g", dtype, classes * dim,
            (f, weight, order, bounds, grad_g), (rows, classes, dim))
    return grad_f.astype(out_dtype, copy=False), grad_g.astype(out_dtype, copy=False)


# ----------------------------------------------------------------------------- pooling


@register("maxpool2d_forward", "cupy")
def maxpool2d_forward(x, kernel, stride, padding):
    """(out, argmax) with PyTorch's return_indices, one thread per output; see
    reference.maxpool2d_forward for the contract and the tie-break."""
    dtype = _float_dtype("x", x.dtype)
    n, c, height, width = x.shape
    out_h, out_w = pool2d_output_size((height, width), kernel, stride, padding)
    x = cupy.ascontiguousarray(x)
    out = cupy.empty((n, c, out_h, out_w), dtype)
    argmax = cupy.empty((n, c, out_h, out_w), np.int64)
    _launch("tlcore_maxpool2d_forward", dtype, out.size, (x, out, argmax),
            (n * c, height, width, *kernel, *stride, *padding, out_h, out_w))
    return out, argmax


@register("maxpool2d_backward", "cupy")
def maxpool2d_backward(grad_out, argmax, x_shape):
    """grad_x[n, c].flat[argmax] += grad_out by atomicAdd into zeros."""
    dtype = _float_dtype("grad_out", grad_out.dtype)
    n, c, height, width = x_shape
    grad_out = cupy.ascontiguousarray(grad_out)
    argmax = _contiguous(argmax, np.int64)
    grad_x = cupy.zeros(x_shape, dtype)
    _launch("tlcore_maxpool2d_backward", dtype, grad_out.size, (grad_out, argmax, grad_x),
            (n * c, height * width, grad_out.shape[2] * grad_out.shape[3]))
    return grad_x


# ----------------------------------------------------------------------------- conv2d
# The layout of numpy_fast.py, with the copies done by raw kernels:
#   cols    (C*kh*kw, m*P)   cols[(c, p, q), n*P + i*Wo + j] = xpad[n, c, i*sh + p*dh,
#                            j*sw + q*dw]   (P = Ho*Wo; padding by bounds, no xpad)
#   g_rows  (C_out, m*P)     grad_out moved to channel-major, the column order of cols
#   forward     out_rows  = w_rows @ cols      (per group), then moved to (m, C_out, P)
#   weight      grad_w   += g_rows @ cols^T    (per group), summed over the chunks
#   input       grad_cols = w_rows^T @ g_rows  (per group), then col2im


def _conv_plan(x_shape, kernel, stride, padding, dilation, dtype):
    """(out_h, out_w, chunk size, [(start, m), ...]) of the sample chunks."""
    out_h, out_w, chunks, size = conv2d_chunks(x_shape, kernel, stride, padding, dilation,
                                               dtype, CONV2D_CHUNK_BYTES)
    return out_h, out_w, size, [(c.start, c.stop - c.start) for c in chunks]


def _geometry(kernel, stride, padding, dilation, out_h, out_w):
    return (*kernel, *stride, *padding, *dilation, out_h, out_w)


def _im2col(x, start, m, kernel, stride, padding, dilation, out_h, out_w, buffer):
    """The columns (C*kh*kw, m*P) of samples start..start+m of x, in ``buffer``."""
    _, c_in, height, width = x.shape
    cols = buffer[:c_in * kernel[0] * kernel[1] * m * out_h * out_w]
    cols = cols.reshape(c_in * kernel[0] * kernel[1], m * out_h * out_w)
    _launch("tlcore_im2col", x.dtype, cols.size, (x[start:start + m], cols),
            (m, c_in, height, width) + _geometry(kernel, stride, padding, dilation, out_h,
                                                 out_w))
    return cols


def _channel_rows(grad_out, start, m, groups):
    """grad_out[start:start+m] (m, C_out, P) as g_rows (G, C_out/G, m*P)."""
    c_out, pixels = grad_out.shape[1], grad_out.shape[2]
    rows = cupy.ascontiguousarray(grad_out[start:start + m].transpose(1, 0, 2))
    return rows.reshape(groups, c_out // groups, m * pixels)


@register("conv2d_forward", "cupy")
def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """out = w_rows @ cols per group and chunk (cuBLAS) after an im2col kernel; see
    reference.conv2d_forward."""
    dtype = _float_dtype("x and weight", np.result_type(x.dtype, weight.dtype))
    x = cupy.ascontiguousarray(x, dtype=dtype)
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w, size, chunks = _conv_plan(x.shape, (kh, kw), stride, padding, dilation,
                                            dtype)
    pixels = out_h * out_w
    w_rows = cupy.ascontiguousarray(weight, dtype=dtype).reshape(groups, c_out // groups, -1)
    out = cupy.empty((x.shape[0], c_out, pixels), dtype)
    buffer = cupy.empty(x.shape[1] * kh * kw * size * pixels, dtype)
    for start, m in chunks:
        cols = _im2col(x, start, m, (kh, kw), stride, padding, dilation, out_h, out_w, buffer)
        out_rows = cupy.matmul(w_rows, cols.reshape(groups, -1, m * pixels))
        out[start:start + m] = out_rows.reshape(c_out, m, pixels).transpose(1, 0, 2)
    return out.reshape(x.shape[0], c_out, out_h, out_w)


@register("conv2d_backward_weight", "cupy")
def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """grad_w = sum over chunks of g_rows @ cols^T per group (cuBLAS); see
    reference.conv2d_backward_weight."""
    dtype = _float_dtype("grad_out and x", np.result_type(grad_out.dtype, x.dtype))
    x = cupy.ascontiguousarray(x, dtype=dtype)
    c_out, c_group, kh, kw = weight_shape
    out_h, out_w, size, chunks = _conv_plan(x.shape, (kh, kw), stride, padding, dilation,
                                            dtype)
    pixels = out_h * out_w
    g = grad_out.astype(dtype, copy=False).reshape(x.shape[0], c_out, pixels)
    buffer = cupy.empty(x.shape[1] * kh * kw * size * pixels, dtype)
    grad_w = cupy.zeros((groups, c_out // groups, c_group * kh * kw), dtype)
    for start, m in chunks:
        cols = _im2col(x, start, m, (kh, kw), stride, padding, dilation, out_h, out_w, buffer)
        g_rows = _channel_rows(g, start, m, groups)
        grad_w += cupy.matmul(g_rows, cols.reshape(groups, -1, m * pixels).transpose(0, 2, 1))
    return grad_w.reshape(weight_shape)


@register("conv2d_backward_input", "cupy")
def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """grad_cols = w_rows^T @ g_rows per group and chunk (cuBLAS), then col2im, a
    gather into each input pixel; see reference.conv2d_backward_input."""
    dtype = _float_dtype("grad_out and weight", np.result_type(grad_out.dtype, weight.dtype))
    n, c_in, height, width = x_shape
    c_out, c_group, kh, kw = weight.shape
    out_h, out_w, _, chunks = _conv_plan(x_shape, (kh, kw), stride, padding, dilation, dtype)
    pixels = out_h * out_w
    w_cols = cupy.ascontiguousarray(weight, dtype=dtype).reshape(groups, c_out // groups, -1)
    w_cols = w_cols.transpose(0, 2, 1)  # (G, C/G*kh*kw, C_out/G)
    g = grad_out.astype(dtype, copy=False).reshape(n, c_out, pixels)
    grad_x = cupy.empty(x_shape, dtype)
    for start, m in chunks:
        grad_cols = cupy.ascontiguousarray(cupy.matmul(w_cols, _channel_rows(g, start, m,
                                                                              groups)))
        _launch("tlcore_col2im", dtype, m * c_in * height * width,
                (grad_cols, grad_x[start:start + m]),
                (m, c_in, height, width) + _geometry((kh, kw), stride, padding, dilation,
                                                     out_h, out_w))
    return grad_x
