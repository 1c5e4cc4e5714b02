"""Linear: y = x W^T + b (PyTorch's nn.Linear), and Identity."""

import numpy as np

from tlcore import backend, ops
from tlcore.arguments import check_positive
from tlcore.nn import init
from tlcore.nn.module import Module
from tlcore.nn.parameter import Parameter


class Linear(Module):
    """weight (out_features, in_features) and bias (out_features,), both drawn from
    U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch."""

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features = check_positive("in_features", in_features)
        self.out_features = check_positive("out_features", out_features)
        dtype = dtype or backend.DEFAULT_FLOAT
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty(out_features, dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input: a placeholder where a layer is removed (a head cut off)."""

    def forward(self, x):
        return x
