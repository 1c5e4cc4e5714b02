"""GradientReversal (Ganin & Lempitsky 2015): the identity forward, -lambda_ * grad back.

Placed between a feature extractor and a domain classifier, it lets one backward pass
train the classifier to tell the domains apart while pushing the features to confuse it.
``lambda_`` is read at each forward: set it between steps (DANN's schedule) freely,
without rebuilding the model; a value that is not a finite number is refused when set.
"""

from tlcore import ops
from tlcore.nn.module import Module
from tlcore.arguments import check_lambda


class GradientReversal(Module):
    def __init__(self, lambda_=1.0):
        super().__init__()
        self.lambda_ = lambda_

    @property
    def lambda_(self):
        return self._lambda

    @lambda_.setter
    def lambda_(self, value):
        self._lambda = check_lambda(value)

    def forward(self, x):
        return ops.grad_reverse(x, self.lambda_)

    def extra_repr(self):
        return f"lambda_={self.lambda_}"
