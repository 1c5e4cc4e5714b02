"""The compiled Cython backend (tlcore._native, wrapped by kernels/backends/native.py): what the
build reports, the dtypes it serves and refuses, layouts, NaN and tie semantics, index
checks, and determinism across thread counts. Parity with the numpy reference on drawn
inputs is tests/test_kernel_backends.py's; this file checks what is particular to it."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tlcore import kernels
from tlcore.kernels import reference
from tlcore.kernels.backends import numpy_fast

REASON = kernels.unavailable().get("native")
pytestmark = pytest.mark.skipif(REASON is not None,
                                reason=f"the native backend is not built here: {REASON}")

CONV = ((1, 1), (1, 1), (1, 1), 1)  # stride, padding, dilation, groups


@pytest.fixture(scope="module")
def native():
    from tlcore.kernels.backends import native
    return native


def kernel_calls(dtype, rng=None):
    """{op: (arguments)} of every kernel on small inputs of ``dtype``."""
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    g = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    f = rng.standard_normal((5, 4)).astype(dtype)
    e = rng.standard_normal((3, 4)).astype(dtype)
    target, negative = np.array([0, 2, 1, 1, 0]), np.array([1, 0, 2, 0, 2])
    weight = rng.standard_normal(5).astype(dtype)
    argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))[1]
    return {
        "grad_reverse_backward": (x, 0.5),
        "conv2d_forward": (x, w) + CONV,
        "conv2d_backward_input": (g, w, x.shape) + CONV,
        "conv2d_backward_weight": (g, x, w.shape) + CONV,
        "maxpool2d_forward": (x, (2, 2), (2, 2), (0, 0)),
        "maxpool2d_backward": (g[:, :3, :3, :2], argmax, x.shape),
        "embedding_scores": (f, e),
        "hinge_max_forward": (f @ e.T, target, 1.0),
        "hinge_max_backward": (f, e, target, negative, weight),
    }


def assert_same(result, expected, rtol):
    results = result if isinstance(result, tuple) else (result,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    for a, b in zip(results, expecteds, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_the_build_reports_openmp_and_threads(native):
    assert isinstance(native.openmp_enabled(), bool)
    assert native.max_threads() >= 1
    if native.openmp_enabled():  # OpenMP reads OMP_NUM_THREADS at start-up
        code = "from tlcore.kernels.backends import native; print(native.max_threads())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=dict(os.environ, OMP_NUM_THREADS="3"))
        assert out.stdout.strip() == "3"


def test_every_kernel_has_a_native_implementation():
    assert kernels.ops("native") == kernels.ops("numpy")


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_float32_and_float64_are_both_served(native, dtype, rtol):
    for op, args in kernel_calls(dtype).items():
        assert_same(getattr(native, op)(*args), getattr(reference, op)(*args), rtol)


@pytest.mark.parametrize("op", sorted(kernel_calls(np.float64)))
@pytest.mark.parametrize("bad", [np.float16, np.int64])
def test_other_dtypes_run_the_numpy_backend(native, op, bad):
    """Integer images for max pooling, float16: the numpy backend's result (the registry's
    fallback, numpy_fast.py), or its error."""
    args = list(kernel_calls(np.float64)[op])
    args[0] = args[0].astype(bad)
    try:
        expected = getattr(numpy_fast, op)(*args)
    except Exception as error:
        with pytest.raises(type(error)):
            getattr(native, op)(*args)
    else:
        assert_same(getattr(native, op)(*args), expected, 0)


def test_mixed_float_dtypes_promote_like_the_reference(native):
    calls = kernel_calls(np.float64)
    for op in ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
               "embedding_scores", "hinge_max_backward"):
        args = list(calls[op])
        args[1] = args[1].astype(np.float32)
        assert_same(getattr(native, op)(*args), getattr(reference, op)(*args), 1e-6)


def test_non_contiguous_inputs(native):
    """Fortran-ordered and reversed views go through the documented contiguous copy."""
    for op, args in kernel_calls(np.float64).items():
        strided = tuple(np.asfortranarray(a)[..., ::-1][..., ::-1]
                        if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                        for a in args)
        assert any(isinstance(a, np.ndarray) and not a.flags.c_contiguous for a in strided)
        assert_same(getattr(native, op)(*strided), getattr(reference, op)(*args), 1e-12)


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((2, 1), (1, 0), (1, 2), 1), ((1, 2), (2, 1), (2, 1), 3), ((3, 3), (0, 0), (1, 1), 1)])
def test_conv2d_geometry_and_chunks(native, monkeypatch, stride, padding, dilation, groups):
    """Strides, padding, dilation and groups, with the batch cut into one-sample chunks
    (a columns budget of 1 byte) and in one chunk."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 9, 8))
    w = rng.standard_normal((6, 6 // groups, 3, 2))
    settings = (stride, padding, dilation, groups)
    out = reference.conv2d_forward(x, w, *settings)
    g = rng.standard_normal(out.shape)
    for budget in (1, 2**30):
        monkeypatch.setattr(native, "CONV2D_CHUNK_BYTES", budget)
        assert_same(native.conv2d_forward(x, w, *settings), out, 1e-12)
        assert_same(native.conv2d_backward_input(g, w, x.shape, *settings),
                    reference.conv2d_backward_input(g, w, x.shape, *settings), 1e-12)
        assert_same(native.conv2d_backward_weight(g, x, w.shape, *settings),
                    reference.conv2d_backward_weight(g, x, w.shape, *settings), 1e-12)


@pytest.mark.parametrize("kernel, stride, padding", [
    ((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 1), (1, 1))])
def test_max_pool_ties_infinities_and_nan(native, kernel, stride, padding):
    """Ties (small integers), -inf everywhere in some windows, and a NaN: the outputs
    and, away from the NaN, the indices are the reference's."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (2, 3, 7, 6)).astype(np.float32)
    x[0, 0, :3, :3] = -np.inf
    x[1, 2, 4, 4] = np.nan
    out, argmax = native.maxpool2d_forward(x, kernel, stride, padding)
    expected, expected_argmax = reference.maxpool2d_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(out, expected)  # NaN where the reference has NaN
    clean = ~np.isnan(expected)
    np.testing.assert_array_equal(argmax[clean], expected_argmax[clean])


def test_max_pool_backward_adds_overlapping_windows(native):
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5))
    _, argmax = reference.maxpool2d_forward(x, (3, 3), (1, 1), (1, 1))
    g = np.random.default_rng(4).standard_normal(argmax.shape)
    assert_same(native.maxpool2d_backward(g, argmax, x.shape),
                reference.maxpool2d_backward(g, argmax, x.shape), 1e-12)


def test_hinge_ties_and_nan_follow_the_reference(native):
    scores = np.array([[1.0, 3.0, 3.0, 0.0],   # tie between 1 and 2: the first
                       [5.0, 1.0, 5.0, 5.0],   # target 0 ties too: excluded
                       [0.0, np.nan, 2.0, np.nan],  # numpy's argmax: the first NaN
                       [2.0, 1.0, 1.0, 1.0]])  # target 3, tie 1 and 2 below 0
    target = np.array([3, 0, 0, 3])
    loss, negative = native.hinge_max_forward(scores, target, 0.5)
    expected_loss, expected_negative = reference.hinge_max_forward(scores, target, 0.5)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(negative, expected_negative)


def test_class_indices_out_of_range_are_an_index_error(native):
    f, g = np.ones((2, 3)), np.ones((4, 3))
    with pytest.raises(IndexError, match=r"target holds the class index 4, outside \[0, 4\)"):
        native.hinge_max_forward(f @ g.T, np.array([0, 4]), 1.0)
    with pytest.raises(IndexError, match="negative holds the class index -1"):
        native.hinge_max_backward(f, g, np.array([0, 1]), np.array([-1, 2]), np.ones(2))
    with pytest.raises(TypeError, match="target must hold integer indices"):
        native.hinge_max_forward(f @ g.T, np.array([0.0, 1.0]), 1.0)


def test_the_compiled_module_checks_the_sizes_it_writes():
    """A wrong output size is a ValueError from the module, never a write out of bounds."""
    from tlcore import _native
    with pytest.raises(ValueError, match="swap01: dst must have shape"):
        _native.swap01(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="im2col: cols must be"):
        _native.im2col(np.zeros((1, 1, 4, 4)), 0, 1, (3, 3), (1, 1), (1, 1), (1, 1),
                       np.zeros((9, 1, 15)))
    with pytest.raises(ValueError, match="scale: dst has|dst has 2 elements"):
        _native.scale(np.zeros(3), 1.0, np.zeros(2))


def test_results_do_not_depend_on_the_number_of_threads():
    """Every loop gives each thread its own rows or planes of the output, and the hinge
    backward sums each class's samples in sample order: the same bits at 1 and 2
    threads (the scatter into grad_g needs no atomics)."""
    code = (
        "import numpy as np, hashlib\n"
        "from tlcore.kernels.backends import native\n"
        "rng = np.random.default_rng(5)\n"
        "f, g = rng.standard_normal((300, 16)), rng.standard_normal((7, 16))\n"
        "target = rng.integers(0, 7, 300)\n"
        "loss, negative = native.hinge_max_forward(f @ g.T, target, 1.0)\n"
        "gf, gg = native.hinge_max_backward(f, g, target, negative, rng.standard_normal(300))\n"
        "x = rng.standard_normal((4, 3, 9, 9)); w = rng.standard_normal((5, 3, 3, 3))\n"
        "settings = ((1, 1), (1, 1), (1, 1), 1)\n"
        "gx = native.conv2d_backward_input(np.ones((4, 5, 9, 9)), w, x.shape, *settings)\n"
        "arrays = (loss, gf, gg, gx)\n"
        "print(hashlib.sha256(b''.join(a.tobytes() for a in arrays)).hexdigest())\n")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env=dict(os.environ, OMP_NUM_THREADS=threads,
                                                   OPENBLAS_NUM_THREADS="1")).stdout
               for threads in ("1", "2")}
    assert len(digests) == 1


CSRC = os.path.join(os.path.dirname(__file__), os.pardir, "csrc")


def _compiler():
    import shutil
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


@pytest.mark.skipif(_compiler() is None, reason="no C compiler on this machine")
@pytest.mark.parametrize("route", ["route_avx512.c", "route_avx2.c", "route_base.c"])
@pytest.mark.parametrize("elsewhere", [False, True])
def test_each_route_compiles_built_or_not(tmp_path, route, elsewhere):
    """Each route's file compiles here with its kernels, and, as on a compiler or CPU
    family that cannot build them (Windows's macro given: its long is 32 bits), to
    a table that says it was not built, which the module then never takes."""
    flags = ["-D_WIN32"] if elsewhere else []
    done = subprocess.run([_compiler(), "-O1", "-fopenmp", "-Wall", "-Werror", "-c",
                           os.path.join(CSRC, route), "-o", str(tmp_path / "route.o"),
                           *flags], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_routes_are_listed_widest_first():
    from tlcore import _native
    routes = _native.routes()
    assert [(r["key"], r["name"]) for r in routes[:2]] == [("avx512", "AVX-512F"),
                                                           ("avx2", "AVX2+FMA")]
    assert routes[2]["key"] in ("neon", "sse2", "vectors")
    assert [r["lanes"] for r in routes if r["built"]] == sorted(
        [r["lanes"] for r in routes if r["built"]], reverse=True)
    for r in routes:
        assert r["supported"] <= r["built"]  # the CPU never runs what was not built


def _route_conv(native_module, seed):
    """A float32 convolution's three kernels on this machine's compiled route, on a team
    of two threads, against the reference."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((20, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((4, 20, 9, 9)).astype(np.float32)
    got = (native_module.conv2d_forward(x, w, *CONV),
           native_module.conv2d_backward_weight(g, x, w.shape, *CONV))
    expected = (reference.conv2d_forward(x, w, *CONV),
                reference.conv2d_backward_weight(g, x, w.shape, *CONV))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def _no_route():
    """Why no compiled route runs here (the native module missing, or no route taken), or
    None."""
    if REASON is not None:
        return f"the native backend is not built here: {REASON}"
    from tlcore.kernels.backends import routes
    return None if routes.ROUTE else "no compiled route is taken here: " + "; ".join(
        routes.PASSED)


NO_ROUTE = _no_route()
needs_a_route = pytest.mark.skipif(NO_ROUTE is not None, reason=str(NO_ROUTE))


@needs_a_route
def test_info_names_each_kernels_register_tile(native):
    """The convolutions' tile (TILE_ROWS x NR in csrc/simd.h) and the fused hinge's, the
    packed GEMM's (MR x NR): two sizes on AVX-512, where MR is 12 and TILE_ROWS 14."""
    from tlcore import _native
    from tlcore.kernels.backends import routes
    tiles = {r["key"]: (r["tile"], r["gemm_tile"]) for r in _native.routes() if r["built"]}
    assert tiles.get("avx512", ((14, 32), (12, 32))) == ((14, 32), (12, 32))
    assert tiles.get("avx2", ((6, 16), (6, 16))) == ((6, 16), (6, 16))
    conv, hinge = routes.describe()[:2]
    tile, gemm_tile = ("x".join(map(str, t)) for t in tiles[routes.ROUTE["key"]])
    assert f"({tile} tile)" in conv and f"({gemm_tile} tile)" in hinge


@needs_a_route
def test_few_classes_leave_the_fused_hinge_to_the_score_gemm(native, monkeypatch):
    """Below routes.MIN_HINGE_CLASSES classes the hinge forward from embeddings is the
    score GEMM and the scan; from it, the fused kernel (csrc/hinge.c). Both give the
    reference's values."""
    from tlcore import _native
    from tlcore.kernels.backends import routes
    fused, compiled = [], _native.hinge_fused_forward
    monkeypatch.setattr(_native, "hinge_fused_forward",
                        lambda *args: fused.append(1) or compiled(*args))
    rng = np.random.default_rng(3)
    target = rng.integers(0, 31, 40)
    for classes in (routes.MIN_HINGE_CLASSES - 1, routes.MIN_HINGE_CLASSES):
        f = rng.standard_normal((40, 8)).astype(np.float32)
        g = rng.standard_normal((classes, 8)).astype(np.float32)
        loss, negative = native.embedding_hinge_max_forward(f, g, target, 1.0)
        expected_loss, expected_negative = reference.embedding_hinge_max_forward(
            f, g, target, 1.0)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(negative, expected_negative)
        assert len(fused) == (classes >= routes.MIN_HINGE_CLASSES)


@pytest.fixture
def team_of_two(native):
    """The routes' kernels on tlcore's own team of two threads from the first element."""
    from tlcore import _native
    before = _native.set_team(2, 1)
    yield _native
    _native.set_team(*before)


@pytest.mark.parametrize("size", [2, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_blocks_on_a_team_give_the_reference(native, size, dtype):
    """axpy's blocks of 32,768 elements (csrc/axpy.c) claimed by a team of 2, and of 6
    on fewer cores (workers that start late are left out), over 3 blocks and 5 elements:
    every element updated once."""
    from tlcore import _native
    rng = np.random.default_rng(4)
    before = _native.set_team(size, 1)
    try:
        for _ in range(10):
            x = rng.standard_normal(3 * 32768 + 5).astype(dtype)
            y = rng.standard_normal(3 * 32768 + 5).astype(dtype)
            expected = reference.axpy(-0.25, x, y.copy())
            rtol = 1e-6 if dtype == np.float32 else 1e-14  # a compiler may fuse a*x + y
            np.testing.assert_allclose(native.axpy(-0.25, x, y), expected, rtol=rtol,
                                       atol=rtol)
    finally:
        _native.set_team(*before)


@needs_a_route
def test_the_team_serves_two_python_threads_at_once(native, team_of_two):
    """Kernels called from two Python threads together: one gets the team, the other runs
    on its own thread; both right."""
    import threading
    errors = []

    def work(seed):
        try:
            for _ in range(5):
                _route_conv(native, seed)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
    workers = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not errors, errors
    assert team_of_two.team_workers() >= 1


@needs_a_route
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is missing on this platform")
def test_a_forked_child_starts_a_team_of_its_own(native, team_of_two):
    """The parent's team threads are not in a fork's child: it starts its own."""
    _route_conv(native, 3)
    assert team_of_two.team_workers() >= 1
    pid = os.fork()
    if pid == 0:  # the child: exit 0 if its kernels run and are right
        status = 1
        try:
            _route_conv(native, 4)
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
