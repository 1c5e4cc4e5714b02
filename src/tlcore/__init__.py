"""tlcore: a small, readable deep-learning engine on numpy for transfer learning.

    import tlcore
    x = tlcore.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [[2., 4.]]
"""

__version__ = "0.1.0"

from tlcore import ops  # noqa: E402,F401  (attaches operators and methods to Tensor)
from tlcore.autograd import (Function, Tensor, enable_grad, is_grad_enabled,  # noqa: E402
                             no_grad, tensor)
from tlcore.gradcheck import GradcheckError, gradcheck  # noqa: E402
from tlcore.random import manual_seed  # noqa: E402
from tlcore.serialize import load, save  # noqa: E402

__all__ = ["Function", "GradcheckError", "Tensor", "enable_grad", "gradcheck",
           "is_grad_enabled", "load", "manual_seed", "no_grad", "ops", "save", "tensor"]
