"""Losses: cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits, kl_div.

Signatures and reductions follow PyTorch (``reduction`` = "mean", "sum" or "none").
Class targets are validated at the boundary: integer dtype, right shape, in range.
"""

import numpy as np

from tlcore import backend
from tlcore.autograd import Function

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _reduce(losses, reduction, count=None):
    """Reduce per-element losses; return the value and d value / d loss_i (1 or 1/count),
    by which backward scales the upstream gradient. A mean over nothing is NaN (0 / 0),
    as in PyTorch."""
    if reduction == "none":
        return losses, 1.0
    if reduction == "sum":
        return losses.sum(), 1.0
    count = losses.size if count is None else count
    if count == 0:  # no loss to scale: the NaN scale only meets empty gradients
        with np.errstate(invalid="ignore"):
            return losses.sum() / count, float("nan")
    return losses.sum() / count, 1.0 / count


def check_class_target(op, target, scores, name="target"):
    """Class-index targets for scores of shape (N, C, d1, ...) (or (C,)), checked: shape
    (N, d1, ...) (or ()), any integer dtype, every value a class of [0, C). Returned as
    int64 on the scores' device."""
    expected = scores.shape[:1] + scores.shape[2:] if scores.ndim > 1 else ()
    if np.shape(target) != expected:
        raise ValueError(f"{op}: {name} has shape {np.shape(target)}; scores of shape "
                         f"{scores.shape} need class indices of shape {expected}")
    classes = scores.shape[1] if scores.ndim > 1 else scores.shape[0]
    return backend.check_indices(target, classes, op, name, "class", like=scores)


def _rows(scores, target):
    """Scores as (rows, C) and targets as (rows,): the class axis 1 moved last."""
    if scores.ndim == 2:
        return scores, target
    if scores.ndim == 1:
        return scores[None, :], target.reshape(1)
    moved = np.moveaxis(scores, 1, -1) if scores.ndim > 2 else scores
    return moved.reshape(-1, scores.shape[1]), target.reshape(-1)


def _unrows(rows, scores_shape):
    """Inverse of _rows for a gradient of shape (rows, C)."""
    if len(scores_shape) == 2:
        return rows
    if len(scores_shape) == 1:
        return rows[0]
    moved = rows.reshape((scores_shape[0],) + scores_shape[2:] + (scores_shape[1],))
    return np.moveaxis(moved, -1, 1)


class CrossEntropy(Function):
    """-log softmax(x)[target], fused: dL/dx = softmax(x) - onehot(target)."""

    def __init__(self, reduction="mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, logits, target):
        target = check_class_target("cross_entropy", target, logits)
        rows, t = _rows(logits, target)
        shifted = rows - rows.max(axis=1, keepdims=True)
        self.picked = backend.array_module(rows).arange(len(t))  # on rows' device
        true_class = shifted[self.picked, t]
        self.exp = np.exp(shifted, out=shifted)  # shifted is a fresh array: reuse it
        self.total = self.exp.sum(axis=1, keepdims=True)
        losses = np.log(self.total[:, 0]) - true_class
        self.t, self.shape = t, logits.shape
        out, self.scale = _reduce(losses, self.reduction)
        return out.reshape(target.shape) if self.reduction == "none" else out

    def backward(self, g):
        grad = self.exp / self.total  # softmax(x)
        grad[self.picked, self.t] -= 1
        g = g * self.scale
        grad *= g.reshape(-1, 1) if self.reduction == "none" else g
        return _unrows(grad, self.shape), None


class NLLLoss(Function):
    """-log_probs[target]: the negative log-likelihood of given log-probabilities."""

    def __init__(self, reduction="mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, log_probs, target):
        target = check_class_target("nll_loss", target, log_probs)
        rows, t = _rows(log_probs, target)
        self.t, self.shape, self.rows_shape = t, log_probs.shape, rows.shape
        out, self.scale = _reduce(-rows[backend.array_module(rows).arange(len(t)), t],
                                  self.reduction)
        return out.reshape(target.shape) if self.reduction == "none" else out

    def backward(self, g):
        g = g * self.scale
        xp = backend.array_module(g)
        grad = xp.zeros(self.rows_shape, dtype=g.dtype)
        grad[xp.arange(len(self.t)), self.t] = -g.reshape(-1)
        return _unrows(grad, self.shape), None


def _check_same_shape(name, x, target):
    if x.shape != np.shape(target):
        raise ValueError(f"{name}: input has shape {x.shape} but target has shape "
                         f"{np.shape(target)}; they must match")


class MSELoss(Function):
    """(x - target)^2; gradient 2 (x - target) to x and its negative to target."""

    def __init__(self, reduction="mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, x, target):
        _check_same_shape("mse_loss", x, target)
        self.diff = x - target
        out, self.scale = _reduce(self.diff * self.diff, self.reduction)
        return out

    def backward(self, g):
        grad = (2 * g * self.scale) * self.diff
        return grad, -grad


class BCEWithLogits(Function):
    """Binary cross-entropy on logits, stable for any x:
    max(x, 0) - x t + log(1 + e^-|x|);  dL/dx = sigmoid(x) - t,  dL/dt = -x."""

    def __init__(self, reduction="mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, x, target):
        _check_same_shape("binary_cross_entropy_with_logits", x, target)
        self.x, self.target = x, target
        losses = np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))
        out, self.scale = _reduce(losses, self.reduction)
        return out

    def backward(self, g):
        g = g * self.scale
        sigmoid = 0.5 * np.tanh(0.5 * self.x) + 0.5
        need_x, need_t = self.needs_input_grad
        return (g * (sigmoid - self.target) if need_x else None), (-g * self.x if need_t else None)


class KLDiv(Function):
    """PyTorch's kl_div: input holds log-probabilities q, target probabilities p (or
    log p with log_target=True); loss_i = p_i (log p_i - q_i), with 0 where p_i = 0.

    reduction "batchmean" divides the sum by the batch size (the true KL divergence);
    "mean" divides by the number of elements, as PyTorch does. The gradient to a target
    p_i = 0 uses log p_i := 0 (giving 1 - q_i) where the true derivative is unbounded
    (PyTorch returns nan there); a target is usually a constant anyway.
    """

    def __init__(self, reduction="mean", log_target=False):
        self.reduction = check_reduction(reduction, REDUCTIONS + ("batchmean",))
        self.log_target = log_target

    def forward(self, q, target):
        _check_same_shape("kl_div", q, target)
        if self.log_target:
            p, log_p = np.exp(target), target
        else:
            p = target
            with np.errstate(divide="ignore", invalid="ignore"):
                log_p = np.where(p > 0, np.log(np.where(p > 0, p, 1)), 0)
        self.q, self.p, self.log_p = q, p, log_p
        losses = p * (log_p - q)
        if self.reduction == "batchmean":
            count = q.shape[0] if q.ndim else 1
            out, self.scale = _reduce(losses, "mean", count=count)
        else:
            out, self.scale = _reduce(losses, self.reduction)
        return out

    def backward(self, g):
        g = g * self.scale
        need_q, need_t = self.needs_input_grad
        gq = -g * self.p if need_q else None
        gt = None
        if need_t:  # d/dp [p (log p - q)] = log p + 1 - q ; with log target: p (log p + 1 - q)
            inner = self.log_p + 1 - self.q
            gt = g * (self.p * inner if self.log_target else inner)
        return gq, gt
