"""Hot-path kernels on raw arrays, several implementations each, one dispatcher.

What defines a kernel is at this level: entries.py (one named function per kernel, what
the ops call: its contract, and the forward to the registry), reference.py (the plain
numpy definition every backend must match, run by the tests only), validate.py (the
checks of its arguments) and geometry.py (window sizes). registry.py dispatches. The
implementations and their machinery are in backends/, which only the registry loads
(and this import, for the numpy backend): numpy_fast.py is registered at import; numba,
the native module and cupy are imported on first use. ``matmul`` is the ops' own GEMM
under the same thread policy as the kernels; ``native_route`` says which compiled route
the native backend takes.
"""

import operator

from tlcore.kernels.backends import numpy_fast  # noqa: F401  (registers the numpy kernels)
from tlcore.kernels.backends import threads
from tlcore.kernels.entries import (axpy, conv2d_backward_input, conv2d_backward_weight,
                                    conv2d_forward, embedding_hinge_max_forward,
                                    embedding_scores, grad_reverse_backward,
                                    hinge_max_backward, hinge_max_forward,
                                    maxpool2d_backward, maxpool2d_forward)
from tlcore.kernels.registry import (BACKENDS, available, forced, get, ops, preferred,
                                     register, unavailable, use)

__all__ = ["BACKENDS", "available", "forced", "get", "matmul", "native_route", "ops",
           "preferred", "register", "unavailable", "use",
           # the named entries, one per kernel (entries.py)
           "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
           "maxpool2d_forward", "maxpool2d_backward", "embedding_scores",
           "hinge_max_forward", "embedding_hinge_max_forward", "hinge_max_backward",
           "grad_reverse_backward", "axpy"]


def native_route():
    """The native backend's compiled route (backends/routes.py), as a dict: ``key`` and
    ``name`` of the route taken (None: im2col and BLAS) and ``lines`` saying, per kernel
    family, what runs and why no wider route does; None where the backend is missing."""
    if "native" in unavailable():
        return None
    from tlcore.kernels.backends import routes
    taken = routes.ROUTE or {}
    return {"key": taken.get("key"), "name": taken.get("name"), "lines": routes.describe()}


def matmul(a, b):
    """a @ b, for the ops' own GEMMs (linear, matmul, the scores' backward): numpy's BLAS
    under the same thread policy as every kernel (backends/threads.py: kernel_scope, which
    holds BLAS to the cores PyTorch's spinning workers leave free, while it is imported;
    otherwise nothing but the product)."""
    if threads.scope_acts():
        return threads.in_scope(operator.matmul, a, b)
    return a @ b
