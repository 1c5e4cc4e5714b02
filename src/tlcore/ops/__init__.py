"""Differentiable ops as plain functions, and the Tensor operators and methods.

Each function builds its Function (tlcore/ops/<family>.py) and calls it; the last
part of this file attaches operators (+, @, ...) and methods (sum, exp, ...) to Tensor,
so that ``x.sum()`` and ``tlcore.ops.sum(x)`` are one code path.
"""

import numpy as np

from tlcore.autograd import Tensor, raw
from tlcore.backend import array_module
from tlcore.random import generator
from tlcore.ops.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tlcore.ops.conv import conv2d  # noqa: F401
from tlcore.ops.embedding import Embedding
from tlcore.ops.elementwise import (Abs, Add, Clip, Div, Exp, Log, Mul, Neg, Pow, Sqrt,
                                    Sub, Where)
from tlcore.ops.linalg import Linear, MatMul
from tlcore.ops.loss import BCEWithLogits, CrossEntropy, KLDiv, MSELoss, NLLLoss
from tlcore.ops.normalization import BatchNorm
from tlcore.ops.pool import avg_pool2d, max_pool2d  # noqa: F401
from tlcore.ops.reduction import LogSumExp, Max, Mean, Min, Sum
from tlcore.ops.reverse import GradReverse
from tlcore.ops.scores import (embedding_hinge_max_loss, embedding_scores,  # noqa: F401
                               hinge_max_loss, hinge_sum_loss)
from tlcore.ops.shape import Concat, GetItem, Permute, Reshape, Stack
from tlcore.ops.upsample import upsample_nearest  # noqa: F401

# -- elementwise -------------------------------------------------------------------------


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def pow(a, b):  # noqa: A001 - the name PyTorch and numpy use
    return Pow()(a, b)


def neg(x):
    return Neg()(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):  # noqa: A001
    return Abs()(x)


def clip(x, low=None, high=None):
    return Clip(low, high)(x)


def where(condition, a, b):
    """a where condition holds, else b (condition: a bool tensor or array)."""
    return Where()(condition, a, b)


# -- activations -------------------------------------------------------------------------


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return ReLU()(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU(negative_slope)(x)


def softmax(x, axis=-1):
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    return LogSoftmax(axis)(x)


# -- reductions --------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum; its gradient goes to the first maximal element."""
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum; its gradient goes to the first minimal element."""
    return Min(axis, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp(axis, keepdims)(x)


# -- shapes ------------------------------------------------------------------------------


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape(shape)(x)


def permute(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Permute(axes)(x)


def transpose(x, *axes):
    """No axes: reverse them (numpy's .T). Two axes: swap them (PyTorch's
    transpose(dim0, dim1)). More axes: a permutation (numpy's transpose(axes))."""
    ndim = x.ndim
    if not axes:
        axes = tuple(reversed(range(ndim)))
    elif len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    elif len(axes) == 2:
        order = list(range(ndim))
        i, j = axes[0] % ndim, axes[1] % ndim
        order[i], order[j] = order[j], order[i]
        axes = tuple(order)
    return Permute(axes)(x)


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes start_axis..end_axis into one (PyTorch's flatten)."""
    shape = x.shape
    if not shape:
        return reshape(x, (1,))
    start, end = start_axis % len(shape), end_axis % len(shape)
    merged = int(np.prod(shape[start:end + 1]))
    return reshape(x, shape[:start] + (merged,) + shape[end + 1:])


def getitem(x, index):
    return GetItem(index)(x)


def concat(tensors, axis=0):
    return Concat(axis)(*tensors)


def stack(tensors, axis=0):
    return Stack(axis)(*tensors)


# -- linear algebra ----------------------------------------------------------------------


def matmul(a, b):
    return MatMul()(a, b)


def linear(x, weight, bias=None):
    """x @ weight.T + bias, as one node (PyTorch's F.linear)."""
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)


# -- losses ------------------------------------------------------------------------------


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy with class-index targets: logits (N, C) or (N, C, d...)."""
    return CrossEntropy(reduction)(logits, target)


def nll_loss(log_probs, target, reduction="mean"):
    return NLLLoss(reduction)(log_probs, target)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - PyTorch's argument name
    return MSELoss(reduction)(input, target)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):  # noqa: A002
    return BCEWithLogits(reduction)(input, target)


def kl_div(input, target, reduction="mean", log_target=False):  # noqa: A002
    return KLDiv(reduction, log_target)(input, target)


def grad_reverse(x, lambda_=1.0):
    """Identity forward; the gradient is multiplied by -lambda_ on the way back."""
    return GradReverse(lambda_)(x)


# -- layers' functional forms (PyTorch's signatures) -------------------------------------


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) of x. training=True: by the batch statistics, and
    the running ones (arrays or tensors, if given) move in place toward them:
    running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
    training=False: by the running statistics."""
    running_mean, running_var = raw(running_mean), raw(running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm takes both running_mean and running_var, or neither")
    if not training:
        if running_mean is None:
            raise ValueError("batch_norm with training=False needs running_mean and running_var")
        fn = BatchNorm(eps, running_mean, running_var)
    else:
        fn = BatchNorm(eps)
    out = fn(x, weight, bias)
    if training and running_mean is not None:
        count = x.size // x.shape[1]
        running_mean *= 1 - momentum
        running_mean += momentum * fn.batch_mean
        running_var *= 1 - momentum
        running_var += momentum * fn.batch_var * (count / (count - 1))
    return out


def embedding(indices, weight, padding_idx=None):
    """Rows of ``weight`` picked by integer ``indices``: shape indices.shape + (dim,).
    The indices are copied: changing them after the call cannot misdirect the gradient."""
    indices = raw(indices)
    if not hasattr(indices, "dtype"):  # a list or an int
        indices = np.asarray(indices)
    return Embedding(indices.copy(), padding_idx)(weight)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout, Srivastava et al. 2014), so evaluation needs no rescaling. The mask comes
    from tlcore's generator: repeatable under tlcore.manual_seed."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if not training or p == 0.0:
        return x
    data = x.data
    if x.device == "cpu":
        uniform = generator().random(data.shape)
    else:  # drawn on the device (no host-to-device copy), seeded from tlcore's generator
        seed = int(generator().integers(2**63))
        uniform = array_module(data).random.default_rng(seed).random(data.shape)
    keep = uniform >= p
    mask = keep.astype(data.dtype) / (1.0 - p) if p < 1.0 else keep.astype(data.dtype)
    return mul(x, mask)


# -- Tensor operators and methods --------------------------------------------------------


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _comparison(ufunc):
    def compare(self, other):
        return Tensor(ufunc(self.data, raw(other)))
    return compare


_METHODS = {
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul),
    "__truediv__": div, "__rtruediv__": _reflected(div),
    "__pow__": pow, "__rpow__": _reflected(pow),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": neg, "__abs__": abs, "__getitem__": getitem,
    "__lt__": _comparison(np.less), "__le__": _comparison(np.less_equal),
    "__gt__": _comparison(np.greater), "__ge__": _comparison(np.greater_equal),
    "__eq__": _comparison(np.equal), "__ne__": _comparison(np.not_equal),
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "leaky_relu": leaky_relu, "clip": clip, "softmax": softmax,
    "log_softmax": log_softmax, "sum": sum, "mean": mean, "max": max, "min": min,
    "logsumexp": logsumexp, "reshape": reshape, "permute": permute,
    "transpose": transpose, "flatten": flatten, "matmul": matmul,
    "T": property(transpose),
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
