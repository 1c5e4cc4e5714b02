"""Shape ops: reshape, transpose/permute, indexing, concat, stack, and device moves.

reshape, transpose and basic indexing return numpy views when they can: they are
marked ``is_view`` so the output shares its input's version counter.
"""

import numpy as np

from tlcore import backend
from tlcore.autograd import Function, Tensor


class Reshape(Function):
    is_view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {self.shape}") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    """Reorder the axes: out.shape[i] = x.shape[axes[i]]."""

    is_view = True

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        n = x.ndim
        if len(self.axes) != n or any(not -n <= a < n for a in self.axes) or \
                sorted(a % n for a in self.axes) != list(range(n)):
            raise ValueError(f"permute: axes {self.axes} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {x.shape}")
        return x.transpose(self.axes)

    def backward(self, g):  # the inverse permutation
        return g.transpose(tuple(np.argsort([a % g.ndim for a in self.axes]).tolist()))


def _plain_index(index):
    """Replace tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    return index


def _is_advanced(index):
    """True if numpy would use advanced (integer- or bool-array) indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) or hasattr(p, "__cuda_array_interface__")
               for p in parts)


def _has_integer_array(index):
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, list) or (hasattr(p, "dtype") and p.dtype != np.bool_ and np.ndim(p) > 0):
            return True
    return False


class GetItem(Function):
    """x[index] for basic (slices, ints, None, ...), integer-array and boolean indices.

    Backward scatters the gradient into zeros; integer arrays may repeat an index, so
    they accumulate with ``np.add.at`` (repeated indices add up).
    """

    def __init__(self, index):
        self.index = _plain_index(index)
        self.is_view = not _is_advanced(self.index)

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, g):
        xp = backend.array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        if _has_integer_array(self.index):
            xp.add.at(grad, self.index, g)
        else:
            grad[self.index] = g
        return grad


class Concat(Function):
    """Join tensors along an existing axis."""

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        if not xs:
            raise ValueError("concat needs at least one tensor")
        ndim = xs[0].ndim
        if any(x.ndim != ndim for x in xs) or not -ndim <= self.axis < ndim:
            raise ValueError(f"concat along axis {self.axis}: shapes {[x.shape for x in xs]} "
                             "do not match (each needs the same number of axes, and the "
                             "axis must be one of them)")
        self.splits = np.cumsum([x.shape[self.axis] for x in xs])[:-1].tolist()  # ints
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError as exc:
            raise ValueError(f"concat along axis {self.axis}: shapes "
                             f"{[x.shape for x in xs]} do not match ({exc})") from None

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))


class Stack(Function):
    """Join tensors of one shape along a new axis."""

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        if len({x.shape for x in xs}) > 1:
            raise ValueError(f"stack needs tensors of one shape, got {[x.shape for x in xs]}")
        out = np.stack(xs, axis=self.axis)
        self.axis_ = self.axis % out.ndim
        return out

    def backward(self, g):
        lead = (slice(None),) * self.axis_
        return tuple(g[lead + (i,)] for i in range(g.shape[self.axis_]))
