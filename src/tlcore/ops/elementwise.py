"""Elementwise arithmetic and math: + - * / ** neg, exp log sqrt abs, clip, where.

Each backward is the derivative written beside its forward. Broadcasting is handled
by the engine: a backward may return a gradient of the output's (broadcast) shape.
"""

import numpy as np

from tlcore.autograd import Function
from tlcore.backend import array_module


class _Binary(Function):
    """A broadcasting binary op; a shape mismatch gets an error naming the op."""

    def __call__(self, a, b):
        try:
            return super().__call__(a, b)
        except ValueError as exc:
            if "broadcast" not in str(exc):
                raise
            raise ValueError(
                f"{self.name.lower()}: shapes {np.shape(getattr(a, 'data', a))} and "
                f"{np.shape(getattr(b, 'data', b))} cannot be broadcast together") from None


class Add(_Binary):
    def forward(self, a, b):
        return a + b

    def backward(self, g):  # d(a+b)/da = d(a+b)/db = 1
        return g, g


class Sub(_Binary):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(_Binary):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):  # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = self.needs_input_grad
        return (g * self.b if need_a else None), (g * self.a if need_b else None)


class Div(_Binary):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        need_a, need_b = self.needs_input_grad
        ga = g / self.b
        return (ga if need_a else None), (-ga * self.a / self.b if need_b else None)


class Pow(_Binary):
    """a ** b. d/da = b a^(b-1), 0 where b == 0 (as PyTorch: not 0 * 0^-1 = nan at a = 0);
    d/db = a^b log(a) (defined for a > 0)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        a, b = self.a, self.b
        if need_a:
            xp = array_module(g)
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 where b == 0
                # xp.asarray: b may be a Python number, whose b == 0 is a plain bool
                ga = g * xp.where(xp.asarray(b == 0), 0, b * a ** (b - 1))
        else:
            ga = None
        # log in the output's dtype: np.log(2.0) alone is a float64 scalar, which would
        # promote the gradient of a float32 exponent (2.0 ** x) to float64
        gb = g * self.out * np.log(a, dtype=self.out.dtype) if need_b else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, g):  # d e^x = e^x
        return g * self.out


class Log(Function):
    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):  # d log x = 1/x
        return g / self.x


class Sqrt(Function):
    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, g):  # d sqrt(x) = 1 / (2 sqrt(x))
        return g / (2 * self.out)


class Abs(Function):
    """|x|; the gradient at 0 is 0 (sign(0)), as in PyTorch."""

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(self.x)


class Clip(Function):
    """clip(x, low, high); gradient 1 where low <= x <= high, else 0 (PyTorch's clamp)."""

    def __init__(self, low=None, high=None):
        if low is None and high is None:
            raise ValueError("clip needs low or high (or both)")
        self.low, self.high = low, high

    def forward(self, x):
        self.x = x
        return np.clip(x, self.low, self.high)

    def backward(self, g):
        inside = array_module(self.x).ones(self.x.shape, dtype=bool)
        if self.low is not None:
            inside &= self.x >= self.low
        if self.high is not None:
            inside &= self.x <= self.high
        return g * inside


class Where(Function):
    """where(condition, a, b): a where condition holds, else b; no gradient to condition."""

    def forward(self, condition, a, b):
        if getattr(condition, "dtype", None) != np.bool_:
            raise TypeError(f"where: condition must be a bool array, got dtype "
                            f"{getattr(condition, 'dtype', type(condition).__name__)}")
        self.condition = condition
        return np.where(condition, a, b)

    def backward(self, g):
        zero = g.dtype.type(0)  # a scalar: numpy and cupy both take it
        return None, np.where(self.condition, g, zero), np.where(self.condition, zero, g)
