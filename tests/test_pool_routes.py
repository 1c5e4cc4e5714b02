"""Max pooling on each compiled route (csrc/pool.c: the 2x2 window at stride 2, and the
backward of any window, on tlcore's own team of threads) against the reference: the checks
of tests/test_kernel_backends.py run again with the route switched, in float32 and
float64. A route this machine lacks is skipped with the reason (conftest.py)."""

import numpy as np
import pytest
import test_kernel_backends as backends
from test_conv_routes import parallel_from
from test_kernel_backends import DTYPES, run

from tlcore.kernels import reference


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_pool_matches_reference(every_call_on_tiles, dtype, rtol):
    backends.test_maxpool2d_kernels_match_reference(backend="native", dtype=dtype, rtol=rtol)
    backends.test_maxpool2d_2x2_matches_reference(backend="native", dtype=dtype, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_on_a_team_of_threads(every_call_on_tiles, dtype):
    """Planes shared out to two threads in chunks (165 planes of 9x7, 10,395 elements:
    two claims, of 83 planes and 82), odd sizes, windows that overlap (3x3 at stride 2,
    whose backward adds the overlaps in output order) and the 2x2 forward's own."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 55, 9, 7)).astype(dtype)
    with parallel_from(1):
        for settings in [((3, 3), (2, 2), (0, 0)), ((2, 2), (2, 2), (0, 0))]:
            out, argmax = reference.maxpool2d_forward(x, *settings)
            got_out, got_argmax = run("native", "maxpool2d_forward", x, *settings)
            np.testing.assert_array_equal(got_out, out)
            np.testing.assert_array_equal(got_argmax, argmax)
            g = rng.standard_normal(out.shape).astype(dtype)
            np.testing.assert_array_equal(
                run("native", "maxpool2d_backward", g, argmax, x.shape),
                reference.maxpool2d_backward(g, argmax, x.shape))


def test_pool_with_workers_that_start_late(every_call_on_tiles):
    """A team of six on fewer cores, 8 chunks of 16 planes a call: some workers wake after
    the others have claimed every chunk, and the team (tl_team_run) returns without
    them. Every call still gives the reference's bits, and the next team starts clean (a
    late worker never touches a finished call's arrays)."""
    rng = np.random.default_rng(9)
    with parallel_from(1, size=6):
        for _ in range(40):
            x = rng.standard_normal((2, 64, 16, 16)).astype(np.float32)
            out, argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
            got_out, got_argmax = run("native", "maxpool2d_forward", x, (2, 2), (2, 2),
                                      (0, 0))
            np.testing.assert_array_equal(got_out, out)
            np.testing.assert_array_equal(got_argmax, argmax)
            g = rng.standard_normal(out.shape).astype(np.float32)
            np.testing.assert_array_equal(
                run("native", "maxpool2d_backward", g, argmax, x.shape),
                reference.maxpool2d_backward(g, argmax, x.shape))
