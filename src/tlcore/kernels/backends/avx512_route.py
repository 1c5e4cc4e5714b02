"""The native backend's AVX-512 route policy: when a call leaves the im2col and BLAS
route of native.py for the compiled AVX-512 kernels (csrc/conv_avx512.c,
csrc/winograd_avx512.c, csrc/hinge_avx512.c), and how large their chunks and scratch
may grow.

Here are the switches and thresholds (each with the measurement behind it), the CPU
check, and the choice of route for one call; native.py runs the route chosen. The
tests lower the thresholds here to send every call to the AVX-512 kernels.
Like native.py, this module asks tlcore._native (the CPU check, the thread count and
the scratch sizes of the compiled kernels): the native backend's two modules are the
only ones that import it.
"""

import os
from collections import namedtuple

import numpy as np

from tlcore.kernels.backends import threads

threads.apply()  # before tlcore._native loads its OpenMP runtime, however this is imported
from tlcore import _native  # noqa: E402

# Float32 with groups = 1 on a CPU with AVX-512F (csrc/conv_avx512.c): each thread pads
# one sample into its own scratch, and a register-tile kernel multiplies the inputs it
# reads there in place by the packed weights (the forward, at column stride 1) or by the
# packed output gradient (the weight gradient, any geometry), so no column matrix goes
# to memory; the input gradient is the forward of grad_out with the kernel flipped
# (stride 1, dilation 1, padding < kernel). A 3x3 kernel at stride 1 takes Winograd's
# algorithm instead, where its buffers fit (see WINOGRAD). Everything else: per chunk of
# samples and group, im2col writes the columns in the order the GEMM reads them, a
# group's rows consecutive: one GEMM per sample on (m, C*kh*kw, Ho*Wo) where C*kh*kw <=
# Ho*Wo, else one on (C*kh*kw, m*Ho*Wo) (see native.py's _per_sample). AVX512_CONV = False: im2col
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
HAS_AVX512 = (os.environ.get("TLCORE_AVX512", "1") != "0"
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


def takes_avx512(dtype, groups, x_shape, weight_shape, out_size, padding):
    """True if this call goes to the AVX-512 kernels (csrc/conv_avx512.c, or
    csrc/winograd_avx512.c where takes_winograd says so): float32, one group, no empty axis,
    enough input channels for the tiles (C_in >= AVX512_MIN_CHANNELS and C_in*kh*kw >=
    AVX512_MIN_DEPTH), and offsets within 32 bits (the padded sample, 16 output planes,
    16 rows of columns)."""
    c_in, (height, width), (kh, kw) = x_shape[1], x_shape[2:], weight_shape[2:]
    padded = c_in * (height + 2 * padding[0]) * (width + 2 * padding[1])
    return (AVX512_CONV and HAS_AVX512 and groups == 1 and dtype == np.float32
            and c_in >= AVX512_MIN_CHANNELS and c_in * kh * kw >= AVX512_MIN_DEPTH
            and min(x_shape) > 0 and min(weight_shape) > 0 and min(out_size) > 0
            and padded < 2**31 - 2**20 and 16 * out_size[0] * out_size[1] < 2**31
            and 16 * c_in * kh * kw < 2**31)


def takes_winograd(kernel, stride, dilation):
    """True if an AVX-512 call with this geometry takes Winograd's kernels rather than
    the direct tiles (csrc/winograd_avx512.c: F(2x2, 3x3) for the forward and the input
    gradient, F(3x3, 2x2) for the weight gradient, 2.25x fewer multiply-adds): a 3x3
    kernel at stride 1 and dilation 1."""
    return (WINOGRAD and tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1))


ForwardPlan = namedtuple("ForwardPlan", "winograd floats")


def forward_plan(x_shape, c_out, kernel, stride, padding, dilation, out_size):
    """A ForwardPlan: which AVX-512 forward runs, Winograd's (where the geometry allows it
    and its scratch fits) or the direct tiles', and the floats of scratch it needs; None
    where neither should run: fewer samples than AVX512_MIN_SAMPLES, or more scratch than
    AVX512_SAMPLE_BYTES per thread and 1 MiB."""
    workers = _native.max_threads()
    if x_shape[0] < (AVX512_MIN_SAMPLES or workers):
        return None
    for winograd in (True, False) if takes_winograd(kernel, stride, dilation) else (False,):
        floats = _native.conv_avx512_forward_scratch(x_shape, c_out, kernel, stride, padding,
                                                     dilation, out_size, winograd=winograd)
        if 4 * floats <= AVX512_SAMPLE_BYTES * workers + 2**20:
            return ForwardPlan(winograd, floats)
    return None


def sample_bytes(geometry, winograd):
    """The bytes of one sample's buffers in a weight gradient on AVX-512 (Winograd's or
    the direct tiles'): what its scratch grows by per sample of a chunk."""
    scratch = _native.conv_avx512_backward_weight_scratch
    return 4 * (scratch(*geometry, 1, winograd=winograd)
                - scratch(*geometry, 0, winograd=winograd))


def samples_per_chunk(geometry, n, most, winograd):
    """How many samples a weight gradient on AVX-512 sums at a time: as many as have
    their buffers within ``most`` bytes, at most n (0 if not even one)."""
    return min(n, most // sample_bytes(geometry, winograd))
