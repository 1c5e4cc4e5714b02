"""Activations: tanh, sigmoid, relu, leaky_relu, and the numerically stable softmax
and log_softmax."""

import numpy as np

from tlcore.autograd import Function


class Tanh(Function):
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):  # d tanh = 1 - tanh^2
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    """sigmoid(x) = 1/(1+e^-x), from e = e^-|x| <= 1: 1/(1+e) for x >= 0, e/(1+e) for
    x < 0. No overflow for any x, and full relative precision in both tails (unlike
    (1 + tanh(x/2)) / 2, which rounds sigmoid(-20) to 0 in float32)."""

    def forward(self, x):
        e = np.exp(-np.abs(x))
        self.out = np.where(x >= 0, 1, e) / (1 + e)
        return self.out

    def backward(self, g):  # d sigmoid = sigmoid (1 - sigmoid)
        return g * self.out * (1 - self.out)


class ReLU(Function):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch. relu(-inf) = 0, relu(nan) = nan.

    Backward reads the output, as PyTorch's does: out > 0 exactly where x > 0, so the
    forward makes no mask of its own."""

    def forward(self, x):
        self.out = np.maximum(x, 0)  # not x * (x > 0): -inf * 0 would be nan
        return self.out

    def backward(self, g):
        return g * (self.out > 0)


class LeakyReLU(Function):
    """x for x > 0, slope * x otherwise (PyTorch's default slope 0.01)."""

    def __init__(self, negative_slope=0.01):
        self.slope = negative_slope

    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, self.slope * x)

    def backward(self, g):
        return np.where(self.positive, g, self.slope * g)


class Softmax(Function):
    """softmax(x)_i = e^(x_i - max x) / sum_j e^(x_j - max x) along ``axis``."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        self.out = e / e.sum(axis=self.axis, keepdims=True)
        return self.out

    def backward(self, g):  # J^T g = s * (g - sum(g * s))
        s = self.out
        return s * (g - (g * s).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """log_softmax(x) = x - max x - log sum e^(x - max x) along ``axis``."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.out = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, g):  # J^T g = g - softmax * sum(g)
        return g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True)
