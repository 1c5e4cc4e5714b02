"""The native backend's compiled routes, and when a call leaves the im2col and BLAS route
of native.py for them.

One kernel source (csrc/conv.c, csrc/winograd.c, csrc/hinge.c, csrc/hinge_backward.c,
csrc/pool.c) is built once per vector width (csrc/routes.h): AVX-512F, AVX2+FMA, and the
compiler's baseline (NEON on 64-bit ARM, SSE2 on x86-64). At import this module picks ROUTE, the widest route that the build
has, the CPU runs and TLCORE_SIMD allows; ``describe()`` says which, per kernel family,
and why no wider one. Then here are the switches and thresholds (each with the
measurement behind it) and the choice of kernel for one call; native.py runs it. The
tests set ROUTE to each route this machine runs, and lower the thresholds to send every
call to the tiles.

    TLCORE_SIMD=avx512 | avx2 | neon | sse2 | none
        the widest route to take (a narrower one where the CPU lacks it; none: im2col
        and BLAS), e.g. TLCORE_SIMD=avx2 to run an AVX2 CPU's route on an AVX-512
        one (bench/narrow.py sets it with the other libraries' switches, to time the
        whole process as an AVX2 CPU runs it).

Like native.py, this module asks tlcore._native (the routes, the thread count and the
scratch sizes of the compiled kernels): the native backend's two modules are the only
ones that import it.
"""

import os
from collections import namedtuple

import numpy as np

from tlcore.kernels.backends import threads

threads.apply()  # before tlcore._native loads its OpenMP runtime, however this is imported
from tlcore import _native  # noqa: E402

# Every route the build lists, widest first, each a dict: index, key (TLCORE_SIMD's word),
# name, built, supported (the CPU runs it), lanes, tile.
ROUTES = _native.routes()
# The baseline route on x86-64 (SSE2, no FMA, 16 registers of 4 floats, the tile shaped
# for ARM's 32) is taken only when TLCORE_SIMD names it: it is there so that the tests
# run ARM's code on x86-64, and it is slower than im2col and BLAS (on the 2-core AMD
# EPYC, one thread, fastest of 25: conv2's forward and both backwards 34 ms against
# 18 ms).
CHOSEN_BY_DEFAULT = ("avx512", "avx2", "neon")
KEYS = tuple(route["key"] for route in ROUTES) + ("none",)


def choose(limit=None):
    """(the route ROUTE takes, why no wider one): the widest route the build has and the
    CPU runs, no wider than ``limit`` (a key of KEYS; default: the environment's
    TLCORE_SIMD, else any chosen by default)."""
    limit = os.environ.get("TLCORE_SIMD") if limit is None else limit
    if limit is not None and limit.lower() not in KEYS:
        raise ValueError(f"TLCORE_SIMD must be one of {', '.join(KEYS)}, got {limit!r}")
    limit = None if limit is None else limit.lower()
    allowed = [route["key"] for route in ROUTES] if limit else list(CHOSEN_BY_DEFAULT)
    if limit:
        allowed = allowed[allowed.index(limit):] if limit != "none" else []
    passed = []
    for route in ROUTES:
        if not route["built"]:
            passed.append(f"{route['name']}: not built by this compiler")
        elif not route["supported"]:
            passed.append(f"{route['name']}: this CPU lacks it")
        elif route["key"] not in allowed:
            passed.append(f"{route['name']}: TLCORE_SIMD={limit} leaves it out" if limit
                          else f"{route['name']}: not taken by default, slower here than "
                               "im2col and BLAS (TLCORE_SIMD=" + route["key"] + " forces it)")
        else:
            return route, passed
    return None, passed


ROUTE, PASSED = choose()


def describe():
    """Lines for ``tlcore info``: per kernel family, the route this machine takes, and why
    not the wider ones."""
    if ROUTE is None:
        conv = "im2col and BLAS"
        hinge = "BLAS's GEMM, then the scan; the sparse backward in Cython's loops"
    else:
        tile = "x".join(map(str, ROUTE["tile"]))
        conv = (f"register tiles{' + Winograd' if WINOGRAD else ''}, {ROUTE['name']} "
                f"({tile} tile), im2col and BLAS for thin products")
        gemm_tile = "x".join(map(str, ROUTE["gemm_tile"]))
        hinge = (f"fused with its GEMM from {MIN_HINGE_CLASSES} classes, {ROUTE['name']} "
                 f"({gemm_tile} tile), BLAS's GEMM and the scan below; the sparse backward "
                 "(float32 and float64) on the route's team")
    pool = ("Cython loops" if ROUTE is None
            else f"2x2 window and every backward on the route's team, {ROUTE['name']}")
    lines = [f"conv2d float32: {conv}", f"hinge-max from embeddings float32: {hinge}",
             f"max-pool: {pool}"]
    if PASSED:
        lines.append("routes not taken: " + "; ".join(PASSED))
    return lines


# Float32 with groups = 1 on a compiled route (csrc/conv.c): each thread pads
# one sample into its own scratch, and a register-tile kernel multiplies the inputs it
# reads there in place by the packed weights (the forward, at column stride 1) or by the
# packed output gradient (the weight gradient, any geometry), so no column matrix goes
# to memory; the input gradient is the forward of grad_out with the kernel flipped
# (stride 1, dilation 1, padding < kernel). A 3x3 kernel at stride 1 takes Winograd's
# algorithm instead, where its buffers fit (see WINOGRAD). Everything else: per chunk of
# samples and group, im2col writes the columns in the order the GEMM reads them, a
# group's rows consecutive: one GEMM per sample on (m, C*kh*kw, Ho*Wo) where C*kh*kw <=
# Ho*Wo, else one on (C*kh*kw, m*Ho*Wo) (see native.py's _per_sample). CONV_TILES =
# False: im2col always.
CONV_TILES = True
# A 3x3 kernel at stride 1 takes Winograd's F(2x2, 3x3) for the forward and the input
# gradient, and F(3x3, 2x2) for the weight gradient (csrc/winograd.c):
# 2.25x fewer multiply-adds, and transforms around them. Measured on AVX-512 at the
# bench's conv3,
# the fastest of 100 calls in one process (WINOGRAD switched per call):
# forward 0.98 ms against the direct tiles' 1.36, input gradient 0.96 against 1.24,
# weight gradient 1.25 against 1.55; at conv2 1.74 against 1.95, 1.93 against 2.08 and
# 2.16 against 2.65. WINOGRAD = False: the direct tiles always.
WINOGRAD = True
# The padded samples and packed gradient rows that the weight gradient sums at a time, at
# most: they are written, then read by every thread's tiles, from the core's L2 cache.
CHUNK_BYTES = 2**19
# The same for Winograd's weight gradient: each sample's input padded channels-last, its
# output gradient pixel-major, and its transformed patches and output gradients, 16
# values per tile of 2x2 pixels (4x its input and output gradient), of which each thread
# keeps its own positions. Measured on 2 threads at conv2 and conv3 of the bench, before
# the pixel-major gradient joined the buffers: 2 MB 5 to 15% faster than 1 or 4 MB.
# Where one sample's buffers exceed it, the direct tiles take the call.
WINOGRAD_CHUNK_BYTES = 2**21
# Below this many rows of im2col columns (C_in*kh*kw), and this many input channels, the
# products are too thin for the register tiles (up to 14 x 32 on AVX-512; the input
# gradient's tiles hold C_in channels): conv1 of bench/kernels.py (one input channel)
# took 8.5 ms there against 6.0 to 6.5 ms through im2col and BLAS.
MIN_DEPTH = 32
MIN_CHANNELS = 4
# The direct forward tiles hold output channels in their vector lanes: with one output
# channel, 15 of AVX-512's 16 lanes compute nothing, and im2col with a matrix-vector
# product per sample ran faster there (N 50, 8 or 16 input channels, 5x5 kernels, median
# of 25 calls: 2.96 and 6.08 ms against 1.42 and 3.47 at 20x20, a tie at 10x10). On AVX2,
# with 8 lanes, the tiles kept up (1.50 and 2.95 against 1.37 and 2.80 at 20x20) or won
# (0.40 and 0.80 against 1.19 and 1.30 at 10x10). From 2 output channels the tiles were as
# fast or faster on both; Winograd's tiles (3x3) keep one channel. Per route key: the
# fewest output channels for the direct forward tiles (1 where a route is not named).
MIN_OUT_CHANNELS = {"avx512": 2}
# The forward's scratch (the packed weights, and per thread a padded sample and its
# output; Winograd's also the sample's transformed patches and products, about 4x more)
# at most this much per thread, plus 1 MiB: above it, Winograd's forward gives way to the
# direct tiles, and those to the im2col route, whose chunks bound the memory. (So a
# large sample may take another route, rounded otherwise, at another thread count.)
SAMPLE_BYTES = 8 * 2**20
# The forward splits the batch between threads: with fewer samples than this (None: the
# number of threads) the others would idle, so im2col and BLAS, which use them all, run.
MIN_SAMPLES = None
# The fused hinge forward takes this many classes at least. Its register tile spans 32
# classes on AVX-512 (16 on AVX2), so with few classes much of every tile is padding, and
# the score GEMM and the scan run faster. `python bench/hinge_fused.py` (N 256 to 4096,
# D 32 to 300, calls timed alternately and in blocks, AVX-512 and, through
# bench/narrow.py, AVX2; 2-core AMD EPYC, OPENBLAS_THREAD_TIMEOUT=4 so that OpenBLAS's
# spinning threads leave the team its cores: README) found the fused forward faster in
# 5 of 24 cells at 20 classes, 16 of 42 at 40, 41 of 48 at 64, 44 of 66 at 100 and all
# 132 from 128 to 1,000. (Its losses at 100 classes came from the last panel's padding,
# which the tile no longer computes: README, "Kernels and threads".)
MIN_HINGE_CLASSES = 64


def takes_tiles(dtype, groups, x_shape, weight_shape, out_size, padding, thin=False):
    """True if this call goes to ROUTE's compiled convolution (csrc/conv.c, or
    csrc/winograd.c where takes_winograd says so): a route taken, float32, one group, no
    empty axis, enough input channels for the tiles (C_in >= MIN_CHANNELS and C_in*kh*kw
    >= MIN_DEPTH, unless ``thin``), and offsets within 32 bits (the padded sample, 16
    output planes, 16 rows of columns).

    ``thin=True`` is for the input gradient's forward, whose input is grad_out: there the
    other way is no better GEMM but outer products and col2im (the columns' gradient, C
    *kh*kw x Ho*Wo a sample, from C_out rows), and the tiles won at every thin C_out
    measured (README: N 50, C_out 1 and 2, 3x3 and 5x5: 0.09 to 0.54 ms against 0.23 to
    11.5)."""
    c_in, (height, width), (kh, kw) = x_shape[1], x_shape[2:], weight_shape[2:]
    padded = c_in * (height + 2 * padding[0]) * (width + 2 * padding[1])
    return (CONV_TILES and ROUTE is not None and groups == 1 and dtype == np.float32
            and (thin or c_in >= MIN_CHANNELS and c_in * kh * kw >= MIN_DEPTH)
            and min(x_shape) > 0 and min(weight_shape) > 0 and min(out_size) > 0
            and padded < 2**31 - 2**20 and 16 * out_size[0] * out_size[1] < 2**31
            and 16 * c_in * kh * kw < 2**31)


def takes_winograd(kernel, stride, dilation):
    """True if a call on the tiles with this geometry takes Winograd's kernels rather
    than the direct ones (csrc/winograd.c: F(2x2, 3x3) for the forward and the input
    gradient, F(3x3, 2x2) for the weight gradient, 2.25x fewer multiply-adds): a 3x3
    kernel at stride 1 and dilation 1."""
    return (WINOGRAD and tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1))


def takes_fused_hinge(dtype, n, classes, dim):
    """True if the hinge-max forward from embeddings runs fused with its GEMM on ROUTE
    (csrc/hinge.c): a route taken, float32, no empty axis, MIN_HINGE_CLASSES classes at
    least, and 32-bit offsets and classes."""
    return (ROUTE is not None and dtype == np.float32 and n > 0
            and classes >= max(2, MIN_HINGE_CLASSES) and dim > 0 and 16 * dim < 2**31
            and classes < 2**31)


ForwardPlan = namedtuple("ForwardPlan", "winograd floats")


def forward_plan(x_shape, c_out, kernel, stride, padding, dilation, out_size):
    """A ForwardPlan: which compiled forward runs, Winograd's (where the geometry allows
    it and its scratch fits) or the direct tiles', and the floats of scratch it needs;
    None where neither should run: fewer samples than MIN_SAMPLES, fewer output channels
    than the route's MIN_OUT_CHANNELS for the direct tiles, or more scratch than
    SAMPLE_BYTES per thread and 1 MiB."""
    workers = _native.team()[0]  # the routes' own threads (csrc/team.h)
    if x_shape[0] < (MIN_SAMPLES or workers):
        return None
    for winograd in (True, False) if takes_winograd(kernel, stride, dilation) else (False,):
        if not winograd and c_out < MIN_OUT_CHANNELS.get(ROUTE["key"], 1):
            return None
        floats = _native.conv_tiles_forward_scratch(ROUTE["index"], x_shape, c_out, kernel,
                                                    stride, padding, dilation, out_size,
                                                    winograd=winograd)
        if 4 * floats <= SAMPLE_BYTES * workers + 2**20:
            return ForwardPlan(winograd, floats)
    return None


def sample_bytes(geometry, winograd):
    """The bytes of one sample's buffers in a weight gradient on the tiles (Winograd's or
    the direct ones): what its scratch grows by per sample of a chunk."""
    def scratch(chunk):
        return _native.conv_tiles_backward_weight_scratch(ROUTE["index"], *geometry, chunk,
                                                          winograd=winograd)
    return 4 * (scratch(1) - scratch(0))


def samples_per_chunk(geometry, n, most, winograd):
    """How many samples a weight gradient on the tiles sums at a time: as many as have
    their buffers within ``most`` bytes, at most n (0 if not even one)."""
    return min(n, most // sample_bytes(geometry, winograd))
