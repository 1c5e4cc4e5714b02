"""Numba CPU kernels: @njit(parallel=True, cache=True), compiled on first call.

Only this module imports numba; importing it is what makes the "numba" backend
available, and the registry does that lazily.
"""

import numba

from tlcore.kernels.layout import finish, flat_in_out
from tlcore.kernels.registry import register


@numba.njit(parallel=True, cache=True)
def _scale(src, factor, dst):
    for i in numba.prange(src.size):
        dst[i] = src[i] * factor


@register("grad_reverse_backward", "numba")
def grad_reverse_backward(grad, lambda_, out=None):
    """grad_in = -lambda * grad_out on flat contiguous buffers (a non-contiguous
    ``grad`` is copied to a contiguous one first)."""
    flat, dst, result = flat_in_out(grad, out)
    _scale(flat, flat.dtype.type(-lambda_), dst)
    return finish(result, out)
