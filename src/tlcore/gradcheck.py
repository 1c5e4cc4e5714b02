"""Finite-difference verification of gradients (after Chainer's gradient checker).

For a random cotangent v (one per output), the analytic gradient of
L(x) = sum(fn(x) * v) from backward is compared, element by element, with the central
difference (L(x + eps e_i) - L(x - eps e_i)) / (2 eps), all in float64. Two further
checks: a zero cotangent gives zero gradients, and two backward passes agree exactly.
"""

import numpy as np

from tlcore import backend
from tlcore.autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """A gradient that does not match its finite-difference estimate."""


def _as_float64(x):
    """A float64 leaf with x's values (a float64 array is used as is, strides and all,
    so that a non-contiguous input stays non-contiguous)."""
    if not isinstance(x, Tensor):
        return x
    return Tensor(x.data, requires_grad=x.requires_grad, dtype=np.float64)


def _outputs(result):
    return result if isinstance(result, (tuple, list)) else (result,)


def _objective(fn, inputs, cotangents):
    """sum_k sum(fn(inputs)[k] * v_k) as a float, with no graph."""
    with no_grad():
        outs = _outputs(fn(*inputs))
        return float(sum(np.sum(backend.to_device(o.data, "cpu") * v)
                         for o, v in zip(outs, cotangents)))


def _analytic(fn, inputs, cotangents):
    """Gradients of every input that requires grad, for the given cotangents."""
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    outs = _outputs(fn(*inputs))
    live = [(o, v) for o, v in zip(outs, cotangents) if o.requires_grad]
    if not live:
        raise GradcheckError("no output of fn requires grad: nothing to check")
    if len(live) == 1:
        live[0][0].backward(live[0][1].astype(live[0][0].dtype))
    else:
        total = None
        for o, v in live:
            term = (o * v).sum()
            total = term if total is None else total + term
        total.backward()
    return [None if not (isinstance(x, Tensor) and x.requires_grad) else
            (np.zeros(x.shape) if x.grad is None else backend.to_device(x.grad, "cpu"))
            for x in inputs]


def _describe(x):
    text = np.array2string(np.asarray(x), precision=6, threshold=40)
    return text if len(text) < 800 else text[:800] + " ..."


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Check the backward of ``fn`` against central finite differences, in float64.

    ``fn(*inputs)`` returns a Tensor or a tuple of Tensors; ``inputs`` are Tensors
    (those with requires_grad are checked) or other arguments passed through.
    Returns True, or raises GradcheckError naming the input, the worst element and
    both values (or returns False if ``raise_exception=False``).
    """
    inputs = [_as_float64(x) for x in inputs]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    rng = np.random.default_rng(seed)
    with no_grad():
        shapes = [o.shape for o in _outputs(fn(*inputs))]
    cotangents = [rng.standard_normal(s) for s in shapes]

    try:
        analytic = _analytic(fn, inputs, cotangents)
        for i in checked:
            x, a = inputs[i], analytic[i]
            if a.shape != x.shape or a.dtype != np.float64:
                raise GradcheckError(f"input {i}: gradient has shape {a.shape} and dtype "
                                     f"{a.dtype}, expected {x.shape} and float64")
            numeric = np.zeros(x.shape)
            data = x.data
            for index in np.ndindex(*x.shape):
                original = data[index]
                data[index] = original + eps
                plus = _objective(fn, inputs, cotangents)
                data[index] = original - eps
                minus = _objective(fn, inputs, cotangents)
                data[index] = original
                numeric[index] = (plus - minus) / (2 * eps)
            error = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
            if error.size and error.max() > 0:
                worst = tuple(int(k) for k in np.unravel_index(int(np.argmax(error)), error.shape))
                raise GradcheckError(
                    f"gradcheck failed for input {i} (shape {x.shape}) at element {worst}: "
                    f"analytic {float(a[worst])!r}, numeric {float(numeric[worst])!r} "
                    f"(atol={atol}, rtol={rtol}, eps={eps})\n"
                    f"input {i}:\n{_describe(data)}\nanalytic gradient:\n{_describe(a)}\n"
                    f"numeric gradient:\n{_describe(numeric)}")

        zero = _analytic(fn, inputs, [np.zeros(s) for s in shapes])
        for i in checked:
            if np.any(zero[i] != 0):
                raise GradcheckError(f"input {i}: a zero cotangent gave a nonzero gradient "
                                     f"(max |g| = {np.abs(zero[i]).max()})")
        again = _analytic(fn, inputs, cotangents)
        for i in checked:
            if not np.array_equal(again[i], analytic[i]):
                diff = np.abs(again[i] - analytic[i]).max()
                raise GradcheckError(f"input {i}: two backward passes disagree (max "
                                     f"difference {diff}); backward is not reentrant")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True
