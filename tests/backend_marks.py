"""The kernel backends a test can run on, each marked to be skipped, with the reason
tlcore gives, where this machine lacks it."""

import pytest

from tlcore import kernels


def needs_backend(name):
    """A skip marker for a backend this machine lacks, with the reason it is missing."""
    reason = kernels.unavailable().get(name)
    return pytest.mark.skipif(reason is not None,
                              reason=f"kernel backend {name!r} is not available here: {reason}")


CPU_BACKENDS = [pytest.param(name, marks=needs_backend(name))
                for name in ("numpy", "numba", "native")]
