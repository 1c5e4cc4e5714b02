# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""tlcore._native: compiled CPU kernels (Cython, nogil, OpenMP prange).

Typed memoryviews over float32 or float64 (one fused type, ``real``: every floating
argument of one call must have the same dtype), the GIL released, and OpenMP threads
where the compiler supported -fopenmp when setup.py built this module.

Most GEMMs are not here: the wrapper, tlcore/kernels/backends/native.py, runs them through
numpy's BLAS. This module does everything around them, the loops that numpy would run
single-threaded or through temporaries: im2col / col2im, the axis swaps that put GEMM
results in NCHW order, max pooling with its argmax, the hinge-max loss and its sparse
backward, and gradient reversal. The exceptions, in float32, are the compiled routes'
kernels (csrc/routes.h: one source built for AVX-512F, AVX2+FMA and the baseline's
vectors, chosen by the wrapper among those this CPU runs): convolution (the forward at
column stride 1, and the weight gradient), done whole by csrc/conv.c's register tiles
or, for a 3x3 kernel at stride 1, by Winograd's F(2x2, 3x3) and F(3x3, 2x2) in
csrc/winograd.c (conv_tiles_*, winograd=True), and the hinge-max forward fused with its
score GEMM, csrc/hinge.c (hinge_fused_forward); and in float32 and float64 max pooling,
csrc/pool.c (maxpool*_route), and the hinge's sparse backward, csrc/hinge_backward.c
(hinge_max_backward_route).

Every parallel loop gives each thread whole rows or planes of the OUTPUT, so no two
threads write the same element: no atomics, and every result is deterministic (the same
bits at any number of threads). Arrays arrive C-contiguous with the shapes checked by
the wrapper (im2col and col2im take views whose last axis alone must be contiguous);
only the sizes that could write out of bounds are checked again here.

Scheduling: the loops here are "guided", so that on a busy 2-core machine a thread the
OS has not scheduled yet does not hold back a fixed half of the loop. The compiled
routes' loops over whole blocks (samples, blocks of rows, register tiles) run on
tlcore's own team (csrc/team.h) and share them out one block at a time, OpenMP's
"dynamic": guided hands the first thread to arrive half of the loop at once, which
that thread then holds even if its core turns out slower (measured in one process on the
2-core machine, with the schedule switched per call: bench/kernels.py's hinge step at N
4096 D 256 C 1000 1.00 to 1.23x faster dynamic over five runs, the convolutions within
3% either way). Whether idle OpenMP threads spin or sleep between loops is
OMP_WAIT_POLICY, which libgomp reads when it loads, for every library in the process:
where they spin (the default), the engine's threading policy runs these loops on the
calling thread (set_parallel_min_work; kernels/backends/threads.py).
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.math cimport INFINITY, NAN
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int tl_openmp_enabled(void) { return 1; }
    static int tl_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int tl_openmp_enabled(void) { return 0; }
    static int tl_max_threads(void) { return 1; }
    #endif
    """
    int tl_openmp_enabled() nogil
    int tl_max_threads() nogil

ctypedef fused real:
    float
    double


def openmp_enabled():
    """True if this module was compiled with OpenMP."""
    return bool(tl_openmp_enabled())


def max_threads():
    """The number of OpenMP threads a parallel loop may use (1 without OpenMP)."""
    return tl_max_threads()


# Waking and parking the OpenMP threads of a parallel region costs about 15 us (measured on
# 2 cores, OMP_WAIT_POLICY=PASSIVE): more than a small loop's whole work. A loop over
# fewer elements than this runs on the calling thread alone. tlcore/kernels/backends/native.py
# sets it from tlcore.kernels.backends.threads.PARALLEL_MIN_WORK.
cdef Py_ssize_t parallel_min_work = 32768


def set_parallel_min_work(Py_ssize_t elements):
    """Loops over fewer than ``elements`` elements run on one thread. Returns the value
    it replaces."""
    global parallel_min_work
    previous = parallel_min_work
    parallel_min_work = elements
    return previous


cdef inline int _threads(Py_ssize_t work) noexcept nogil:
    return 1 if work < parallel_min_work else tl_max_threads()


# The compiled routes' kernels run on tlcore's own team of threads (csrc/team.h), not on
# OpenMP's: its size, and the fewest elements for which a kernel uses more than the
# calling thread (native.py sets both from threads.py).
cdef int team_size = 1
cdef Py_ssize_t team_min_work = 32768


def set_team(int size, Py_ssize_t min_work):
    """The routes' kernels run on ``size`` threads from ``min_work`` elements, on the
    calling thread alone below. Returns the (size, min_work) it replaces."""
    global team_size, team_min_work
    _check(size >= 1, f"set_team: size must be >= 1, got {size}")
    previous = (team_size, team_min_work)
    team_size, team_min_work = size, min_work
    return previous


def team():
    """(size, min_work) of the routes' team: see set_team."""
    return team_size, team_min_work


def team_workers():
    """The worker threads the team has started so far (none before a kernel needs them)."""
    return tl_team_workers()


cdef inline int _team_threads(Py_ssize_t work) noexcept nogil:
    return 1 if work < team_min_work else team_size


cdef _check(bint ok, str message):
    if not ok:
        raise ValueError(message)


# ------------------------------------------------------------------- gradient reversal


def scale(const real[::1] src, double factor, real[::1] dst):
    """dst[i] = factor * src[i] (gradient reversal uses factor = -lambda)."""
    cdef Py_ssize_t i, n = src.shape[0]
    cdef real f = <real>factor
    _check(dst.shape[0] == n, f"dst has {dst.shape[0]} elements, src has {n}")
    for i in prange(n, nogil=True, schedule="guided",
                    num_threads=_threads(n)):
        dst[i] = f * src[i]


# ------------------------------------------------------------------ the update's axpy


cdef extern from "axpy.h":
    void tl_axpy_f32(Py_ssize_t n, float alpha, const float *x, float *y, int threads) nogil
    void tl_axpy_f64(Py_ssize_t n, double alpha, const double *x, double *y,
                     int threads) nogil


def axpy(double alpha, const real[::1] x, real[::1] y):
    """y[i] += alpha * x[i], alpha cast to y's dtype: one pass, no temporary (SGD's
    theta -= lr * g is axpy(-lr, g, theta)), on tlcore's team (csrc/axpy.c). x and y
    must not overlap."""
    cdef Py_ssize_t n = y.shape[0]
    _check(x.shape[0] == n, f"axpy: x has {x.shape[0]} elements, y has {n}")
    if n == 0:
        return
    with nogil:
        if real is float:
            tl_axpy_f32(n, <float>alpha, &x[0], &y[0], _team_threads(n))
        else:
            tl_axpy_f64(n, alpha, &x[0], &y[0], _team_threads(n))


# ------------------------------------------------------------- copies around the GEMMs


def swap01(const real[:, :, ::1] src, real[:, :, ::1] dst):
    """dst[b, a, :] = src[a, b, :]: (A, B, L) -> (B, A, L), each row of L one memcpy.

    Puts a GEMM's (C_out, N, Ho*Wo) result in NCHW order, and an NCHW gradient in the
    (C_out, N, Ho*Wo) order of the GEMM's columns.
    """
    cdef Py_ssize_t a_size = src.shape[0], b_size = src.shape[1], length = src.shape[2]
    cdef Py_ssize_t t, a, b
    _check(dst.shape[0] == b_size and dst.shape[1] == a_size and dst.shape[2] == length,
           "swap01: dst must have shape (B, A, L) for src (A, B, L)")
    if a_size == 0 or b_size == 0 or length == 0:
        return
    for t in prange(a_size * b_size, nogil=True, schedule="guided",
                    num_threads=_threads(a_size * b_size * length)):
        a = t // b_size
        b = t - a * b_size
        memcpy(&dst[b, a, 0], &src[a, b, 0], length * sizeof(real))


cdef inline Py_ssize_t _first_inside(Py_ssize_t start, Py_ssize_t step) noexcept nogil:
    """The first k >= 0 with start + k*step >= 0."""
    return 0 if start >= 0 else (-start + step - 1) // step


cdef inline Py_ssize_t _end_inside(Py_ssize_t start, Py_ssize_t step, Py_ssize_t size,
                                   Py_ssize_t count) noexcept nogil:
    """One past the last k < count with start + k*step < size."""
    if start > size - 1:
        return 0
    return min(count, (size - 1 - start) // step + 1)


cdef inline void _im2col_plane(const real* plane, Py_ssize_t height, Py_ssize_t width,
                               real* dst, Py_ssize_t out_h, Py_ssize_t out_w,
                               Py_ssize_t row0, Py_ssize_t col0,
                               Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """dst[i, j] = plane[row0 + i*sh, col0 + j*sw], 0 outside the plane (the padding)."""
    cdef Py_ssize_t i, j, h
    cdef Py_ssize_t j0 = _first_inside(col0, sw)
    cdef Py_ssize_t j1 = _end_inside(col0, sw, width, out_w)
    cdef const real* row
    cdef real* out
    if j1 < j0:
        j1 = j0
    for i in range(out_h):
        out = dst + i * out_w
        h = row0 + i * sh
        if h < 0 or h >= height:
            memset(out, 0, out_w * sizeof(real))
            continue
        row = plane + h * width + col0
        for j in range(j0):
            out[j] = 0
        if sw == 1:  # a loop, not memcpy: the rows are short, a call costs more
            for j in range(j0, j1):
                out[j] = row[j]
        else:
            for j in range(j0, j1):
                out[j] = row[j * sw]
        for j in range(j1, out_w):
            out[j] = 0


def im2col(const real[:, :, :, ::1] x, Py_ssize_t start, Py_ssize_t count,
           kernel, stride, padding, dilation, real[:, :, :] cols):
    """cols[(c, p, q), n, (i, j)] = xpad[start + n, c, i*sh + p*dh, j*sw + q*dw] for the
    ``count`` samples from ``start``; xpad is x zero-padded by (ph, pw), never formed.

    cols is (C*kh*kw, count, Ho*Wo): the columns of the convolution GEMM, in the order
    that the weight, reshaped to (C_out, C*kh*kw), multiplies (a group's rows are
    consecutive, as its channels are). Any strides but the last: a (C*kh*kw,
    count*Ho*Wo) matrix for one GEMM over the samples side by side, or the transpose of
    (count, C*kh*kw, Ho*Wo) for one GEMM per sample. One task per (row, sample): Ho*Wo
    values read from one input plane.
    """
    cdef Py_ssize_t c_in = x.shape[1], height = x.shape[2], width = x.shape[3]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    cdef Py_ssize_t ph = padding[0], pw = padding[1], dh = dilation[0], dw = dilation[1]
    cdef Py_ssize_t out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    cdef Py_ssize_t out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cdef Py_ssize_t pixels = out_h * out_w, t, r, n, c, p, q
    _check(0 <= start and start + count <= x.shape[0], "im2col: samples out of range")
    _check(cols.shape[0] == c_in * kh * kw and cols.shape[1] == count
           and cols.shape[2] == pixels and (cols.strides[2] == sizeof(real) or pixels < 2),
           f"im2col: cols must be ({c_in * kh * kw}, {count}, {pixels}) with its last axis "
           f"contiguous, got ({cols.shape[0]}, {cols.shape[1]}, {cols.shape[2]}), the last "
           f"axis's stride {cols.strides[2]} bytes")
    if cols.shape[0] == 0 or count == 0 or pixels == 0:
        return
    for t in prange(c_in * kh * kw * count, nogil=True, schedule="guided",
                    num_threads=_threads(cols.shape[0] * count * pixels)):
        r = t // count
        n = t - r * count
        c = r // (kh * kw)
        p = (r // kw) % kh
        q = r % kw
        _im2col_plane(&x[start + n, c, 0, 0], height, width, &cols[r, n, 0],
                      out_h, out_w, p * dh - ph, q * dw - pw, sh, sw)


# ------------------------------- the compiled routes: float32 convolution (C files)

cdef extern from "routes.h":
    ctypedef struct tl_conv_geometry:
        long channels, height, width, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w
    ctypedef struct tl_route:
        const char *key
        const char *name
        int built, lanes, tile_rows, tile_columns, gemm_rows
        long (*conv_forward_scratch)(long c_out, const tl_conv_geometry *g, int winograd,
                                     int threads) nogil
        int (*conv_forward_f32)(const float *x, long n, const float *weight, long c_out,
                                int transposed, int winograd, const tl_conv_geometry *g,
                                float *out, float *scratch, int threads) nogil
        long (*conv_backward_weight_scratch)(long c_out, const tl_conv_geometry *g,
                                             int winograd, long chunk) nogil
        int (*conv_backward_weight_f32)(const float *x, const float *grad_out, long n,
                                        long c_out, int winograd, const tl_conv_geometry *g,
                                        float *grad_w, float *scratch, long chunk,
                                        int threads) nogil
        long (*hinge_forward_scratch)(long classes, long dim, int threads) nogil
        int (*hinge_forward_f32)(const float *f, const float *g, long n, long classes,
                                 long dim, const int64_t *target, float margin,
                                 float *loss, int64_t *negative, float *scratch,
                                 int threads) nogil
        void (*maxpool2x2_forward_f32)(const float *x, long planes, long height, long width,
                                       long out_h, long out_w, float *out, int64_t *argmax,
                                       int threads) nogil
        void (*maxpool2x2_forward_f64)(const double *x, long planes, long height,
                                       long width, long out_h, long out_w, double *out,
                                       int64_t *argmax, int threads) nogil
        void (*maxpool_backward_f32)(const float *grad_out, const int64_t *argmax,
                                     long planes, long height, long width, long out_h,
                                     long out_w, float *grad_x, int threads) nogil
        void (*maxpool_backward_f64)(const double *grad_out, const int64_t *argmax,
                                     long planes, long height, long width, long out_h,
                                     long out_w, double *grad_x, int threads) nogil
        int (*hinge_backward_f32)(const float *f, const float *g, long n, long classes,
                                  long dim, const int64_t *target, const int64_t *negative,
                                  const float *weight, float *grad_f, float *grad_g,
                                  int threads) nogil
        int (*hinge_backward_f64)(const double *f, const double *g, long n, long classes,
                                  long dim, const int64_t *target, const int64_t *negative,
                                  const double *weight, double *grad_f, double *grad_g,
                                  int threads) nogil
    int TL_ROUTES
    const tl_route *tl_route_at(int i) nogil
    int tl_route_supported(int i) nogil


cdef extern from "team.h":
    int tl_team_workers() nogil


def routes():
    """The compiled routes, widest first (csrc/routes.h): for each, a dict with its
    index (the ``route`` argument of the kernels below), key (TLCORE_SIMD's word for
    it), name, whether this build has it and whether this CPU runs it, its floats per
    vector, the convolutions' register tile and the packed GEMM's (the fused hinge's)."""
    found = []
    cdef const tl_route *r
    for i in range(TL_ROUTES):
        r = tl_route_at(i)
        found.append({"index": i, "key": r.key.decode(), "name": r.name.decode(),
                      "built": bool(r.built),
                      "supported": bool(tl_route_supported(i)), "lanes": r.lanes,
                      "tile": (r.tile_rows, r.tile_columns),
                      "gemm_tile": (r.gemm_rows, r.tile_columns)})
    return found


cdef const tl_route *_route(int index, str caller) except NULL:
    """Route ``index``, if this CPU runs it; else a RuntimeError naming the caller."""
    if not tl_route_supported(index):
        raise RuntimeError(f"{caller}: route {index} is not built or this CPU does not "
                           f"run it (see routes())")
    return tl_route_at(index)


# The C code keeps offsets within a padded sample, and vector lanes' offsets (16 times a
# row's length), in 32-bit ints.
cdef long _INT32_LIMIT = 2**31 - 1


cdef tl_conv_geometry _geometry(x_shape, kernel, stride, padding, dilation, out_size,
                               bint winograd=False):
    """The C geometry, after checking what the C code trusts: positive sizes, strides
    and dilations, padding >= 0, the output size that these give, and 32-bit offsets
    (a padded sample, 16 output planes, 16 rows of im2col columns); for Winograd's
    kernels, a 3x3 kernel at stride 1 and dilation 1, and a channel's row of tiles
    (rounded up) times the channels within 32 bits."""
    cdef tl_conv_geometry g
    g.channels, g.height, g.width = x_shape[1], x_shape[2], x_shape[3]
    g.kh, g.kw = kernel
    g.sh, g.sw = stride
    g.ph, g.pw = padding
    g.dh, g.dw = dilation
    g.out_h, g.out_w = out_size
    _check(min(g.channels, g.height, g.width, g.kh, g.kw) >= 1,
           f"conv_tiles: x {tuple(x_shape)} and kernel {tuple(kernel)} must not be empty")
    _check(min(g.sh, g.sw, g.dh, g.dw) >= 1 and min(g.ph, g.pw) >= 0,
           f"conv_tiles: stride {tuple(stride)} and dilation {tuple(dilation)} must be "
           f">= 1, padding {tuple(padding)} >= 0")
    _check(g.out_h == (g.height + 2 * g.ph - g.dh * (g.kh - 1) - 1) // g.sh + 1
           and g.out_w == (g.width + 2 * g.pw - g.dw * (g.kw - 1) - 1) // g.sw + 1
           and min(g.out_h, g.out_w) >= 1,
           f"conv_tiles: output size {tuple(out_size)} does not follow from the geometry")
    _check(g.channels * (g.height + 2 * g.ph) * (g.width + 2 * g.pw) + 16 <= _INT32_LIMIT
           and 16 * g.out_h * g.out_w <= _INT32_LIMIT
           and 16 * g.channels * g.kh * g.kw <= _INT32_LIMIT,
           f"conv_tiles: x {tuple(x_shape)} and kernel {tuple(kernel)} are too large for "
           f"its 32-bit offsets")
    if winograd:
        _check((g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) == (3, 3, 1, 1, 1, 1),
               f"conv_tiles (Winograd): the kernel must be 3x3 at stride 1 and dilation 1, "
               f"got {tuple(kernel)}, stride {tuple(stride)}, dilation {tuple(dilation)}")
        _check(g.channels * (_tiles(g) + 19) <= _INT32_LIMIT,
               f"conv_tiles: x {tuple(x_shape)} is too large for its 32-bit offsets")
    return g


cdef Py_ssize_t _tiles(tl_conv_geometry g):
    """Winograd's tiles of 2x2 output pixels in a sample (those at an odd edge too)."""
    return ((g.out_h + 1) // 2) * ((g.out_w + 1) // 2)


def conv_tiles_forward_scratch(int route, x_shape, c_out, kernel, stride, padding, dilation,
                               out_size, bint winograd=False):
    """The floats of scratch that conv_tiles_forward needs for these shapes."""
    cdef const tl_route *r = _route(route, "conv_tiles_forward_scratch")
    cdef tl_conv_geometry g = _geometry(x_shape, kernel, stride, padding, dilation, out_size,
                                        winograd)
    cdef int threads = _team_threads(x_shape[0] * c_out * out_size[0] * out_size[1])
    return r.conv_forward_scratch(c_out, &g, winograd, threads)


def conv_tiles_forward(int route, const float[:, :, :, ::1] x,
                       const float[:, :, :, ::1] weight, stride, padding, dilation,
                       float[:, :, :, ::1] out, float[::1] scratch, bint transposed=False,
                       bint winograd=False):
    """out[n] (C_out, Ho*Wo) = weight (C_out, C*kh*kw) @ im2col(x[n]), groups = 1 and
    column stride 1, on the compiled route ``route`` (see routes()): one sample per
    thread at a time, zero-padded in the thread's part of scratch
    (conv_tiles_forward_scratch floats), the product by csrc/conv.c's register tiles, or,
    with winograd (a 3x3 kernel at stride 1 and dilation 1), by Winograd's F(2x2, 3x3) in
    csrc/winograd.c. transposed: weight is (C, C_out, kh, kw), and the kernel is
    weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3) (the input gradient of a convolution
    by weight)."""
    cdef Py_ssize_t n = x.shape[0], c_out = weight.shape[1] if transposed else weight.shape[0]
    cdef Py_ssize_t c_in = weight.shape[0] if transposed else weight.shape[1]
    cdef tl_conv_geometry g = _geometry((n, x.shape[1], x.shape[2], x.shape[3]),
                                        (weight.shape[2], weight.shape[3]), stride,
                                        padding, dilation, (out.shape[2], out.shape[3]),
                                        winograd)
    cdef int threads = _team_threads(n * c_out * g.out_h * g.out_w)
    cdef const tl_route *r = _route(route, "conv_tiles_forward")
    _check(g.sw == 1, f"conv_tiles_forward: stride {tuple(stride)} must have column stride 1")
    _check(c_in == x.shape[1] and out.shape[0] == n and out.shape[1] == c_out,
           "conv_tiles_forward: x, weight and out do not match")
    _check(scratch.shape[0] >= r.conv_forward_scratch(c_out, &g, winograd, threads),
           "conv_tiles_forward: scratch too small")
    if n == 0 or c_out == 0 or g.out_h * g.out_w == 0:
        return
    cdef int status
    with nogil:
        status = r.conv_forward_f32(&x[0, 0, 0, 0], n, &weight[0, 0, 0, 0], c_out,
                                    transposed, winograd, &g, &out[0, 0, 0, 0],
                                    &scratch[0], threads)
    if status != 0:
        raise MemoryError("conv_tiles_forward: no memory for the step offsets")


def conv_tiles_backward_weight_scratch(int route, x_shape, c_out, kernel, stride, padding,
                                       dilation, out_size, chunk, bint winograd=False):
    """The floats of scratch that conv_tiles_backward_weight needs, ``chunk`` samples
    packed at a time (chunk 0: the part that does not grow with it)."""
    cdef const tl_route *r = _route(route, "conv_tiles_backward_weight_scratch")
    cdef tl_conv_geometry g = _geometry(x_shape, kernel, stride, padding, dilation, out_size,
                                        winograd)
    _check(chunk >= 0, f"conv_tiles_backward_weight_scratch: chunk must be >= 0, got {chunk}")
    return r.conv_backward_weight_scratch(c_out, &g, winograd, chunk)


def conv_tiles_backward_weight(int route, const float[:, :, ::1] grad_out,
                               const float[:, :, :, ::1] x, kernel, stride, padding,
                               dilation, out_size, float[:, :, :, ::1] grad_w,
                               float[::1] scratch, Py_ssize_t chunk, bint winograd=False):
    """grad_w (C_out, C, kh, kw) = the weight gradient, groups = 1, on the compiled route
    ``route``: grad_w[o, c, p, q] sums, over the samples in order and the output pixels,
    grad_out times the input under tap (p, q); with winograd (a 3x3 kernel at stride 1
    and dilation 1), by Winograd's F(3x3, 2x2) in csrc/winograd.c. Each thread owns whole tiles of it, so the
    sum is the same at any number of threads."""
    cdef Py_ssize_t n = x.shape[0], c_out = grad_out.shape[1]
    cdef tl_conv_geometry g = _geometry((n, x.shape[1], x.shape[2], x.shape[3]), kernel,
                                        stride, padding, dilation, out_size, winograd)
    cdef int threads = _team_threads(n * c_out * g.out_h * g.out_w)
    # the steps of a chunk that the C code indexes in 32 bits: its padded samples, or its
    # Winograd tiles' channels
    cdef Py_ssize_t per_sample = (_tiles(g) * g.channels if winograd else
                                  g.channels * (g.height + 2 * g.ph) * (g.width + 2 * g.pw))
    cdef const tl_route *r = _route(route, "conv_tiles_backward_weight")
    _check(grad_out.shape[0] == n and grad_out.shape[2] == g.out_h * g.out_w
           and grad_w.shape[0] == c_out and grad_w.shape[1] == g.channels
           and grad_w.shape[2] == g.kh and grad_w.shape[3] == g.kw,
           "conv_tiles_backward_weight: grad_out, x and grad_w do not match")
    _check(chunk >= 1 and chunk * per_sample + 16 <= _INT32_LIMIT,
           f"conv_tiles_backward_weight: chunk must be >= 1, and its samples within "
           f"32-bit offsets, got {chunk}")
    _check(scratch.shape[0] >= r.conv_backward_weight_scratch(c_out, &g, winograd, chunk),
           "conv_tiles_backward_weight: scratch too small")
    if g.channels == 0 or c_out == 0:
        return
    cdef int status
    with nogil:
        status = r.conv_backward_weight_f32(&x[0, 0, 0, 0], &grad_out[0, 0, 0], n, c_out,
                                            winograd, &g, &grad_w[0, 0, 0, 0], &scratch[0],
                                            chunk, threads)
    if status != 0:
        raise MemoryError("conv_tiles_backward_weight: no memory for the step offsets")


cdef inline void _col2im_plane(const real* src, real* plane, Py_ssize_t height,
                               Py_ssize_t width, Py_ssize_t out_h, Py_ssize_t out_w,
                               Py_ssize_t row0, Py_ssize_t col0,
                               Py_ssize_t sh, Py_ssize_t sw) noexcept nogil:
    """plane[row0 + i*sh, col0 + j*sw] += src[i, j] where that is inside the plane."""
    cdef Py_ssize_t i, j, h
    cdef Py_ssize_t i0 = _first_inside(row0, sh), i1 = _end_inside(row0, sh, height, out_h)
    cdef Py_ssize_t j0 = _first_inside(col0, sw), j1 = _end_inside(col0, sw, width, out_w)
    cdef const real* row_in
    cdef real* row_out
    for i in range(i0, i1):
        h = row0 + i * sh
        row_in = src + i * out_w
        row_out = plane + h * width + col0
        if sw == 1:
            for j in range(j0, j1):
                row_out[j] += row_in[j]
        else:
            for j in range(j0, j1):
                row_out[j * sw] += row_in[j]


def col2im(const real[:, :, :] grad_cols, Py_ssize_t start, Py_ssize_t count,
           kernel, stride, padding, dilation, real[:, :, :, ::1] grad_x):
    """The adjoint of im2col: grad_x[start + n, c] = sum over (p, q, i, j) of
    grad_cols[(c, p, q), n, (i, j)] placed at (i*sh + p*dh - ph, j*sw + q*dw - pw), the
    padding dropped; grad_cols (C*kh*kw, count, Ho*Wo) with any strides but the last, as
    im2col's cols. One task per input plane (n, c), which only it writes: the planes are
    zeroed and filled in one pass, without a padded buffer or atomics.
    """
    cdef Py_ssize_t c_in = grad_x.shape[1], height = grad_x.shape[2], width = grad_x.shape[3]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    cdef Py_ssize_t ph = padding[0], pw = padding[1], dh = dilation[0], dw = dilation[1]
    cdef Py_ssize_t out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    cdef Py_ssize_t out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cdef Py_ssize_t pixels = out_h * out_w, t, n, c, p, q
    cdef real* plane
    _check(0 <= start and start + count <= grad_x.shape[0], "col2im: samples out of range")
    _check(grad_cols.shape[0] == c_in * kh * kw and grad_cols.shape[1] == count
           and grad_cols.shape[2] == pixels
           and (grad_cols.strides[2] == sizeof(real) or pixels < 2),
           f"col2im: grad_cols must be ({c_in * kh * kw}, {count}, {pixels}) with its last "
           f"axis contiguous, got ({grad_cols.shape[0]}, {grad_cols.shape[1]}, "
           f"{grad_cols.shape[2]}), the last axis's stride {grad_cols.strides[2]} bytes")
    if count == 0 or c_in * height * width == 0:
        return
    for t in prange(count * c_in, nogil=True, schedule="guided",
                    num_threads=_threads(grad_cols.shape[0] * count * pixels)):
        n = t // c_in
        c = t - n * c_in
        plane = &grad_x[start + n, c, 0, 0]
        memset(plane, 0, height * width * sizeof(real))
        for p in range(kh):
            for q in range(kw):
                _col2im_plane(&grad_cols[(c * kh + p) * kw + q, n, 0], plane,
                              height, width, out_h, out_w, p * dh - ph, q * dw - pw, sh, sw)


# ----------------------------------------------------------------------------- pooling


cdef inline void _max_window(const real* plane, Py_ssize_t height, Py_ssize_t width,
                             Py_ssize_t h0, Py_ssize_t kh, Py_ssize_t w0, Py_ssize_t kw,
                             real* out, int64_t* out_at) noexcept nogil:
    """The maximum of one window, rows h0 + [0, kh), columns w0 + [0, kw) clipped to the
    plane, and its flat index; written without branches on the data (random data
    mispredicts every other branch): a select for the index, a max for the value, and a
    flag that turns the result into NaN if the window held one."""
    cdef Py_ssize_t h, w, h1 = min(h0 + kh, height), w1 = min(w0 + kw, width)
    cdef Py_ssize_t best_at, at
    cdef real best, value
    cdef bint better, nan = False
    h0 = max(h0, 0)
    w0 = max(w0, 0)
    best_at = h0 * width + w0
    best = plane[best_at]
    for h in range(h0, h1):
        for w in range(w0, w1):
            at = h * width + w
            value = plane[at]
            better = value > best
            best_at = best_at + better * (at - best_at)
            best = value if better else best
            nan = nan | (value != value)
    out[0] = NAN if nan else best
    out_at[0] = best_at


cdef inline void _max2x2_row(const real* top, Py_ssize_t width, Py_ssize_t at0,
                             Py_ssize_t out_w, Py_ssize_t sw,
                             real* out, int64_t* out_at) noexcept nogil:
    """The 2x2 windows of one output row, all inside the plane (no padding): window ow
    reads top[ow*sw + (0, 1, W, W+1)], whose flat index is at0 + ow*sw + that offset. The
    same strict-> scan as _max_window, unrolled, each window independent of the last."""
    cdef Py_ssize_t ow, best_at, gt
    cdef const real* p
    cdef real best, a, b, c, d
    for ow in range(out_w):
        p = top + ow * sw
        a = p[0]
        b = p[1]
        c = p[width]
        d = p[width + 1]
        # index by arithmetic on the comparison, value by a max: no jumps
        best_at = <Py_ssize_t>(b > a)
        best = b if b > a else a
        gt = <Py_ssize_t>(c > best)
        best_at = best_at + gt * (width - best_at)
        best = c if c > best else best
        gt = <Py_ssize_t>(d > best)
        best_at = best_at + gt * (width + 1 - best_at)
        best = d if d > best else best
        if (a != a) | (b != b) | (c != c) | (d != d):
            best = NAN
        out[ow] = best
        out_at[ow] = at0 + ow * sw + best_at


def maxpool2d_forward(const real[:, :, :, ::1] x, kernel, stride, padding,
                      real[:, :, :, ::1] out, int64_t[:, :, :, ::1] argmax):
    """out[n, c, oh, ow] = max of the window rows oh*sh - ph + [0, kh), columns
    ow*sw - pw + [0, kw), clipped to the plane (padding is -inf, so it never wins);
    argmax = the flat index h*W + w of the first element, in row-major window order,
    holding it (a scan with a strict >, starting at the window's first real element).
    A NaN makes its window's output NaN (its index is then unspecified, as in the
    reference). One task per plane.
    """
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1], height = x.shape[2], width = x.shape[3]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    cdef Py_ssize_t ph = padding[0], pw = padding[1]
    cdef Py_ssize_t out_h = out.shape[2], out_w = out.shape[3], t, oh, ow
    cdef const real* plane
    cdef real* out_plane
    cdef int64_t* arg_plane
    _check(out.shape[0] == x.shape[0] and out.shape[1] == x.shape[1]
           and out_h == (height + 2 * ph - kh) // sh + 1
           and out_w == (width + 2 * pw - kw) // sw + 1
           and argmax.shape[0] == out.shape[0] and argmax.shape[1] == out.shape[1]
           and argmax.shape[2] == out_h and argmax.shape[3] == out_w,
           "maxpool2d_forward: out and argmax have the wrong shape")
    _check(ph < kh and pw < kw, "maxpool2d_forward: padding must be smaller than the kernel")
    if planes == 0 or out_h <= 0 or out_w <= 0:
        return
    for t in prange(planes, nogil=True, schedule="guided",
                    num_threads=_threads(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3])):
        plane = &x[0, 0, 0, 0] + t * height * width
        out_plane = &out[0, 0, 0, 0] + t * out_h * out_w
        arg_plane = &argmax[0, 0, 0, 0] + t * out_h * out_w
        for oh in range(out_h):
            if kh == 2 and kw == 2 and ph == 0 and pw == 0:  # the common MaxPool2d(2)
                _max2x2_row(plane + oh * sh * width, width, oh * sh * width, out_w, sw,
                            out_plane + oh * out_w, arg_plane + oh * out_w)
                continue
            for ow in range(out_w):
                _max_window(plane, height, width, oh * sh - ph, kh, ow * sw - pw, kw,
                            out_plane + oh * out_w + ow, arg_plane + oh * out_w + ow)


cdef inline bint _same_shape(Py_ssize_t *a, Py_ssize_t *b) noexcept:
    """Whether two 4-D memoryviews' shapes are equal."""
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


def maxpool2x2_forward_route(int route, const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                             int64_t[:, :, :, ::1] argmax):
    """maxpool2d_forward's 2x2 window at stride 2 without padding on the compiled route
    ``route`` (csrc/pool.c), its planes shared out to tlcore's own team."""
    cdef const tl_route *r = _route(route, "maxpool2x2_forward_route")
    cdef long planes = x.shape[0] * x.shape[1], height = x.shape[2], width = x.shape[3]
    cdef long out_h = out.shape[2], out_w = out.shape[3]
    cdef int threads = _team_threads(planes * height * width)
    _check(out.shape[0] == x.shape[0] and out.shape[1] == x.shape[1]
           and out_h == height // 2 and out_w == width // 2
           and _same_shape(argmax.shape, out.shape),
           "maxpool2x2_forward_route: out and argmax have the wrong shape")
    if planes == 0 or out_h == 0 or out_w == 0:
        return
    with nogil:
        if real is float:
            r.maxpool2x2_forward_f32(&x[0, 0, 0, 0], planes, height, width, out_h, out_w,
                                     &out[0, 0, 0, 0], &argmax[0, 0, 0, 0], threads)
        else:
            r.maxpool2x2_forward_f64(&x[0, 0, 0, 0], planes, height, width, out_h, out_w,
                                     &out[0, 0, 0, 0], &argmax[0, 0, 0, 0], threads)


def maxpool_backward_route(int route, const real[:, :, :, ::1] grad_out,
                           const int64_t[:, :, :, ::1] argmax, real[:, :, :, ::1] grad_x):
    """maxpool2d_backward on the compiled route ``route`` (csrc/pool.c), its planes shared
    out to tlcore's own team. argmax must come from a forward (every index inside its
    plane; it is not checked again here)."""
    cdef const tl_route *r = _route(route, "maxpool_backward_route")
    cdef long planes = grad_x.shape[0] * grad_x.shape[1]
    cdef long height = grad_x.shape[2], width = grad_x.shape[3]
    cdef long out_h = grad_out.shape[2], out_w = grad_out.shape[3]
    cdef int threads = _team_threads(planes * height * width)
    _check(grad_out.shape[0] == grad_x.shape[0] and grad_out.shape[1] == grad_x.shape[1]
           and _same_shape(argmax.shape, grad_out.shape),
           "maxpool_backward_route: grad_out, argmax and grad_x do not match")
    if planes == 0 or height * width == 0:
        return
    with nogil:
        if real is float:
            r.maxpool_backward_f32(&grad_out[0, 0, 0, 0], &argmax[0, 0, 0, 0], planes, height,
                                   width, out_h, out_w, &grad_x[0, 0, 0, 0], threads)
        else:
            r.maxpool_backward_f64(&grad_out[0, 0, 0, 0], &argmax[0, 0, 0, 0], planes, height,
                                   width, out_h, out_w, &grad_x[0, 0, 0, 0], threads)


def maxpool2d_backward(const real[:, :, :, ::1] grad_out, const int64_t[:, :, :, ::1] argmax,
                       real[:, :, :, ::1] grad_x):
    """grad_x[n, c].flat[argmax[n, c, oh, ow]] += grad_out[n, c, oh, ow]. One task per
    plane: it zeroes its plane of grad_x and adds its outputs' gradients in order, so
    overlapping windows add up without atomics. argmax must come from maxpool2d_forward
    (every index inside its plane; it is not checked again here)."""
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1]
    cdef Py_ssize_t size = grad_x.shape[2] * grad_x.shape[3]
    cdef Py_ssize_t outputs = grad_out.shape[2] * grad_out.shape[3], t, k
    cdef const real* g_plane
    cdef const int64_t* arg_plane
    cdef real* plane
    _check(grad_out.shape[0] == grad_x.shape[0] and grad_out.shape[1] == grad_x.shape[1]
           and argmax.shape[0] == grad_out.shape[0] and argmax.shape[1] == grad_out.shape[1]
           and argmax.shape[2] == grad_out.shape[2] and argmax.shape[3] == grad_out.shape[3],
           "maxpool2d_backward: grad_out, argmax and grad_x do not match")
    if planes == 0 or size == 0:
        return
    for t in prange(planes, nogil=True, schedule="guided",
                    num_threads=_threads(grad_x.shape[0] * grad_x.shape[1]
                                         * grad_x.shape[2] * grad_x.shape[3])):
        plane = &grad_x[0, 0, 0, 0] + t * size
        memset(plane, 0, size * sizeof(real))
        if outputs > 0:
            g_plane = &grad_out[0, 0, 0, 0] + t * outputs
            arg_plane = &argmax[0, 0, 0, 0] + t * outputs
            for k in range(outputs):
                plane[arg_plane[k]] += g_plane[k]


# ----------------------------------------------------------------- embedding and hinge


def paired_scores(const real[:, ::1] f, const real[:, ::1] g, real[::1] out):
    """out[n] = f[n] . g[n], one task per row."""
    cdef Py_ssize_t rows = f.shape[0], dim = f.shape[1], n, d
    cdef real total
    _check(g.shape[0] == rows and g.shape[1] == dim and out.shape[0] == rows,
           "paired_scores: f, g and out do not match")
    for n in prange(rows, nogil=True, schedule="guided",
                    num_threads=_threads(rows * dim)):
        total = 0
        for d in range(dim):
            total = total + f[n, d] * g[n, d]
        out[n] = total


# ------------------------------------ the hinge forward fused with its GEMM (C file)


def hinge_fused_scratch(int route, Py_ssize_t n, Py_ssize_t classes, Py_ssize_t dim):
    """The floats of scratch that hinge_fused_forward needs for these sizes."""
    cdef const tl_route *r = _route(route, "hinge_fused_scratch")
    return r.hinge_forward_scratch(classes, dim, _team_threads(n * classes))


def hinge_fused_forward(int route, const float[:, ::1] f, const float[:, ::1] g,
                        const int64_t[::1] target, double margin, float[::1] loss,
                        int64_t[::1] negative, float[::1] scratch):
    """(loss, negative) of the hinge-max loss on S = f @ g.T without forming S, on the
    compiled route ``route``: each register tile of S folded into running maxima per row
    (csrc/hinge.c). target must hold class indices in [0, C) (checked by the caller)."""
    cdef Py_ssize_t n = f.shape[0], classes = g.shape[0], dim = f.shape[1]
    cdef int threads = _team_threads(n * classes), status
    cdef const tl_route *r = _route(route, "hinge_fused_forward")
    _check(g.shape[1] == dim and target.shape[0] == n and loss.shape[0] == n
           and negative.shape[0] == n, "hinge_fused_forward: f, g, target, loss and "
           "negative do not match")
    _check(classes >= 2 and dim >= 1, "hinge_fused_forward: needs C >= 2 and D >= 1")
    _check(classes <= _INT32_LIMIT,
           f"hinge_fused_forward: C = {classes} is too large for its 32-bit class indices")
    _check(16 * dim <= _INT32_LIMIT,
           f"hinge_fused_forward: D = {dim} is too large for its 32-bit offsets")
    _check(scratch.shape[0] >= r.hinge_forward_scratch(classes, dim, threads),
           "hinge_fused_forward: scratch too small")
    if n == 0:
        return
    with nogil:
        status = r.hinge_forward_f32(&f[0, 0], &g[0, 0], n, classes, dim, &target[0],
                                     <float>margin, &loss[0], &negative[0], &scratch[0],
                                     threads)
    if status != 0:
        raise RuntimeError(f"hinge_fused_forward: the kernel returned {status}")


cdef inline real _range_max(const real* row, Py_ssize_t start, Py_ssize_t end, real best,
                            real* total) noexcept nogil:
    """max(best, row[start:end]), ignoring NaNs, and total += sum(row[start:end]) (NaN if a
    NaN is there). Four independent accumulators keep the max and add units busy."""
    cdef real m0 = best, m1 = best, m2 = best, m3 = best, s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef real v0, v1, v2, v3
    cdef Py_ssize_t c = start
    while c + 4 <= end:
        v0 = row[c]
        v1 = row[c + 1]
        v2 = row[c + 2]
        v3 = row[c + 3]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        s0 = s0 + v0
        s1 = s1 + v1
        s2 = s2 + v2
        s3 = s3 + v3
        c = c + 4
    while c < end:
        v0 = row[c]
        m0 = v0 if v0 > m0 else m0
        s0 = s0 + v0
        c = c + 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    total[0] = total[0] + ((s0 + s1) + (s2 + s3))
    return m2 if m2 > m0 else m0


def hinge_max_forward(const real[:, ::1] scores, const int64_t[::1] target, double margin,
                      real[::1] loss, int64_t[::1] negative):
    """loss[n] = max(0, margin - S[n, y] + S[n, m]), m = negative[n] the first arg-max of
    row n over the classes other than y = target[n] (a NaN counts as the largest, as in
    numpy's argmax). One task per row. target must hold valid class indices (the
    wrapper checks).

    Two passes over the row, both cheap: the max (_range_max, branch-free), then the
    first class that holds it. The row's sum comes with the max: if it is NaN the row may
    hold a NaN, and a careful one-pass scan (first NaN, else first strict max) decides.
    """
    cdef Py_ssize_t rows = scores.shape[0], classes = scores.shape[1], n, c, y, m
    cdef real best, value, total, k = <real>margin
    cdef const real* row
    _check(classes >= 2, "hinge_max_forward: scores needs at least 2 classes")
    _check(target.shape[0] == rows and loss.shape[0] == rows and negative.shape[0] == rows,
           "hinge_max_forward: scores, target, loss and negative do not match")
    for n in prange(rows, nogil=True, schedule="guided",
                    num_threads=_threads(rows * classes)):
        row = &scores[n, 0]
        y = target[n]
        m = 1 if y == 0 else 0
        total = 0
        best = _range_max(row, 0, y, row[m], &total)
        best = _range_max(row, y + 1, classes, best, &total)
        if total == total:  # no NaN: the first class other than y that holds the max
            while row[m] != best or m == y:
                m = m + 1
        else:  # perhaps a NaN (or +inf and -inf together): the one-pass scan
            best = row[m]
            if best == best:
                for c in range(m + 1, classes):
                    value = row[c]
                    if value > best and c != y:
                        best = value
                        m = c
                    elif value != value and c != y:
                        best = value
                        m = c
                        break
        if best == -INFINITY:
            m = 0  # np.argmax's answer when every other score is -inf (y's is, too)
        value = k - row[y] + best
        if value < 0:
            value = 0
        loss[n] = value
        negative[n] = m


cdef _check_sparse_backward(const real[:, ::1] f, const real[:, ::1] g,
                            const int64_t[::1] target, const int64_t[::1] negative,
                            const real[::1] weight, real[:, ::1] grad_f, real[:, ::1] grad_g,
                            str caller):
    """The sparse backward's arrays agree: f and grad_f (N, D), g and grad_g (C, D),
    target, negative and weight (N,)."""
    cdef Py_ssize_t rows = f.shape[0], dim = f.shape[1]
    _check(g.shape[1] == dim and target.shape[0] == rows and negative.shape[0] == rows
           and weight.shape[0] == rows and grad_f.shape[0] == rows
           and grad_f.shape[1] == dim and grad_g.shape[0] == g.shape[0]
           and grad_g.shape[1] == dim,
           f"{caller}: f, g, target, negative, weight and the outputs do not match")


def hinge_max_backward(const real[:, ::1] f, const real[:, ::1] g, const int64_t[::1] target,
                       const int64_t[::1] negative, const real[::1] weight,
                       real[:, ::1] grad_f, real[:, ::1] grad_g):
    """The fused sparse backward in Cython's loops, where no route is taken (the routes
    run csrc/hinge_backward.c: hinge_max_backward_route): with w = weight[n],
    y = target[n], m = negative[n],

        grad_f[n] = w * (g[m] - g[y]);   grad_g[m] += w * f[n],  grad_g[y] -= w * f[n]

    grad_f: one task per sample. grad_g: the samples with w != 0 are first bucketed by
    the class they touch (a counting sort, O(N + C), in sample order), then one task
    per class sums its bucket into its row: no two threads write one row, no atomics,
    and the sum order (by sample) is fixed, so the result is deterministic. O(N*D).
    """
    cdef Py_ssize_t rows = f.shape[0], dim = f.shape[1], classes = g.shape[0]
    cdef Py_ssize_t n, d, c, k, e
    cdef real w, s
    cdef real* row
    cdef const real* f_row
    cdef int64_t[::1] start, bucket
    _check_sparse_backward(f, g, target, negative, weight, grad_f, grad_g,
                           "hinge_max_backward")
    for n in prange(rows, nogil=True, schedule="guided",
                    num_threads=_threads(rows * dim)):
        w = weight[n]
        for d in range(dim):
            grad_f[n, d] = w * (g[negative[n], d] - g[target[n], d])
    # bucket[start[c]:start[c + 1]] holds 2n (sample n adds) or 2n + 1 (sample n subtracts)
    start = np.zeros(classes + 1, dtype=np.int64)
    bucket = np.empty(2 * rows, dtype=np.int64)
    with nogil:
        for n in range(rows):
            if weight[n] != 0:
                start[negative[n] + 1] += 1
                start[target[n] + 1] += 1
        for c in range(classes):
            start[c + 1] += start[c]
        for n in range(rows):  # start[c] moves to the end of bucket c as it fills
            if weight[n] != 0:
                bucket[start[negative[n]]] = 2 * n
                start[negative[n]] += 1
                bucket[start[target[n]]] = 2 * n + 1
                start[target[n]] += 1
    for c in prange(classes, nogil=True, schedule="guided",
                    num_threads=_threads(rows * dim)):
        row = &grad_g[c, 0]
        if dim > 0:
            memset(row, 0, dim * sizeof(real))
        # after the fill, bucket c is bucket[start[c - 1]:start[c]]
        k = 0 if c == 0 else start[c - 1]
        while k < start[c]:
            e = bucket[k]
            s = weight[e >> 1] if (e & 1) == 0 else -weight[e >> 1]
            f_row = &f[e >> 1, 0]
            for d in range(dim):
                row[d] += s * f_row[d]
            k = k + 1


def hinge_max_backward_route(int route, const real[:, ::1] f, const real[:, ::1] g,
                             const int64_t[::1] target, const int64_t[::1] negative,
                             const real[::1] weight, real[:, ::1] grad_f, real[:, ::1] grad_g):
    """hinge_max_backward on the compiled route ``route`` (csrc/hinge_backward.c): the
    same sums in the same order, grad_f's blocks of samples and grad_g's classes shared
    out to tlcore's own team. target and negative must hold classes of [0, C) (checked by
    the caller)."""
    cdef const tl_route *r = _route(route, "hinge_max_backward_route")
    cdef long rows = f.shape[0], dim = f.shape[1], classes = g.shape[0]
    cdef int threads = _team_threads(rows * dim), status
    _check_sparse_backward(f, g, target, negative, weight, grad_f, grad_g,
                           "hinge_max_backward_route")
    if rows == 0 or dim == 0:  # no sample touches a class: grad_g is 0
        grad_g[:, :] = 0
        return
    _check(classes > 0, "hinge_max_backward_route: samples need at least one class")
    with nogil:
        if real is float:
            status = r.hinge_backward_f32(&f[0, 0], &g[0, 0], rows, classes, dim, &target[0],
                                          &negative[0], &weight[0], &grad_f[0, 0],
                                          &grad_g[0, 0], threads)
        else:
            status = r.hinge_backward_f64(&f[0, 0], &g[0, 0], rows, classes, dim, &target[0],
                                          &negative[0], &weight[0], &grad_f[0, 0],
                                          &grad_g[0, 0], threads)
    if status != 0:
        raise MemoryError("hinge_max_backward_route: could not allocate its buckets")
