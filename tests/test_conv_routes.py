"""The native backend's float32 convolution on each compiled route (csrc/conv.c on
AVX-512F, AVX2+FMA and the baseline's vectors) against the reference, on every geometry
the conv tests draw, with groups = 1: the thresholds are lowered so that every drawn case
takes it (the tiles' edges, strides, dilation, padding past the kernel for the weight
gradient; the forward takes it at column stride 1, the input gradient at stride 1). The
direct tiles take the draws; a 3x3 kernel at stride 1 takes Winograd's kernels
(tests/test_winograd_routes.py), unless a test here turns them off. A route this machine
lacks is skipped with the reason (conftest.py), and so is every test where the native
module is missing."""

import contextlib
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kernel_backends import assert_matches, conv_cases, run, strided

from tlcore import kernels
from tlcore.kernels import reference


def _missing():
    """Why these tests cannot run on this machine, or None (then ``native`` is loaded)."""
    global native, routes
    reason = kernels.unavailable().get("native")
    if reason is not None:
        return f"kernel backend 'native' is not available here: {reason}"
    from tlcore.kernels.backends import native, routes
    return None


native = routes = None
REASON = _missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


@contextlib.contextmanager
def parallel_from(work, size=2):
    """Inside the block, the routes' kernels over at least ``work`` elements run on a
    team of ``size`` threads (tlcore's own, csrc/team.h), and the OpenMP loops on every
    thread."""
    from tlcore import _native
    before = _native.set_parallel_min_work(work), _native.set_team(size, work)
    try:
        yield
    finally:
        _native.set_parallel_min_work(before[0])
        _native.set_team(*before[1])


def assert_native_conv_matches(x, w, g, settings):
    """The native forward, input gradient and weight gradient of (x, w) against the
    reference (g: the output's gradient), each within float32 rounding of the sums of
    magnitudes."""
    ax, aw, ag = np.abs(x), np.abs(w), np.abs(g)
    assert_matches(run("native", "conv2d_forward", x, w, *settings),
                   reference.conv2d_forward(x, w, *settings), 1e-4,
                   reference.conv2d_forward(ax, aw, *settings))
    assert_matches(run("native", "conv2d_backward_input", g, w, x.shape, *settings),
                   reference.conv2d_backward_input(g, w, x.shape, *settings), 1e-4,
                   reference.conv2d_backward_input(ag, aw, x.shape, *settings))
    assert_matches(run("native", "conv2d_backward_weight", g, x, w.shape, *settings),
                   reference.conv2d_backward_weight(g, x, w.shape, *settings), 1e-4,
                   reference.conv2d_backward_weight(ag, ax, w.shape, *settings))


def one_group(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    return (x_shape[0], x_shape[1] // groups, *x_shape[2:]), \
        (w_shape[0] // groups, w_shape[1], *w_shape[2:]), stride, padding, dilation, 1


@given(case=conv_cases().map(one_group), wide=st.booleans(), noncontiguous=st.booleans(),
       seed=st.integers(0, 2**16))
def test_tiles_conv_matches_reference(every_call_on_tiles, case, wide, noncontiguous,
                                       seed):
    x_shape, w_shape, *settings = case
    if wide:  # past one tile's rows (14 on AVX-512) and its columns (32), and
        x_shape = (x_shape[0], 28, *x_shape[2:])  # past 128 steps a pass
        w_shape = (40, 28, *w_shape[2:])
    rng = np.random.default_rng(seed)
    x = strided(rng.standard_normal(x_shape).astype(np.float32), noncontiguous)
    w = strided(rng.standard_normal(w_shape).astype(np.float32), noncontiguous)
    out = reference.conv2d_forward(x, w, *settings)
    g = strided(rng.standard_normal(out.shape).astype(np.float32), noncontiguous)
    assert routes.takes_tiles(np.float32, 1, x_shape, w_shape, out.shape[2:],
                                     settings[1])
    assert_native_conv_matches(x, w, g, settings)


def test_tiles_weight_gradient_is_the_same_at_any_thread_count(every_call_on_tiles,
                                                                monkeypatch):
    """Each thread owns whole tiles of the weight gradient and sums the samples into
    them in order: the bits do not depend on the number of threads. A chunk of samples
    is summed as one long product, so a smaller chunk sums in another order (the same
    values to float32 rounding). The direct tiles: Winograd's route off."""
    monkeypatch.setattr(routes, "WINOGRAD", False)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 6, 9, 9)).astype(np.float32)
    g = rng.standard_normal((7, 40, 9, 9)).astype(np.float32)
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    results = []
    for work in (1, 2**62):  # every loop on every thread, then on the calling thread
        with parallel_from(work):
            results.append(run("native", "conv2d_backward_weight", g, x, (40, 6, 3, 3),
                               *geometry))
    np.testing.assert_array_equal(results[0], results[1])
    monkeypatch.setattr(routes, "CHUNK_BYTES", 1)  # one sample at a time
    one_by_one = run("native", "conv2d_backward_weight", g, x, (40, 6, 3, 3), *geometry)
    expected = reference.conv2d_backward_weight(g, x, (40, 6, 3, 3), *geometry)
    scale = reference.conv2d_backward_weight(np.abs(g), np.abs(x), (40, 6, 3, 3), *geometry)
    for result in (results[0], one_by_one):
        assert_matches(result, expected, 1e-5, scale)


@pytest.mark.parametrize("x_shape, stride, padding, dilation, forwards", [
    ((2, 6, 14, 14), (1, 1), (1, 1), (1, 1), 2),  # conv2 of the bench: rows of 14, a tile
    ((2, 6, 8, 8), (1, 1), (1, 1), (1, 1), 2),    # conv3: rows of 8
    ((2, 6, 4, 13), (1, 1), (0, 0), (1, 1), 2),   # rows of 11: 12 rows of registers, or 6
    ((2, 6, 3, 6), (1, 1), (0, 0), (1, 1), 2),    # rows of 4
    ((2, 6, 9, 31), (1, 1), (2, 0), (1, 2), 1),   # rows of 27: tiles of 13 and 14; dilated
    ((2, 6, 5, 5), (2, 1), (0, 1), (1, 1), 1),    # row stride 2, rows of 5
    ((2, 6, 9, 9), (2, 2), (1, 1), (1, 1), 0),    # column stride 2: the forward is im2col's
])
def test_tiles_conv_tiles_of_output_rows(every_call_on_tiles, tile_calls, monkeypatch,
                                          x_shape, stride, padding, dilation, forwards):
    """The forward splits each output row into tiles of at most TILE_ROWS pixels (on
    AVX-512 14, held in 4, 8, 12 or 14 rows of registers; on AVX2 6, in 1, 2, 4 or 6):
    rows of each kind, with 40 output channels (panels of 32 and 8, or of 16, 16 and 8),
    against the reference. The weight gradient takes the compiled code
    at every geometry; ``forwards`` of the forward and the input gradient (at stride 1
    and dilation 1) take it, with Winograd's route (tests/test_winograd_routes.py) off."""
    monkeypatch.setattr(routes, "WINOGRAD", False)
    rng = np.random.default_rng(2)
    settings = (stride, padding, dilation, 1)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((40, x_shape[1], 3, 3)).astype(np.float32)
    g = rng.standard_normal(reference.conv2d_forward(x, w, *settings).shape).astype(np.float32)
    assert_native_conv_matches(x, w, g, settings)
    assert tile_calls.get("conv_tiles_forward", 0) == forwards
    assert tile_calls["conv_tiles_backward_weight"] == 1


def test_tiles_conv_on_every_thread_with_wide_images(every_call_on_tiles, monkeypatch):
    """Every loop parallel (the small cases above run on one thread), rows wider than a
    tile (40 pixels: three tiles), an odd batch: forward, input gradient (the direct
    tiles: Winograd's route off), weight gradient."""
    monkeypatch.setattr(routes, "WINOGRAD", False)
    rng = np.random.default_rng(3)
    settings = ((1, 1), (1, 1), (1, 1), 1)
    x = rng.standard_normal((5, 6, 9, 40)).astype(np.float32)
    w = rng.standard_normal((17, 6, 3, 3)).astype(np.float32)
    g = rng.standard_normal(reference.conv2d_forward(x, w, *settings).shape).astype(np.float32)
    with parallel_from(1):
        assert_native_conv_matches(x, w, g, settings)


def test_tiles_conv_refuses_a_grad_out_of_the_wrong_shape(every_call_on_tiles):
    """A direct kernel call with grad_out smaller than the output: a clear error, not a
    read past the buffer."""
    rng = np.random.default_rng(4)
    settings = ((1, 1), (1, 1), (1, 1), 1)
    x = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32)
    small = rng.standard_normal((2, 8, 7, 7)).astype(np.float32)
    with pytest.raises(ValueError, match="grad_out must have the output's shape"):
        run("native", "conv2d_backward_input", small, w, x.shape, *settings)
    with pytest.raises(ValueError, match="grad_out must have the output's shape"):
        run("native", "conv2d_backward_weight", small, x, w.shape, *settings)


def test_the_compiled_conv_refuses_a_geometry_that_does_not_add_up(every_call_on_tiles):
    """The C code trusts its geometry; the wrapper checks it first."""
    index = every_call_on_tiles["index"]
    from tlcore import _native
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    scratch = np.zeros(1 << 16, np.float32)
    for out_shape, stride, padding in [((1, 3, 4, 4), (1, 1), (0, 0)),   # 3x3 is right
                                       ((1, 3, 3, 3), (1, 1), (-1, 0)),  # negative padding
                                       ((1, 3, 3, 3), (0, 1), (0, 0)),   # zero stride
                                       ((1, 3, 3, 2), (1, 2), (0, 0))]:  # column stride 2
        out = np.zeros(out_shape, np.float32)
        with pytest.raises(ValueError, match="conv_tiles"):
            _native.conv_tiles_forward(index, x, w, stride, padding, (1, 1), out, scratch)


def test_offsets_past_32_bits_are_refused_before_any_memory_is_touched(every_call_on_tiles):
    """The C code keeps offsets in 32-bit ints: the Python gate sends such shapes to im2col,
    and the compiled wrappers refuse them (shapes only: nothing this large is allocated)."""
    index = every_call_on_tiles["index"]
    from tlcore import _native
    big_x, big_w = (1, 16, 3000, 3000), (16, 16, 3000, 3000)  # 16*C*kh*kw > 2**31
    assert not routes.takes_tiles(np.float32, 1, big_x, big_w, (1, 1), (0, 0))
    geometry = ((3000, 3000), (1, 1), (0, 0), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="too large for its 32-bit offsets"):
        _native.conv_tiles_forward_scratch(index, big_x, 16, *geometry)
    with pytest.raises(ValueError, match="chunk must be >= 0, got -5"):
        _native.conv_tiles_backward_weight_scratch(index, (1, 2, 5, 5), 3, (3, 3), (1, 1),
                                                   (1, 1), (1, 1), (5, 5), -5)
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        _native.conv_tiles_backward_weight(index, np.zeros((1, 3, 25), np.float32), x,
                                           (3, 3), (1, 1), (1, 1), (1, 1), (5, 5),
                                           np.zeros((3, 2, 3, 3), np.float32),
                                           np.zeros(1 << 16, np.float32), 0)


def test_a_route_this_cpu_does_not_run_is_refused():
    """Asked for a route it was not built with or the CPU lacks, the compiled module
    raises instead of executing instructions the CPU may not have."""
    from tlcore import _native
    missing = [route for route in routes.ROUTES if not route["supported"]]
    for index in [route["index"] for route in missing] + [len(routes.ROUTES), -1]:
        with pytest.raises(RuntimeError, match="is not built or this CPU does not run it"):
            _native.conv_tiles_forward_scratch(index, (1, 2, 5, 5), 3, (3, 3), (1, 1),
                                               (1, 1), (1, 1), (5, 5))


def _route_in_a_fresh_process(simd):
    """routes.ROUTE's key (or None) and PASSED, with TLCORE_SIMD=simd, in a subprocess."""
    import subprocess
    import sys
    check = ("from tlcore.kernels.backends import routes; "
             "print(routes.ROUTE and routes.ROUTE['key']); print(routes.PASSED)")
    env = {**os.environ, "TLCORE_SIMD": simd}
    return subprocess.run([sys.executable, "-c", check], env=env, capture_output=True,
                          text=True, timeout=120)


def test_tlcore_simd_forces_a_narrower_route():
    """TLCORE_SIMD=avx2 takes the route an AVX2 CPU takes, on this one (what the README's
    AVX2 numbers use), and says why the wider one is passed over; none takes im2col and
    BLAS; a value it does not know is refused, naming the ones it knows."""
    supported = [route["key"] for route in routes.ROUTES if route["supported"]]
    expected = "avx2" if "avx2" in supported else supported[0] if supported else "None"
    done = _route_in_a_fresh_process("avx2")
    assert done.returncode == 0, done.stderr
    key, passed = done.stdout.splitlines()
    assert key == expected
    if "avx512" in supported:
        assert "AVX-512F: TLCORE_SIMD=avx2 leaves it out" in passed
    done = _route_in_a_fresh_process("none")
    assert done.stdout.splitlines()[0] == "None"
    done = _route_in_a_fresh_process("avx1024")
    assert done.returncode != 0
    assert "TLCORE_SIMD must be one of avx512, avx2," in done.stderr


@pytest.mark.skipif(REASON is not None, reason=str(REASON))
def test_without_a_route_the_native_backend_takes_im2col(tile_calls, monkeypatch):
    """No route taken (TLCORE_SIMD=none, or a build or CPU with none): every convolution
    and hinge call goes through im2col and BLAS, the scan after the GEMM, the hinge's
    sparse backward through Cython's loops, and is right."""
    monkeypatch.setattr(routes, "ROUTE", None)
    rng = np.random.default_rng(6)
    settings = ((1, 1), (1, 1), (1, 1), 1)
    x = rng.standard_normal((4, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((20, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((4, 20, 9, 9)).astype(np.float32)
    assert_native_conv_matches(x, w, g, settings)
    assert tile_calls == {}
    f, e = rng.standard_normal((6, 5), np.float32), rng.standard_normal((4, 5), np.float32)
    target = np.array([0, 1, 2, 3, 0, 1])
    loss, negative = run("native", "embedding_hinge_max_forward", f, e, target, 1.0)
    expected_loss, expected_negative = reference.embedding_hinge_max_forward(f, e, target, 1.0)
    np.testing.assert_array_equal(negative, expected_negative)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-6)
    from tlcore import _native
    monkeypatch.delattr(_native, "hinge_max_backward_route")  # a call to it would fail
    weight = (loss > 0).astype(np.float32)
    got = run("native", "hinge_max_backward", f, e, target, negative, weight)
    expected = reference.hinge_max_backward(f, e, target, negative, weight)
    for got_grad, expected_grad in zip(got, expected):
        np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-5, atol=1e-6)




@pytest.mark.parametrize("kernel, calls", [
    (5, {"conv_tiles_forward": 1, "conv_tiles_backward_weight": 1}),
    (3, {"winograd_tiles_forward": 2, "winograd_tiles_backward_weight": 1})])
def test_one_output_channel_routes(every_call_on_tiles, monkeypatch, tile_calls, kernel,
                                   calls):
    """One output channel (an autoencoder's last layer), at the shipped thresholds and a
    route that wants 2 output channels (as AVX-512's). The direct forward would fill one
    lane of the tile's vectors, so a 5x5 forward takes im2col (MIN_OUT_CHANNELS);
    Winograd's 3x3 forward keeps its tiles. The input gradient, the forward of that one
    channel, takes the tiles either way (thin=True): the other way is outer products and
    col2im. Every result right."""
    monkeypatch.setattr(routes, "MIN_CHANNELS", 4)
    monkeypatch.setattr(routes, "MIN_DEPTH", 32)
    monkeypatch.setattr(routes, "MIN_OUT_CHANNELS", {every_call_on_tiles["key"]: 2})
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 8, 10, 10)).astype(np.float32)
    w = rng.standard_normal((1, 8, kernel, kernel)).astype(np.float32)
    g = rng.standard_normal((4, 1, 10, 10)).astype(np.float32)
    assert_native_conv_matches(x, w, g, ((1, 1), (kernel // 2,) * 2, (1, 1), 1))
    assert tile_calls == calls


@pytest.mark.parametrize("winograd", [False, True])
def test_convolution_with_workers_that_start_late(every_call_on_tiles, monkeypatch,
                                                  tile_calls, winograd):
    """A team of six on fewer cores, every loop claimed. The forward (and the input
    gradient, the same kernel) packs W's panels (the direct tiles; on AVX-512, 7 panels
    in 4 claims) or makes Winograd's transform of the kernel in claimed chunks, waits for
    the last one (tl_wait_done), then claims samples; the weight gradient, one sample a
    chunk here, claims each chunk's samples and then its tiles (or Winograd's positions),
    waits for the last of each, and claims grad_w's pieces at the end. Some workers wake
    after the others have claimed everything, and the team (tl_team_run) returns
    without them: every call gives one thread's bits."""
    monkeypatch.setattr(routes, "WINOGRAD", winograd)
    one_sample = routes.sample_bytes(((6, 12, 9, 11), 200, (3, 3), (1, 1), (1, 1), (1, 1),
                                      (9, 11)), True)
    monkeypatch.setattr(routes, "CHUNK_BYTES", 1)  # the direct tiles take at least one
    monkeypatch.setattr(routes, "WINOGRAD_CHUNK_BYTES", one_sample)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 12, 9, 11)).astype(np.float32)
    w = rng.standard_normal((200, 12, 3, 3)).astype(np.float32)
    g = rng.standard_normal((6, 200, 9, 11)).astype(np.float32)
    geometry = ((1, 1), (1, 1), (1, 1), 1)

    def three():
        return (run("native", "conv2d_forward", x, w, *geometry),
                run("native", "conv2d_backward_input", g, w, x.shape, *geometry),
                run("native", "conv2d_backward_weight", g, x, w.shape, *geometry))
    with parallel_from(1, size=1):
        alone = three()
    assert_matches(alone[0], reference.conv2d_forward(x, w, *geometry), 1e-4,
                   reference.conv2d_forward(np.abs(x), np.abs(w), *geometry))
    assert_matches(alone[2], reference.conv2d_backward_weight(g, x, w.shape, *geometry), 1e-4,
                   reference.conv2d_backward_weight(np.abs(g), np.abs(x), w.shape, *geometry))
    with parallel_from(1, size=6):
        for _ in range(30):
            for got, one_thread in zip(three(), alone):
                np.testing.assert_array_equal(got, one_thread)
    kernel = "winograd" if winograd else "conv"
    assert tile_calls == {f"{kernel}_tiles_forward": 62, f"{kernel}_tiles_backward_weight": 31}
