"""The compiled routes on a CPU family this machine is not: csrc/ and tests/route_driver.c
built for 64-bit ARM, where the base route is NEON, and run under qemu's user-mode
emulation, against the numpy reference. The same driver built for this machine runs every
route its CPU runs, so that a failure on ARM is the route's, not the driver's.

What it needs: an aarch64 cross compiler (Debian's gcc-aarch64-linux-gnu, with
libc6-dev-arm64-cross for the static link) and qemu-aarch64 (Debian's qemu-user); .ci/run
installs them. Where either is missing, the ARM cases are skipped with that reason. qemu
checks the results, not the speed: NEON is timed only on an ARM machine.
"""

import os
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from test_kernel_backends import assert_matches

from tlcore.kernels import reference

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
SOURCES = ["routes.c", "team.c", "route_avx512.c", "route_avx2.c", "route_base.c"]
BASE_ROUTE = 2  # csrc/routes.c: the base route, NEON on ARM

# kernel numbers of route_driver.c
CONV_FORWARD, CONV_BACKWARD_WEIGHT, HINGE_FORWARD, HINGE_BACKWARD = 1, 2, 3, 4
MAXPOOL_FORWARD, MAXPOOL_BACKWARD = 5, 6

Driver = namedtuple("Driver", "command routes")  # how to run a build, and its routes


def _cross_tools():
    """(compiler, emulator), or the reason they cannot be had."""
    compiler, emulator = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if compiler is None or emulator is None:
        return ("no aarch64 cross compiler and qemu-aarch64 here (Debian's "
                "gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user)")
    return compiler, emulator


def _build(compiler, flags, output, warnings_allowed):
    command = [compiler, "-O2", "-Wall", "-pthread", *flags, f"-I{CSRC}",
               *(str(CSRC / name) for name in SOURCES), str(ROOT / "tests" / "route_driver.c"),
               "-lm", "-o", str(output)]
    built = subprocess.run(command, capture_output=True, text=True)
    assert built.returncode == 0, f"{' '.join(command)}\n{built.stderr}"
    assert warnings_allowed or "warning" not in built.stderr, built.stderr
    return output


@pytest.fixture(scope="module", params=["aarch64", "this machine"])
def target(request, tmp_path_factory):
    """The ARM build under qemu (its base route), or the build for this machine (every
    route)."""
    folder = tmp_path_factory.mktemp("route_driver")
    if request.param == "aarch64":
        tools = _cross_tools()
        if isinstance(tools, str):
            pytest.skip(tools)
        compiler, emulator = tools
        # Debian's gcc for ARM: the build must be clean of -Wall's warnings
        driver = _build(compiler, ["-static"], folder / "route_driver_aarch64", False)
        return Driver([emulator, str(driver)], [BASE_ROUTE])
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler here")
    # whatever compiler this machine has (its warnings are not this test's subject)
    native = _build(compiler, [], folder / "route_driver", True)
    return Driver([str(native)], [0, 1, BASE_ROUTE])


def call(target, route, kernel, numbers, arrays, outputs, threads=1):
    """Run one kernel through the driver: ``numbers`` (up to 15 int64s, see
    route_driver.c), the input arrays, and the output (dtype, size) list; returns the
    outputs, or skips where this CPU does not run the route."""
    header = np.zeros(16, np.int64)
    header[0] = kernel
    header[1:1 + len(numbers)] = numbers
    request = header.tobytes() + b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    done = subprocess.run([*target.command, str(route)], input=request, capture_output=True,
                          env=dict(os.environ, TL_DRIVER_THREADS=str(threads)))
    if done.returncode == 3:
        pytest.skip(done.stderr.decode().strip())
    assert done.returncode == 0, done.stderr.decode()
    results, offset = [], 0
    for dtype, size in outputs:
        count = int(np.prod(size))
        results.append(np.frombuffer(done.stdout, dtype, count, offset).reshape(size))
        offset += count * np.dtype(dtype).itemsize
    assert offset == len(done.stdout), "the reply is longer than its outputs"
    return results


# (x shape, c_out, kernel, stride, padding, dilation): the tiles' edges, a row wider than
# a vector (37 pixels: the copies that end with an overlapping vector), strides,
# dilation, padding, and more output channels than the register tile has rows
CONVS = [
    ((2, 3, 7, 9), 5, (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 4, 5, 37), 17, (3, 3), (1, 1), (1, 1), (1, 1)),
    ((1, 3, 9, 8), 33, (2, 3), (2, 1), (0, 1), (2, 1)),
    ((3, 2, 6, 6), 4, (1, 1), (1, 1), (0, 0), (1, 1)),
]


def _conv_numbers(x_shape, c_out, kernel, stride, padding, dilation, last, winograd):
    return [*x_shape, c_out, *kernel, *stride, *padding, *dilation, last, winograd]


def _winograd_choices(kernel, stride, dilation):
    """The direct tiles always; Winograd's kernels where they apply (3x3, stride 1,
    dilation 1)."""
    fits = kernel == (3, 3) and stride == (1, 1) and dilation == (1, 1)
    return [0, 1] if fits else [0]


@pytest.mark.parametrize("case", CONVS)
def test_conv_forward_matches_reference(target, case):
    x_shape, c_out, kernel, stride, padding, dilation = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((c_out, x_shape[1], *kernel)).astype(np.float32)
    settings = (stride, padding, dilation, 1)
    expected = reference.conv2d_forward(x, w, *settings)
    scale = reference.conv2d_forward(np.abs(x), np.abs(w), *settings)
    for route in target.routes:
        for winograd in _winograd_choices(kernel, stride, dilation):
            numbers = _conv_numbers(x_shape, c_out, kernel, stride, padding, dilation, 0,
                                    winograd)
            for threads in (1, 2):
                (out,) = call(target, route, CONV_FORWARD, numbers, [x, w],
                              [(np.float32, expected.shape)], threads)
                assert_matches(out, expected, 1e-4, scale)


def test_conv_forward_with_the_transposed_weight_matches_reference(target):
    """transposed = 1: weight (C, C_out, kh, kw) read flipped, as the input gradient
    reads it."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 6, 7)).astype(np.float32)
    w = rng.standard_normal((6, 5, 3, 3)).astype(np.float32)
    kernel = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    settings = ((1, 1), (2, 2), (1, 1), 1)
    expected = reference.conv2d_forward(x, kernel, *settings)
    scale = reference.conv2d_forward(np.abs(x), np.abs(kernel), *settings)
    for route in target.routes:
        for winograd in (0, 1):
            numbers = _conv_numbers(x.shape, 5, (3, 3), (1, 1), (2, 2), (1, 1), 1, winograd)
            (out,) = call(target, route, CONV_FORWARD, numbers, [x, w],
                          [(np.float32, expected.shape)])
            assert_matches(out, expected, 1e-4, scale)


@pytest.mark.parametrize("case", CONVS)
def test_conv_weight_gradient_matches_reference(target, case):
    x_shape, c_out, kernel, stride, padding, dilation = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(np.float32)
    settings = (stride, padding, dilation, 1)
    w_shape = (c_out, x_shape[1], *kernel)
    out_shape = reference.conv2d_forward(x, np.zeros(w_shape, np.float32), *settings).shape
    g = rng.standard_normal(out_shape).astype(np.float32)
    expected = reference.conv2d_backward_weight(g, x, w_shape, *settings)
    scale = reference.conv2d_backward_weight(np.abs(g), np.abs(x), w_shape, *settings)
    for route in target.routes:
        for winograd in _winograd_choices(kernel, stride, dilation):
            for chunk, threads in ((1, 1), (2, 2)):
                numbers = _conv_numbers(x_shape, c_out, kernel, stride, padding, dilation,
                                        chunk, winograd)
                (grad_w,) = call(target, route, CONV_BACKWARD_WEIGHT, numbers,
                                 [x, g.reshape(x_shape[0], c_out, -1)],
                                 [(np.float32, w_shape)], threads)
                assert_matches(grad_w, expected, 1e-4, scale)


def test_fused_hinge_matches_reference(target):
    """More classes than one panel of the register tile, and a dimension that is no
    multiple of a vector."""
    rng = np.random.default_rng(4)
    n, classes, dim = 37, 70, 19
    f = rng.standard_normal((n, dim)).astype(np.float32)
    g = rng.standard_normal((classes, dim)).astype(np.float32)
    target_ = rng.integers(0, classes, n)
    loss, negative = reference.embedding_hinge_max_forward(f, g, target_, 1.0)
    scale = np.abs(f) @ np.abs(g).T
    for route in target.routes:
        for threads in (1, 2):
            got_loss, got_negative = call(
                target, route, HINGE_FORWARD, [n, classes, dim],
                [f, g, target_.astype(np.int64), np.float32([1.0])],
                [(np.float32, (n,)), (np.int64, (n,))], threads)
            np.testing.assert_array_equal(got_negative, negative)
            assert_matches(got_loss, loss, 1e-4, scale)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_sparse_hinge_backward_matches_reference(target, dtype, rtol):
    rng = np.random.default_rng(5)
    n, classes, dim = 41, 7, 23
    f = rng.standard_normal((n, dim)).astype(dtype)
    g = rng.standard_normal((classes, dim)).astype(dtype)
    target_ = rng.integers(0, classes, n)
    negative = (target_ + rng.integers(1, classes, n)) % classes
    weight = (rng.random(n) * (rng.random(n) < 0.7)).astype(dtype)
    grad_f, grad_g = reference.hinge_max_backward(f, g, target_, negative, weight)
    for route in target.routes:
        results = [call(target, route, HINGE_BACKWARD,
                        [n, classes, dim] + [0] * 11 + [dtype == np.float64],
                        [f, g, target_.astype(np.int64), negative.astype(np.int64), weight],
                        [(dtype, (n, dim)), (dtype, (classes, dim))], threads)
                   for threads in (1, 2)]
        assert_matches(results[0][0], grad_f, rtol, np.abs(g).max())
        assert_matches(results[0][1], grad_g, rtol, np.abs(f).sum(axis=0))
        for one, two in zip(*results):  # the same sums in the same order on a team
            np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_reference(target, dtype):
    """The 2x2 window at stride 2 on odd sizes (the last row and column left out), ties
    (small integers) resolved to the first element, and the backward."""
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, (3, 4, 9, 7)).astype(dtype)
    out, argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    grad_x = reference.maxpool2d_backward(grad_out, argmax, x.shape)
    planes = x.shape[0] * x.shape[1]
    numbers = [planes, 9, 7] + [0] * 11 + [dtype == np.float64]
    for route in target.routes:
        for threads in (1, 2):
            got_out, got_argmax = call(target, route, MAXPOOL_FORWARD, numbers, [x],
                                       [(dtype, out.shape), (np.int64, out.shape)], threads)
            np.testing.assert_array_equal(got_out, out)
            np.testing.assert_array_equal(got_argmax, argmax)
            (got_grad,) = call(target, route, MAXPOOL_BACKWARD, numbers, [grad_out, argmax],
                               [(dtype, x.shape)], threads)
            np.testing.assert_array_equal(got_grad, grad_x)
