"""Activations as modules, so they can sit in a Sequential."""

from tlcore import ops
from tlcore.nn.module import Module


class ReLU(Module):
    """max(0, x)."""

    def forward(self, x):
        return ops.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x):
        return ops.sigmoid(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``axis`` (PyTorch's ``dim``)."""

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return ops.softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return ops.log_softmax(x, self.axis)
