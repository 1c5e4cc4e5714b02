"""The native backend's 3x3 convolution at stride 1 by Winograd's algorithm on each
compiled route (csrc/winograd.c) against the reference: the forward and the input gradient (the
forward of grad_out by the flipped kernel) by F(2x2, 3x3), the weight gradient by
F(3x3, 2x2), at every padding the input gradient can take (0 to 2), output sizes odd and
even (tiles of 2x2 pixels hanging over the edge), channels past a panel of 32 outputs and
past a register tile's rows. Skipped, with the reason, where the native module or the
route is missing (conftest.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_conv_routes import REASON, assert_native_conv_matches, parallel_from
from test_kernel_backends import assert_matches, run, strided

from tlcore.kernels import reference

native = routes = None  # tlcore.kernels.backends.native and .routes,
if REASON is None:                 # where REASON is None
    from tlcore.kernels.backends import routes, native

pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def settings(padding):
    """(stride, padding, dilation, groups) of a 3x3 convolution that Winograd's kernels
    take: stride 1, dilation 1, one group."""
    return (1, 1), padding, (1, 1), 1


def winograd_takes(x_shape, c_out, padding, out_size):
    """Whether the forward, the input gradient and the weight gradient of this call all go
    to Winograd's kernels (the thresholds lowered by every_call_on_tiles)."""
    n, c_in = x_shape[:2]
    forward = routes.forward_plan(x_shape, c_out, (3, 3), (1, 1), padding, (1, 1),
                                        out_size)
    backward_input = routes.forward_plan((n, c_out, *out_size), c_in, (3, 3), (1, 1),
                                               (2 - padding[0], 2 - padding[1]), (1, 1),
                                               x_shape[2:])
    chunk = routes.samples_per_chunk(geometry(x_shape, c_out, padding, out_size), n,
                                           routes.WINOGRAD_CHUNK_BYTES, True)
    return forward.winograd and backward_input.winograd and chunk >= 1


def geometry(x_shape, c_out, padding, out_size):
    """The compiled convolution's geometry arguments for a 3x3 kernel at stride 1:
    (x shape, c_out, kernel, stride, padding, dilation, output size)."""
    return x_shape, c_out, (3, 3), (1, 1), padding, (1, 1), out_size


def check(x, w, g, padding):
    """assert_native_conv_matches at this padding, stride 1 and dilation 1."""
    assert_native_conv_matches(x, w, g, settings(padding))


@st.composite
def winograd_cases(draw):
    """(x shape, weight shape, padding) of a 3x3 convolution with a non-empty output."""
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = [max(1, 3 - 2 * p) + draw(st.integers(0, 9)) for p in padding]
    c_in, c_out = draw(st.integers(1, 30)), draw(st.integers(1, 40))
    return (draw(st.integers(1, 3)), c_in, *size), (c_out, c_in, 3, 3), padding


@given(case=winograd_cases(), noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
def test_winograd_matches_reference(every_call_on_tiles, case, noncontiguous, seed):
    x_shape, w_shape, padding = case
    rng = np.random.default_rng(seed)
    x = strided(rng.standard_normal(x_shape).astype(np.float32), noncontiguous)
    w = strided(rng.standard_normal(w_shape).astype(np.float32), noncontiguous)
    out_shape = reference.conv2d_forward(x, w, *settings(padding)).shape
    g = strided(rng.standard_normal(out_shape).astype(np.float32), noncontiguous)
    assert winograd_takes(x_shape, w_shape[0], padding, out_shape[2:])
    check(x, w, g, padding)


@pytest.mark.parametrize("x_shape, c_out, padding", [
    ((2, 32, 14, 14), 64, (1, 1)),  # conv2 of the bench, small batch: 49 tiles a sample
    ((2, 64, 8, 8), 128, (1, 1)),   # conv3: 16 tiles
    ((3, 5, 7, 10), 40, (0, 2)),    # odd output rows, tiles over the edge; 32 + 8 outputs
    ((2, 17, 3, 3), 33, (2, 0)),    # 5x1 pixels: one column of 3 tiles; 32 + 1 outputs
    ((2, 3, 4, 37), 5, (1, 1)),     # rows of 37 pixels, copied in vectors on every route
])
def test_winograd_takes_these_shapes(every_call_on_tiles, tile_calls, x_shape, c_out,
                                     padding):
    """Winograd's kernels run the forward, the input gradient and the weight gradient
    (counted), and match the reference, on every thread."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((c_out, x_shape[1], 3, 3)).astype(np.float32)
    out_shape = reference.conv2d_forward(x, w, *settings(padding)).shape
    g = rng.standard_normal(out_shape).astype(np.float32)
    with parallel_from(1):
        check(x, w, g, padding)
    assert tile_calls == {"winograd_tiles_forward": 2,  # the forward, the input gradient
                            "winograd_tiles_backward_weight": 1}


def test_winograd_is_the_same_at_any_thread_count(every_call_on_tiles, monkeypatch):
    """The forward shares the kernel's transform between the threads, each element to
    one, then gives each thread whole samples; the weight gradient gives each thread
    whole tiles of the sums and adds the samples into them in order, chunk after chunk.
    So the bits do not depend on the number of threads (on a machine of one thread, this
    cannot tell). Chunks of another size sum in another order: the same values to
    float32 rounding."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 12, 9, 11)).astype(np.float32)
    w = rng.standard_normal((40, 12, 3, 3)).astype(np.float32)
    g = rng.standard_normal((5, 40, 9, 11)).astype(np.float32)
    s = settings((1, 1))
    expected = reference.conv2d_backward_weight(g, x, w.shape, *s)
    scale = reference.conv2d_backward_weight(np.abs(g), np.abs(x), w.shape, *s)
    shapes = (x.shape, 40, (1, 1), (9, 11))
    for samples in (5, 2, 1):  # one chunk; chunks of 2, 2 and 1; one sample at a time
        monkeypatch.setattr(routes, "WINOGRAD_CHUNK_BYTES",
                            samples * sample_bytes(*shapes))
        assert routes.samples_per_chunk(geometry(*shapes), 5,
                                              routes.WINOGRAD_CHUNK_BYTES, True) == samples
        results = []
        for work in (1, 2**62):  # every loop on every thread, then on the calling thread
            with parallel_from(work):
                results.append((run("native", "conv2d_forward", x, w, *s),
                                run("native", "conv2d_backward_weight", g, x, w.shape, *s)))
        for one, other in zip(*results):
            np.testing.assert_array_equal(one, other)
        assert_matches(results[0][1], expected, 1e-5, scale)


def sample_bytes(x_shape, c_out, padding, out_size):
    """The bytes of one sample's buffers in Winograd's weight gradient."""
    return routes.sample_bytes(geometry(x_shape, c_out, padding, out_size), True)


def test_the_direct_tiles_take_what_does_not_fit_winograd_buffers(every_call_on_tiles,
                                                                   tile_calls, monkeypatch):
    """Winograd's buffers are 4x its input and output gradient: where one sample's do
    not fit (SAMPLE_BYTES for the forward and the input gradient,
    WINOGRAD_CHUNK_BYTES for the weight gradient), the direct tiles run instead, with
    the same results."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 30, 30)).astype(np.float32)
    w = rng.standard_normal((40, 6, 3, 3)).astype(np.float32)
    g = rng.standard_normal((2, 40, 30, 30)).astype(np.float32)
    forward = (x.shape, 40, (3, 3), (1, 1), (1, 1), (1, 1), (30, 30))
    backward_input = (g.shape, 6, (3, 3), (1, 1), (1, 1), (1, 1), (30, 30))
    assert winograd_takes(x.shape, 40, (1, 1), (30, 30))  # at the default sizes
    direct = max(native._native.conv_tiles_forward_scratch(routes.ROUTE["index"], *call)
                 for call in (forward, backward_input))
    threads = native._native.max_threads()  # room for the direct tiles, not for Winograd
    monkeypatch.setattr(routes, "SAMPLE_BYTES",
                        (4 * direct - 2**20) // threads + 1)
    for call in (forward, backward_input):
        assert routes.forward_plan(*call).winograd is False
    monkeypatch.setattr(routes, "WINOGRAD_CHUNK_BYTES",
                        sample_bytes(x.shape, 40, (1, 1), (30, 30)) - 1)
    check(x, w, g, (1, 1))
    assert tile_calls == {"conv_tiles_forward": 2, "conv_tiles_backward_weight": 1}


def test_the_compiled_winograd_refuses_another_kernel_or_mismatched_arrays(
        every_call_on_tiles):
    """The C code trusts its arguments; the wrapper checks them first."""
    index = every_call_on_tiles["index"]
    from tlcore import _native
    x = np.zeros((1, 2, 5, 5), np.float32)
    scratch = np.zeros(1 << 16, np.float32)
    s = ((1, 1), (1, 1), (1, 1))  # stride, padding, dilation

    def forward(weight, out, padding=(1, 1), room=scratch):
        _native.conv_tiles_forward(index, x, weight, (1, 1), padding, (1, 1), out, room,
                                   winograd=True)
    with pytest.raises(ValueError, match="the kernel must be 3x3 at stride 1 and dilation 1, "
                                         "got .5, 5."):
        forward(np.zeros((3, 2, 5, 5), np.float32), np.zeros((1, 3, 5, 5), np.float32), (2, 2))
    with pytest.raises(ValueError, match="x, weight and out do not match"):
        forward(np.zeros((3, 4, 3, 3), np.float32), np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="scratch too small"):
        forward(np.zeros((3, 2, 3, 3), np.float32), np.zeros((1, 3, 5, 5), np.float32),
                room=np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="does not follow from the geometry"):
        forward(np.zeros((3, 2, 3, 3), np.float32), np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="the kernel must be 3x3 at stride 1"):
        _native.conv_tiles_forward_scratch(index, x.shape, 3, (3, 3), (2, 2), (1, 1), (1, 1),
                                           (3, 3), winograd=True)
    grad_out = np.zeros((1, 3, 25), np.float32)
    grad_w = np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        _native.conv_tiles_backward_weight(index, grad_out, x, (3, 3), *s, (5, 5), grad_w,
                                           scratch, 0, winograd=True)
    with pytest.raises(ValueError, match="grad_out, x and grad_w do not match"):
        _native.conv_tiles_backward_weight(index, grad_out, x, (3, 3), *s, (5, 5),
                                           np.zeros((3, 2, 5, 5), np.float32), scratch, 1,
                                           winograd=True)
    with pytest.raises(ValueError, match="chunk must be >= 0, got -1"):
        _native.conv_tiles_backward_weight_scratch(index, *geometry(x.shape, 3, (1, 1), (5, 5)),
                                                   -1, winograd=True)


SHARED_SCHEME = """
import os
import numpy as np
from tlcore import _native
from tlcore.kernels import reference
from tlcore.kernels.backends import routes, native
routes.MIN_SAMPLES = 1
assert routes.ROUTE["key"] == os.environ["TLCORE_SIMD"]
assert _native.set_team(3, 32768)[0] == 3  # OMP_NUM_THREADS sets the team's size
rng = np.random.default_rng(8)
x = rng.standard_normal((5, 12, 9, 11)).astype(np.float32)
g = rng.standard_normal((5, 40, 9, 11)).astype(np.float32)
s = ((1, 1), (1, 1), (1, 1), 1)
results = []
for work in (1, 2**62):  # three threads share the tiles; then one thread, by positions
    _native.set_team(3, work)
    results.append(native.conv2d_backward_weight(g, x, (40, 12, 3, 3), *s))
np.testing.assert_array_equal(results[0], results[1])
scale = reference.conv2d_backward_weight(np.abs(g), np.abs(x), (40, 12, 3, 3), *s)
error = np.abs(results[0] - reference.conv2d_backward_weight(g, x, (40, 12, 3, 3), *s))
assert error.max() <= 1e-5 * scale.max(), error.max()
"""


def test_winograd_weight_gradient_on_more_threads_than_it_splits_positions_for(
        every_call_on_tiles):
    """On more than POSITION_THREADS threads (2) the weight gradient shares out its tiles
    instead of its positions: the same bits as on one thread. Run in a subprocess with
    three OpenMP threads, which this 2-core machine's default does not reach, on the
    route under test (TLCORE_SIMD)."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, OMP_NUM_THREADS="3", TLCORE_SIMD=every_call_on_tiles["key"])
    subprocess.run([sys.executable, "-c", SHARED_SCHEME], check=True, timeout=120, env=env)
