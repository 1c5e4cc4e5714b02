"""Parameter initialisation, in place, drawing from tlcore's generator (PyTorch's nn.init).

The default layer initialisations are PyTorch's: Linear and Conv2d draw their weight
from kaiming_uniform_(a=sqrt(5)), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
their bias from the same interval (He et al. 2015, "Delving deep into rectifiers").
"""

import math

import numpy as np

from tlcore import backend
from tlcore.autograd import no_grad
from tlcore.random import generator

_GAINS = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}


def calculate_gain(nonlinearity, param=None):
    """The recommended std scale for a nonlinearity: relu sqrt(2), tanh 5/3,
    leaky_relu sqrt(2 / (1 + a^2)) with a the negative slope (default 0.01)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"nonlinearity must be one of {sorted(_GAINS) + ['leaky_relu']}, "
                         f"got {nonlinearity!r}")
    return _GAINS[nonlinearity]


def fan_in_and_fan_out(shape):
    """(fan_in, fan_out) of a weight: (out, in) for Linear, (out, in, kh, kw) for Conv2d."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight of at least 2 dimensions, "
                         f"got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor, values):
    with no_grad():
        tensor.copy_(backend.to_device(values.astype(tensor.dtype), tensor.device))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, generator().normal(mean, std, tensor.shape))


def constant_(tensor, value):
    with no_grad():
        tensor.fill_(value)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def _fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound), bound = gain * sqrt(3 / fan)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor.shape, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2), std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor.shape, mode))
    return normal_(tensor, 0.0, std)


def xavier_uniform_(tensor, gain=1.0):
    """U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def default_weight_and_bias_(weight, bias):
    """PyTorch's default for Linear and Conv2d (reset_parameters)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = fan_in_and_fan_out(weight.shape)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
