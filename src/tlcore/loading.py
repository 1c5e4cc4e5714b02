"""A loaded value checked before it replaces state: the one rule that
``Module.load_state_dict`` and ``Optimizer.load_state_dict`` share, so that a refused
load changes nothing and a value never changes meaning on the way in.
"""

import numpy as np

from tlcore import backend
from tlcore.autograd import raw


def checked_copy(value, like, floats_only=False):
    """``value`` (an array, a Tensor, a list or a number) as a new array with the shape,
    dtype and device of the array ``like``, or a ValueError that says why it cannot be.

    Real numbers only (no object, string or complex arrays), and no conversion that loses
    meaning: bool fills bool arrays only, a float does not go into an int array, and a value
    must fit the dtype (no 1e300 into float32, no 2**63 into int64). ``floats_only``: the
    value itself must be a floating point array.
    """
    value = raw(value)
    if not (isinstance(value, np.ndarray) or backend.is_gpu_array(value)):
        try:
            value = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise ValueError(f"cannot be read as an array ({error})") from None
    given, dtype = value.dtype, like.dtype
    if given.kind not in ("f" if floats_only else "biuf"):
        kind = "floating point" if floats_only else "real"
        raise ValueError(f"expected {kind} numbers, got dtype {given}")
    if (given.kind == "b") != (dtype.kind == "b") or (given.kind == "f" and dtype.kind != "f"):
        raise ValueError(f"{given} values for dtype {dtype}")
    if value.shape != like.shape:
        raise ValueError(f"expected shape {tuple(like.shape)}, got {tuple(value.shape)}")
    if dtype.kind in "iu" and value.size:
        limits = np.iinfo(dtype)
        if value.min() < limits.min or value.max() > limits.max:
            raise ValueError(f"values outside the range of {dtype}")
    try:
        with np.errstate(over="raise"):
            value = value.astype(dtype)  # a copy, so later changes to value do not reach us
    except FloatingPointError:
        raise ValueError(f"values too large for {dtype}") from None
    return backend.to_device(value, backend.device_of(like))
