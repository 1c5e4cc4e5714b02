"""The numpy reference kernels: the readable definition every other backend is tested
against. Each takes and returns raw numpy arrays."""

import numpy as np

from tlcore.kernels.registry import register


@register("grad_reverse_backward", "numpy")
def grad_reverse_backward(grad, lambda_, out=None):
    """Gradient reversal (Ganin & Lempitsky 2015): grad_in = -lambda * grad_out.

    ``out`` may be ``grad`` itself (in place) when the caller owns that array.
    """
    return np.multiply(grad, -lambda_, out=out, dtype=grad.dtype)
