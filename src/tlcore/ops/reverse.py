"""Gradient reversal (Ganin & Lempitsky, ICML 2015): identity forward, -lambda * grad
backward, through the ``grad_reverse_backward`` kernel.

The forward returns a view of its input, as PyTorch's reversal layer (``view_as``)
does: no copy. The output shares its input's memory and version counter (``is_view``),
so an in-place change through either one is seen by both, and a backward that would
read a changed array is refused."""

from tlcore import kernels
from tlcore.arguments import check_lambda
from tlcore.autograd import Function


class GradReverse(Function):
    """y = x (a view); dL/dx = -lambda * dL/dy."""

    is_view = True

    def __init__(self, lambda_=1.0):
        self.lambda_ = check_lambda(lambda_)

    def forward(self, x):
        return x.view()

    def backward(self, g):
        return kernels.grad_reverse_backward(g, self.lambda_)
