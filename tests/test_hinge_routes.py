"""The hinge-max forward fused with its score GEMM (csrc/hinge.c) on each compiled route
against the reference: the checks of tests/test_kernel_backends.py (drawn shapes across
the kernel's blocks of rows, classes and steps, ties, NaN and infinite scores) run again
with the route switched, in float32, the one dtype the fused kernel takes. A route this
machine lacks is skipped with the reason (conftest.py)."""

import numpy as np
import test_kernel_backends as backends
from test_kernel_backends import run

from tlcore.kernels import reference


def test_fused_hinge_takes_the_route(every_call_on_tiles, monkeypatch):
    """The float32 call goes to the fused kernel on the route under test."""
    from tlcore import _native
    taken = []
    compiled = _native.hinge_fused_forward

    def counted(index, *args):
        taken.append(index)
        return compiled(index, *args)
    monkeypatch.setattr(_native, "hinge_fused_forward", counted)
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
