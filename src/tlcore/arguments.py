"""The arguments that several layers check the same way: a window's (height, width),
a layer's positive size, the gradient reversal's scale. At the bottom of the house
(numpy only), so that the kernels, the ops, the layers and the transfer methods share
one rule and one message for each.
"""

import math
import numbers

import numpy as np


def pair(value, op, name):
    """An int or a pair of ints -> (height, width) of Python ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def check_positive(name, value):
    """Layer sizes are positive integers: say which one is not."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_lambda(lambda_):
    """``lambda_`` as a float, or a ValueError: the reversal's scale is a finite number."""
    if not isinstance(lambda_, numbers.Real) or isinstance(lambda_, bool) \
            or not math.isfinite(lambda_):
        raise ValueError(f"lambda_ must be a finite number, got {lambda_!r}")
    return float(lambda_)
