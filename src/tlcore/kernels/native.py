"""The compiled Cython module (csrc/_native.pyx -> tlcore._native) as a kernel backend.

Only this module imports tlcore._native. If the extension was not built (no compiler
at install time), importing this module fails and the registry lists no "native"
backend.
"""

import numpy as np

from tlcore import _native
from tlcore.kernels.layout import finish, flat_in_out
from tlcore.kernels.registry import register

openmp_enabled = _native.openmp_enabled
max_threads = _native.max_threads


@register("grad_reverse_backward", "native")
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out (OpenMP prange over a flat contiguous copy of
    ``grad`` when it is not contiguous)."""
    if grad.dtype not in (np.float32, np.float64):
        raise TypeError(f"grad must be float32 or float64, got {grad.dtype}")
    flat, dst, result = flat_in_out(grad, out)
    _native.scale(flat, -lambda_, dst)
    return finish(result, out)
