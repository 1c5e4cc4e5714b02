"""GradientReversal (Ganin & Lempitsky 2015): the identity forward, -lambda_ * grad back.

Placed between a feature extractor and a domain classifier, it lets one backward pass
train the classifier to tell the domains apart while pushing the features to confuse it.
``lambda_`` is a plain attribute: change it between steps (DANN's schedule) freely.
"""

from tlcore import ops
from tlcore.nn.module import Module


class GradientReversal(Module):
    def __init__(self, lambda_=1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x):
        return ops.grad_reverse(x, self.lambda_)

    def extra_repr(self):
        return f"lambda_={self.lambda_}"
