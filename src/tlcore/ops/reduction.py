"""Reductions: sum, mean, max, min, logsumexp (axis: None, an int or a tuple; keepdims).

max and min send the whole gradient to the *first* extreme element in row-major order
of the reduced axes (numpy's argmax convention), so ties are broken deterministically.
"""

import numpy as np

from tlcore.autograd import Function
from tlcore.backend import array_module


def normalize_axes(axis, ndim):
    """axis (None, int or tuple) -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(result))


def expand_to(g, shape, axes, keepdims):
    """Broadcast a reduced gradient back over the reduced axes (a read-only view)."""
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = normalize_axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):  # d sum / dx_i = 1
        return expand_to(g, self.shape, self.axes, self.keepdims)


class Mean(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = normalize_axes(self.axis, x.ndim)
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        if self.count == 0:
            raise ValueError(f"mean over an empty axis of a tensor of shape {x.shape}")
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):  # d mean / dx_i = 1/count
        return expand_to(g / self.count, self.shape, self.axes, self.keepdims)


class _Extreme(Function):
    """max or min: the reduced axes are moved last and flattened, then arg-reduced."""

    arg = None  # np.argmax or np.argmin

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.name.lower()} of an empty tensor")
        self.shape = x.shape
        self.axes = normalize_axes(self.axis, x.ndim)
        kept = [a for a in range(x.ndim) if a not in self.axes]
        self.perm = kept + list(self.axes)
        self.kept_shape = tuple(x.shape[a] for a in kept)
        moved = x.transpose(self.perm).reshape(self.kept_shape + (-1,))
        self.index = type(self).arg(moved, axis=-1)[..., None]  # first extreme element
        out = np.take_along_axis(moved, self.index, axis=-1)[..., 0]
        if self.keepdims:
            out = out.reshape(tuple(1 if a in self.axes else n for a, n in enumerate(x.shape)))
        return out

    def backward(self, g):
        xp = array_module(g)  # numpy or cupy: every call below exists in both
        reduced = int(np.prod([self.shape[a] for a in self.axes]))
        chosen = xp.arange(reduced) == self.index  # one True per row, at its extreme
        flat = xp.where(chosen, g.reshape(self.kept_shape + (1,)), g.dtype.type(0))
        moved = flat.reshape(tuple(self.shape[a] for a in self.perm))
        return moved.transpose(tuple(np.argsort(self.perm).tolist()))  # ints, for cupy too


class Max(_Extreme):
    arg = staticmethod(np.argmax)


class Min(_Extreme):
    arg = staticmethod(np.argmin)


class LogSumExp(Function):
    """log sum_i e^(x_i), stably: m + log sum e^(x_i - m) with m = max x.

    The gradient, softmax(x), is saved as e^(x - m) / sum: x - m is exact, whereas
    e^(x - lse) loses lse's rounding (1e-3 at 1e4 in float32) in every element."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = normalize_axes(self.axis, x.ndim)
        m = x.max(axis=self.axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all -inf rows: avoid inf - inf
        self.e = np.exp(x - m)
        self.total = self.e.sum(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore"):  # log 0 = -inf for an all -inf row
            out = m + np.log(self.total)
        return out if self.keepdims else out.reshape(
            tuple(n for a, n in enumerate(x.shape) if a not in self.axes))

    def backward(self, g):  # d lse / dx_i = softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m)
        if not self.keepdims:
            g = np.expand_dims(g, self.axes)
        return g * (self.e / self.total)
