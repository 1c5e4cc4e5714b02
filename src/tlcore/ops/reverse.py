"""Gradient reversal (Ganin & Lempitsky, ICML 2015): identity forward, -lambda * grad
backward, through the ``grad_reverse_backward`` kernel."""

from tlcore import kernels
from tlcore.arguments import check_lambda
from tlcore.autograd import Function


class GradReverse(Function):
    def __init__(self, lambda_=1.0):
        self.lambda_ = check_lambda(lambda_)

    def forward(self, x):
        return x.copy()  # a new array: the output must not alias its input

    def backward(self, g):
        return kernels.grad_reverse_backward(g, self.lambda_)
