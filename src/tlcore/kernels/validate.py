"""The checks every kernel call passes before any backend runs: one validator per kernel
signature, in this one place.

The compiled backends (numba, native, cupy) trust their arguments: an argmax past its
plane, a target of -1, a groups that does not divide the channels or an ``out`` one
element short would make them read or write outside an array. So registry.register
wraps every implementation it registers in its kernel's validator: a kernel reached by
``kernels.get``, ``registry.implementation`` or its module's name
(``tlcore.kernels.backends.numba_cpu.maxpool2d_backward``) is the wrapped one, and a backend
without a validator for its kernel cannot register it.

A validator takes the kernel's arguments and returns them, all positional, with the
geometry as (height, width) pairs of Python ints and shapes as tuples, or raises an error
that names the kernel, the argument and what was expected: TypeError for a wrong type or
dtype, ValueError for a wrong shape or value, IndexError for an index out of range.

What is checked: ranks and shapes that agree with each other, the window geometry,
the range of every index array, ``out``'s shape and dtype, and the dtypes the kernel
takes. Contiguity is not: every backend copies a non-contiguous input it cannot read,
and writes a non-contiguous ``out`` through a contiguous temporary.
Cost: O(1) checks, plus one pass over each index array (see _check_indices).
"""

import numbers
import sys

import numpy as np

from tlcore.arguments import pair
from tlcore.backend import outside
from tlcore.kernels.geometry import conv2d_output_size, pool2d_output_size

# Pooling windows, strides, paddings, dilations and groups at most this: the sums and
# products of them and of array sizes in the compiled loops then stay far inside their
# 64-bit integers.
LARGEST = 2**31 - 1

# The dtype kinds an array may have, and how an error describes them.
FLOATING = ("f", "floating-point values")
REAL = ("iuf", "real numbers (integer or floating-point)")
INDICES = ("iu", "integer indices")

_VALIDATORS = {}  # kernel name -> its validator


def validator(op):
    """The validator of kernel ``op``; a kernel without one cannot be registered."""
    if op not in _VALIDATORS:
        raise KeyError(f"kernel {op!r} has no validator in tlcore/kernels/validate.py; "
                       f"every kernel needs one (known: {sorted(_VALIDATORS)})")
    return _VALIDATORS[op]


def _validates(fn):
    """Register ``fn`` as the validator of the kernel of the same name."""
    _VALIDATORS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------------------ helpers


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_cupy_array(value):
    cupy = sys.modules.get("cupy")  # not imported: no cupy array can exist
    return cupy is not None and isinstance(value, cupy.ndarray)


def _check_array(op, name, value, kind, axes=None):
    """Check that ``value`` is a numpy or cupy array of dtype ``kind`` (one of FLOATING,
    REAL, INDICES) and, given ``axes`` (their names), of that many axes."""
    if not (isinstance(value, np.ndarray) or _is_cupy_array(value)):
        raise TypeError(f"{op}: {name} must be a numpy or cupy array, got "
                        f"{type(value).__name__}")
    kinds, what = kind
    if value.dtype.kind not in kinds:
        raise TypeError(f"{op}: {name} must hold {what}, got dtype {value.dtype}")
    if axes is not None and value.ndim != len(axes):
        raise ValueError(f"{op}: {name} must be {len(axes)}-D ({', '.join(axes)}), got "
                         f"shape {tuple(value.shape)}")


def _check_indices(op, name, index, shape, size, what, where=""):
    """Check that ``index`` holds integers (any dtype and byte order), has ``shape`` and
    every value in [0, size) (``what`` they are and ``where`` they point, for the error):
    one pass over it (``backend.outside``).

    The range of an index array on the GPU is left to the cupy kernels, which never
    index outside an array with it (a bad index gives a NaN): reading its largest value
    back here would synchronise the GPU on every call."""
    _check_array(op, name, index, INDICES)
    if tuple(index.shape) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {tuple(index.shape)}")
    if _is_cupy_array(index):
        return
    bad = outside(np.asarray(index), size)  # what the kernels read: a masked array's data
    if bad is not None:
        raise IndexError(f"{op}: {name} holds the {what} {bad}, outside [0, {size}){where}")


def _check_number(op, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")


def _shape(op, name, value, axes):
    """``value`` as a tuple of len(axes) ints >= 0 (an array's shape)."""
    if (not isinstance(value, (tuple, list)) or len(value) != len(axes)
            or not all(_is_int(v) for v in value)):
        raise TypeError(f"{op}: {name} must be a shape ({', '.join(axes)}) of "
                        f"{len(axes)} ints, got {value!r}")
    if min(value) < 0:
        raise ValueError(f"{op}: {name} must have no negative size, got {tuple(value)}")
    return tuple(int(v) for v in value)


def _pair(op, name, value, low):
    """``value`` (an int or a pair of ints) as a (height, width) pair in [low, LARGEST]."""
    values = pair(value, op, name)
    if not all(low <= v <= LARGEST for v in values):
        raise ValueError(f"{op}: {name} must be between {low} and 2**31 - 1, got {value!r}")
    return values


def _pool_geometry(op, size, kernel, stride, padding):
    """(kernel, stride, padding) as pairs, after checking them against the (H, W) size:
    a kernel and stride >= 1, a padding between 0 and half the kernel (PyTorch's rule:
    every window then holds a real element) and an output of at least 1x1."""
    kernel = _pair(op, "kernel", kernel, 1)
    stride = _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding must be at most half the kernel, got padding "
                         f"{padding} for kernel {kernel}")
    out_size = pool2d_output_size(size, kernel, stride, padding)
    if min(out_size) < 1:
        raise ValueError(f"{op}: a plane of {size[0]}x{size[1]} is too small for kernel "
                         f"{kernel} with padding {padding}: the output would be "
                         f"{out_size[0]}x{out_size[1]}")
    return kernel, stride, padding


def _conv_geometry(op, x_shape, weight_shape, stride, padding, dilation, groups):
    """(stride, padding, dilation, groups, (out_h, out_w)) of a convolution of x
    (N, C_in, H, W) by weight (C_out, C_in / groups, kh, kw), after checking that they
    fit: stride and dilation >= 1, padding >= 0, groups dividing both channel counts, a
    kernel of at least 1x1 and an output of at least 1x1."""
    stride = _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    if not _is_int(groups):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if not 1 <= groups <= LARGEST:
        raise ValueError(f"{op}: groups must be between 1 and 2**31 - 1, got {groups}")
    c_in, (height, width) = x_shape[1], x_shape[2:]
    c_out, c_group, kh, kw = weight_shape
    if min(c_in, c_out, kh, kw) < 1:
        raise ValueError(f"{op}: x {x_shape} and weight {weight_shape} must have at least "
                         f"one channel each and a kernel of at least 1x1")
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide C_in = {c_in} and C_out = "
                         f"{c_out}, got x {x_shape} and weight {weight_shape}")
    if c_group != c_in // groups:
        raise ValueError(f"{op}: weight {weight_shape} must have C_in / groups = "
                         f"{c_in // groups} in its second axis for x {x_shape} and "
                         f"groups={groups}")
    out_size = (conv2d_output_size(height, kh, stride[0], padding[0], dilation[0]),
                conv2d_output_size(width, kw, stride[1], padding[1], dilation[1]))
    if min(out_size) < 1:
        raise ValueError(f"{op}: the output would be empty ({out_size[0]}x{out_size[1]}): "
                         f"x {x_shape} is smaller than the kernel {kh}x{kw} dilated by "
                         f"{dilation}, with padding {padding}")
    return stride, padding, dilation, int(groups), out_size


def _check_grad_out(op, grad_out, n, c_out, out_size):
    _check_array(op, "grad_out", grad_out, REAL, ("N", "C_out", "H_out", "W_out"))
    expected = (n, c_out, *out_size)
    if tuple(grad_out.shape) != expected:
        raise ValueError(f"{op}: grad_out must have the output's shape {expected}, got "
                         f"{tuple(grad_out.shape)}")


# ---------------------------------------------------------------------------- validators
# One per kernel signature, named as the kernel (reference.py states each contract).


@_validates
def axpy(alpha, x, y):
    op = "axpy"
    _check_number(op, "alpha", alpha)
    _check_array(op, "x", x, FLOATING)
    _check_array(op, "y", y, FLOATING)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"{op}: x must have y's shape {tuple(y.shape)}, got {tuple(x.shape)}")
    if x.dtype != y.dtype:
        raise TypeError(f"{op}: x must have y's dtype {y.dtype}, got {x.dtype}")
    if type(x) is not type(y):
        raise TypeError(f"{op}: x and y must be on one device, got {type(x).__name__} and "
                        f"{type(y).__name__}")
    if not getattr(y.flags, "writeable", True):
        raise ValueError(f"{op}: y must be writeable (it is updated in place)")
    return alpha, x, y


@_validates
def grad_reverse_backward(grad, lambda_, out=None):
    op = "grad_reverse_backward"
    _check_array(op, "grad", grad, FLOATING)
    _check_number(op, "lambda_", lambda_)
    if out is not None:
        _check_array(op, "out", out, FLOATING)
        if tuple(out.shape) != tuple(grad.shape):
            raise ValueError(f"{op}: out must have grad's shape {tuple(grad.shape)}, got "
                             f"{tuple(out.shape)}")
        if out.dtype != grad.dtype:
            raise TypeError(f"{op}: out must have grad's dtype {grad.dtype}, got {out.dtype}")
        if not getattr(out.flags, "writeable", True):
            raise ValueError(f"{op}: out must be writeable")
    return grad, lambda_, out


@_validates
def embedding_scores(f, g, paired=False):
    op = "embedding_scores"
    if not isinstance(paired, (bool, np.bool_)):
        raise TypeError(f"{op}: paired must be True or False, got {paired!r}")
    _check_array(op, "f", f, REAL, ("N", "D"))
    _check_array(op, "g", g, REAL, ("N", "D") if paired else ("C", "D"))
    if paired and g.shape != f.shape:
        raise ValueError(f"{op}: paired g must have f's shape {tuple(f.shape)}, got "
                         f"{tuple(g.shape)}")
    if g.shape[1] != f.shape[1]:
        raise ValueError(f"{op}: g must have f's D = {f.shape[1]}, got shape {tuple(g.shape)}")
    return f, g, bool(paired)


@_validates
def hinge_max_forward(scores, target, margin):
    op = "hinge_max_forward"
    _check_array(op, "scores", scores, FLOATING, ("N", "C"))
    rows, classes = scores.shape
    if classes < 2:
        raise ValueError(f"{op}: scores must have at least 2 classes, got shape "
                         f"{tuple(scores.shape)}")
    _check_indices(op, "target", target, (rows,), classes, "class index")
    _check_number(op, "margin", margin)
    return scores, target, margin


@_validates
def embedding_hinge_max_forward(f, g, target, margin):
    op = "embedding_hinge_max_forward"
    _check_array(op, "f", f, FLOATING, ("N", "D"))
    _check_array(op, "g", g, FLOATING, ("C", "D"))
    if g.shape[1] != f.shape[1] or g.shape[0] < 2:
        raise ValueError(f"{op}: g must be (C, {f.shape[1]}), f's D, with C >= 2 classes, "
                         f"got shape {tuple(g.shape)}")
    _check_indices(op, "target", target, (f.shape[0],), g.shape[0], "class index")
    _check_number(op, "margin", margin)
    return f, g, target, margin


@_validates
def hinge_max_backward(f, g, target, negative, weight):
    op = "hinge_max_backward"
    _check_array(op, "f", f, REAL, ("N", "D"))
    _check_array(op, "g", g, REAL, ("C", "D"))
    if g.shape[1] != f.shape[1]:
        raise ValueError(f"{op}: g must have f's D = {f.shape[1]}, got shape {tuple(g.shape)}")
    rows, classes = f.shape[0], g.shape[0]
    _check_indices(op, "target", target, (rows,), classes, "class index")
    _check_indices(op, "negative", negative, (rows,), classes, "class index")
    _check_array(op, "weight", weight, REAL, ("N",))
    if weight.shape[0] != rows:
        raise ValueError(f"{op}: weight must have shape ({rows},), got {tuple(weight.shape)}")
    return f, g, target, negative, weight


@_validates
def maxpool2d_forward(x, kernel, stride, padding):
    op = "maxpool2d_forward"
    _check_array(op, "x", x, REAL, ("N", "C", "H", "W"))
    return (x, *_pool_geometry(op, x.shape[2:], kernel, stride, padding))


@_validates
def maxpool2d_backward(grad_out, argmax, x_shape):
    op = "maxpool2d_backward"
    x_shape = _shape(op, "x_shape", x_shape, ("N", "C", "H", "W"))
    _check_array(op, "grad_out", grad_out, REAL, ("N", "C", "H_out", "W_out"))
    if tuple(grad_out.shape[:2]) != x_shape[:2]:
        raise ValueError(f"{op}: grad_out {tuple(grad_out.shape)} must have the N and C of "
                         f"x_shape {x_shape}")
    plane = x_shape[2] * x_shape[3]
    _check_indices(op, "argmax", argmax, tuple(grad_out.shape), plane, "flat index",
                   f", the {x_shape[2]}x{x_shape[3]} plane of x_shape")
    return grad_out, argmax, x_shape


@_validates
def conv2d_forward(x, weight, stride, padding, dilation, groups):
    op = "conv2d_forward"
    _check_array(op, "x", x, REAL, ("N", "C_in", "H", "W"))
    _check_array(op, "weight", weight, REAL, ("C_out", "C_in / groups", "kh", "kw"))
    *geometry, _ = _conv_geometry(op, tuple(x.shape), tuple(weight.shape), stride, padding,
                                  dilation, groups)
    return (x, weight, *geometry)


@_validates
def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    op = "conv2d_backward_input"
    x_shape = _shape(op, "x_shape", x_shape, ("N", "C_in", "H", "W"))
    _check_array(op, "weight", weight, REAL, ("C_out", "C_in / groups", "kh", "kw"))
    *geometry, out_size = _conv_geometry(op, x_shape, tuple(weight.shape), stride, padding,
                                         dilation, groups)
    _check_grad_out(op, grad_out, x_shape[0], weight.shape[0], out_size)
    return (grad_out, weight, x_shape, *geometry)


@_validates
def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    op = "conv2d_backward_weight"
    weight_shape = _shape(op, "weight_shape", weight_shape,
                          ("C_out", "C_in / groups", "kh", "kw"))
    _check_array(op, "x", x, REAL, ("N", "C_in", "H", "W"))
    *geometry, out_size = _conv_geometry(op, tuple(x.shape), weight_shape, stride, padding,
                                         dilation, groups)
    _check_grad_out(op, grad_out, x.shape[0], weight_shape[0], out_size)
    return (grad_out, x, weight_shape, *geometry)
