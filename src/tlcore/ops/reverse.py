"""Gradient reversal (Ganin & Lempitsky, ICML 2015): identity forward, -lambda * grad
backward, through the ``grad_reverse_backward`` kernel."""

import math
import numbers

from tlcore import kernels
from tlcore.autograd import Function


def check_lambda(lambda_):
    """``lambda_`` as a float, or a ValueError: the reversal's scale is a finite number."""
    if not isinstance(lambda_, numbers.Real) or isinstance(lambda_, bool) \
            or not math.isfinite(lambda_):
        raise ValueError(f"lambda_ must be a finite number, got {lambda_!r}")
    return float(lambda_)


class GradReverse(Function):
    def __init__(self, lambda_=1.0):
        self.lambda_ = check_lambda(lambda_)

    def forward(self, x):
        return x.copy()  # a new array: the output must not alias its input

    def backward(self, g):
        return kernels.get("grad_reverse_backward", g)(g, self.lambda_)
