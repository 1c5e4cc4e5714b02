"""The hinge-max forward fused with its score GEMM (csrc/hinge.c) and the sparse backward
(csrc/hinge_backward.c) on each compiled route against the reference: the checks of
tests/test_kernel_backends.py (drawn shapes across the kernel's blocks of rows, classes
and steps, ties, NaN and infinite scores) run again with the route switched, the forward
in float32, the one dtype the fused kernel takes, the backward in float32 and float64. A
route this machine lacks is skipped with the reason (conftest.py)."""

import numpy as np
import pytest
import test_kernel_backends as backends
from test_conv_routes import parallel_from
from test_kernel_backends import DTYPES, run

from tlcore.kernels import reference


def _route_calls(monkeypatch, kernel):
    """The route indices that the calls to tlcore._native's ``kernel`` get, in order, for
    the rest of the test."""
    from tlcore import _native
    taken, compiled = [], getattr(_native, kernel)

    def counted(index, *args):
        taken.append(index)
        return compiled(index, *args)
    monkeypatch.setattr(_native, kernel, counted)
    return taken


def test_fused_hinge_takes_the_route(every_call_on_tiles, monkeypatch):
    """The float32 call goes to the fused kernel on the route under test."""
    taken = _route_calls(monkeypatch, "hinge_fused_forward")
    rng = np.random.default_rng(0)
    f, g = rng.standard_normal((5, 3), np.float32), rng.standard_normal((4, 3), np.float32)
    target = np.array([0, 1, 2, 3, 0])
    loss, negative = run("native", "embedding_hinge_max_forward", f, g, target, 1.0)
    assert taken == [every_call_on_tiles["index"]]
    expected_loss, expected_negative = reference.embedding_hinge_max_forward(f, g, target, 1.0)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-6)


def test_fused_hinge_matches_reference(every_call_on_tiles):
    backends.test_embedding_hinge_max_forward_matches_reference(
        backend="native", dtype=np.float32, rtol=1e-4)


def test_fused_hinge_nan_scores_follow_the_reference(every_call_on_tiles):
    backends.test_embedding_hinge_max_forward_nan_scores_follow_the_reference("native")


def test_fused_hinge_infinite_scores_follow_the_reference(every_call_on_tiles):
    for n, c, d in [(7, 5, 3), (50, 70, 17), (60, 40, 300)]:
        backends.test_embedding_hinge_max_forward_infinite_scores_follow_the_reference(
            "native", np.float32, n, c, d)


def _sparse_case(rng, n, c, d, dtype):
    """Embeddings, targets, other classes as negatives, and weights with some margins met
    (weight 0): the backward's inputs."""
    f = rng.standard_normal((n, d)).astype(dtype)
    g = rng.standard_normal((c, d)).astype(dtype)
    target = rng.integers(0, c, n)
    negative = (target + rng.integers(1, c, n)) % c
    weight = (rng.standard_normal(n) * (rng.random(n) < 0.7)).astype(dtype)
    return f, g, target, negative, weight


def test_sparse_backward_takes_the_route(every_call_on_tiles, monkeypatch):
    """The call goes to the route under test's kernel, in float32 and float64."""
    taken = _route_calls(monkeypatch, "hinge_max_backward_route")
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        args = _sparse_case(rng, 7, 4, 3, dtype)
        got_f, got_g = run("native", "hinge_max_backward", *args)
        expected_f, expected_g = reference.hinge_max_backward(*args)
        np.testing.assert_allclose(got_f, expected_f, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_g, expected_g, rtol=1e-5, atol=1e-6)
    assert taken == [every_call_on_tiles["index"]] * 2


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_sparse_backward_matches_reference(every_call_on_tiles, dtype, rtol):
    backends.test_hinge_max_backward_matches_reference(backend="native", dtype=dtype,
                                                       rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_backward_gives_the_same_bits_on_a_team_of_threads(every_call_on_tiles,
                                                                 dtype):
    """Chunks of samples and of classes shared out to two threads (tl_chunk: 701 samples
    of 13 in two claims, 351 and 350; 3,000 classes in 13 claims, the last one short),
    classes that no sample touches: the bits of one thread."""
    from tlcore import _native
    rng = np.random.default_rng(2)
    f, g, target, negative, weight = _sparse_case(rng, 701, 3000, 13, dtype)
    index = every_call_on_tiles["index"]
    outputs = []
    for threads in (1, 2):
        with parallel_from(1, size=threads):
            grad_f, grad_g = np.empty_like(f), np.full_like(g, np.nan)
            _native.hinge_max_backward_route(index, f, g, target, negative, weight, grad_f,
                                             grad_g)
            outputs.append((grad_f, grad_g))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    expected_f, expected_g = reference.hinge_max_backward(f, g, target, negative, weight)
    np.testing.assert_allclose(outputs[1][0], expected_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs[1][1], expected_g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n, d", [(0, 3), (4, 0)])
def test_sparse_backward_without_samples_or_dimensions_gives_zeros(every_call_on_tiles,
                                                                   n, d):
    from tlcore import _native
    f, g = np.ones((n, d), np.float32), np.ones((3, d), np.float32)
    target, negative = np.zeros(n, np.int64), np.ones(n, np.int64)
    grad_f, grad_g = np.empty_like(f), np.full_like(g, np.nan)
    _native.hinge_max_backward_route(every_call_on_tiles["index"], f, g, target, negative,
                                     np.ones(n, np.float32), grad_f, grad_g)
    np.testing.assert_array_equal(grad_g, np.zeros_like(g))


@pytest.mark.parametrize("n, c, d", [(300, 200, 128), (96, 20000, 32)])
def test_hinge_with_workers_that_start_late(every_call_on_tiles, n, c, d):
    """A team of six on fewer cores. The fused forward packs g's panels in claimed
    chunks (on AVX-512, 7 claims of one panel; 125 of five, for a few blocks of rows,
    where a thread done packing soon needs a panel another is packing) and waits for the last one
    (tl_wait_done), then claims blocks of rows; the backward claims chunks of samples and
    then of classes, with no barrier between. Some workers wake after the others have
    claimed everything, and the team (tl_team_run) returns without them: every call
    still gives one thread's bits."""
    rng = np.random.default_rng(11)
    f = rng.standard_normal((n, d)).astype(np.float32)
    g = rng.standard_normal((c, d)).astype(np.float32)
    target = rng.integers(0, c, n)
    weight = (rng.standard_normal(n) * (rng.random(n) < 0.7)).astype(np.float32)

    def both():
        loss, negative = run("native", "embedding_hinge_max_forward", f, g, target, 1.0)
        return (loss, negative) + run("native", "hinge_max_backward", f, g, target,
                                      negative, weight)
    with parallel_from(1, size=1):
        alone = both()
    expected_loss, _ = reference.embedding_hinge_max_forward(f, g, target, 1.0)
    np.testing.assert_allclose(alone[0], expected_loss, rtol=1e-4, atol=1e-4)
    with parallel_from(1, size=6):
        for _ in range(30):
            for got, one_thread in zip(both(), alone):
                np.testing.assert_array_equal(got, one_thread)
