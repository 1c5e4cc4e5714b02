"""Scores of inputs against class descriptions, and the zero-shot ranking hinge losses.

Zero-shot learning by attribute embedding (the lecture; Frome et al. 2013, Akata et al.
2013) maps an input x by f and a class description y (an attribute or word vector) by g
into one space, and scores the pair by a dot product. The true class must beat the
others by a margin k: the best other class in the structured hinge of SJE (Akata et al.,
CVPR 2015, the lecture's loss), every other class in turn in DeViSE (Frome et al., NIPS
2013), which sums the hinge over the wrong classes:

    S[n, c] = f(x^n) . g(y_c)                                   embedding_scores(f, g)
    L = sum_n max(0, k - S[n, y_n] + max_{c != y_n} S[n, c])     hinge_max_loss(S, y, k)
    L = sum_n sum_{c != y_n} max(0, k - S[n, y_n] + S[n, c])     hinge_sum_loss(S, y, k)

embedding_hinge_max_loss(f, g, y, k) fuses the first two: it has the value of
hinge_max_loss(embedding_scores(f, g), y, k), but its backward goes straight to f and g
through the sparse ``hinge_max_backward`` kernel. An active sample sends gradient to
two class rows of g only (its true class and its hardest other class), so the backward
costs O(N*D) instead of the O(N*C*D) of forming and multiplying the (N, C) gradient.
The composition as the lecture writes it takes the same sparse backward where it can:
hinge_max_loss's gradient of the scores is a HingeGradient, which still holds every
entry of dS (for whoever reads it) and also what it is made of, and embedding_scores's
backward, handed one, calls the kernel instead of its two dense GEMMs.

The max form's array work goes through the kernels registry (numpy, numba, native,
cupy); the sum form is plain array code on the scores' module (numpy or cupy).
"""

import numbers

import numpy as np

from tlcore import backend, kernels
from tlcore.autograd import Function
from tlcore.ops.loss import _reduce, check_class_target, check_reduction


def _check_embeddings(f, g):
    """f (N, D) and g (C, D): two matrices of embeddings in one space."""
    if f.ndim != 2 or g.ndim != 2:
        raise ValueError(f"embedding_scores needs f of shape (N, D) and g of shape (C, D), "
                         f"got f {f.shape} and g {g.shape}")
    if f.shape[1] != g.shape[1]:
        raise ValueError(f"embedding_scores: f has D = {f.shape[1]} but g has D = "
                         f"{g.shape[1]}; both must embed into the same space")


def _check_margin(margin):
    if (isinstance(margin, bool) or not isinstance(margin, numbers.Real)
            or not np.isfinite(margin) or margin < 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    return float(margin)


def _check_scores(scores, target, op="hinge_max_loss"):
    """scores (N, C) with C >= 2 and target (N,) integer in [0, C), as int64."""
    if scores.ndim != 2:
        raise ValueError(f"{op} needs scores of shape (N, C), got {scores.shape}")
    if scores.shape[1] < 2:
        raise ValueError(f"{op} needs at least 2 classes (a true class and "
                         f"another to compare it with), got scores of shape {scores.shape}")
    return check_class_target(op, target, scores)  # int64: one index dtype for every backend


class HingeGradient(np.ndarray):
    """HingeMaxLoss's gradient of the scores, dS (N, C): a plain array of its values, -w_n
    at S[n, y_n] and +w_n at S[n, m_n], 0 elsewhere, that also keeps ``made_of`` = (y, m,
    w), so that EmbeddingScores's backward can take the sparse products. What is computed
    from it (a sum with another gradient, a copy such as a retained .grad) is a plain
    array: only the gradient itself, handed on unchanged, is read sparsely."""

    def __array_finalize__(self, obj):
        self.made_of = None

    def __array_wrap__(self, array, context=None, return_scalar=False):
        plain = array.view(np.ndarray)
        return plain[()] if return_scalar else plain

    def copy(self, order="C"):
        return np.array(self, order=order)


class EmbeddingScores(Function):
    """S = f @ g.T; dL/df = dS @ g, dL/dg = dS.T @ f: two GEMMs, or, where dS is
    hinge_max_loss's own (a HingeGradient: two entries a row), the O(N*D) sparse
    products of ``hinge_max_backward``, as in the fused op."""

    def forward(self, f, g):
        _check_embeddings(f, g)
        self.f, self.g = f, g
        return kernels.embedding_scores(f, g)

    def backward(self, grad):
        need_f, need_g = self.needs_input_grad
        made_of = getattr(grad, "made_of", None)
        if made_of is not None:
            target, negative, weight = made_of
            weight = np.ascontiguousarray(weight, np.result_type(self.f.dtype, self.g.dtype))
            grad_f, grad_g = kernels.hinge_max_backward(self.f, self.g, target, negative,
                                                        weight)
            return (grad_f if need_f else None), (grad_g if need_g else None)
        return ((kernels.matmul(grad, self.g) if need_f else None),
                (kernels.matmul(grad.T, self.f) if need_g else None))


class HingeMaxLoss(Function):
    """SJE's structured hinge (Akata et al., CVPR 2015):
    loss[n] = max(0, k - S[n, y_n] + S[n, m_n]) with m_n = argmax_{c != y_n} S[n, c].

    Where loss[n] > 0 its gradient is -1 at S[n, y_n] and +1 at S[n, m_n]; elsewhere 0.
    """

    def __init__(self, margin=1.0, reduction="mean"):
        self.margin = _check_margin(margin)
        self.reduction = check_reduction(reduction)

    def forward(self, scores, target):
        target = _check_scores(scores, target)
        losses, self.negative = kernels.hinge_max_forward(scores, target, self.margin)
        self.target, self.active, self.shape = target, losses > 0, scores.shape
        out, self.scale = _reduce(losses, self.reduction)
        return out

    def backward(self, grad):
        xp = backend.array_module(grad)
        n, c = self.shape
        weight = (grad * self.scale) * self.active  # (N,) or broadcast from a scalar
        weight = xp.broadcast_to(weight, (n,))
        out = xp.zeros((n, c), dtype=weight.dtype)
        flat, starts = out.reshape(-1), xp.arange(0, n * c, c)  # flat index of S[n, 0]
        flat[starts + self.target] = -weight
        flat[starts + self.negative] = weight  # negative != target: no entry written twice
        if xp is np:  # the sparse form, for embedding_scores's backward
            out = out.view(HingeGradient)
            out.made_of = (self.target, self.negative, weight)
        return out, None


class HingeSumLoss(Function):
    """DeViSE's hinge (Frome et al., NIPS 2013):
    loss[n] = sum_{c != y_n} max(0, k - S[n, y_n] + S[n, c]).

    Each active pair (c != y_n, its term > 0) gives +1 at S[n, c] and -1 at S[n, y_n].
    """

    def __init__(self, margin=1.0, reduction="mean"):
        self.margin = _check_margin(margin)
        self.reduction = check_reduction(reduction)

    def forward(self, scores, target):
        target = _check_scores(scores, target, "hinge_sum_loss")
        xp = backend.array_module(scores)
        rows = xp.arange(scores.shape[0])
        terms = xp.maximum(self.margin - scores[rows, target][:, None] + scores, 0)
        terms[rows, target] = 0  # the true class is not its own competitor
        self.target, self.active, self.rows = target, terms > 0, rows
        out, self.scale = _reduce(terms.sum(axis=1), self.reduction)
        return out

    def backward(self, grad):
        xp = backend.array_module(grad)
        weight = xp.reshape(grad * self.scale, (-1, 1))  # (N, 1), or (1, 1) from a scalar
        out = self.active * weight
        out[self.rows, self.target] = -out.sum(axis=1)  # the true class's own entry is 0
        return out, None


class EmbeddingHingeMaxLoss(Function):
    """hinge_max_loss(f @ g.T, target, margin), fused: the forward is one kernel from
    the embeddings (which may never form the (N, C) scores), and the backward never
    forms the (N, C) gradient of the scores. With w_n the upstream gradient of loss[n] (zero
    where the margin is met), y = target[n] and m = the hardest other class:

        dL/df[n] = w_n (g[m] - g[y]),   dL/dg[m] += w_n f[n],   dL/dg[y] -= w_n f[n]
    """

    def __init__(self, margin=1.0, reduction="mean"):
        self.margin = _check_margin(margin)
        self.reduction = check_reduction(reduction)

    def forward(self, f, g, target):
        _check_embeddings(f, g)
        if g.shape[0] < 2:
            raise ValueError(f"embedding_hinge_max_loss needs at least 2 class embeddings "
                             f"in g, got g of shape {g.shape}")
        xp = backend.array_module(f)
        # the scores' shape, to check the targets against, without forming the scores
        shape_of_scores = xp.broadcast_to(xp.zeros((), f.dtype), (f.shape[0], g.shape[0]))
        target = _check_scores(shape_of_scores, target, "embedding_hinge_max_loss")
        losses, self.negative = kernels.embedding_hinge_max_forward(f, g, target,
                                                                    self.margin)
        self.f, self.g, self.target, self.active = f, g, target, losses > 0
        out, self.scale = _reduce(losses, self.reduction)
        return out

    def backward(self, grad):
        xp = backend.array_module(grad)
        weight = xp.broadcast_to((grad * self.scale) * self.active, self.active.shape)
        weight = xp.ascontiguousarray(weight, dtype=np.result_type(self.f.dtype, self.g.dtype))
        grad_f, grad_g = kernels.hinge_max_backward(self.f, self.g, self.target,
                                                    self.negative, weight)
        need_f, need_g = self.needs_input_grad[:2]
        return (grad_f if need_f else None), (grad_g if need_g else None), None


def embedding_scores(f, g):
    """S = f @ g.T: the score of every input embedding f (N, D) against every class
    embedding g (C, D), S[n, c] = f[n] . g[c] (N, C)."""
    return EmbeddingScores()(f, g)


def hinge_max_loss(scores, target, margin=1.0, reduction="mean"):
    """The lecture's zero-shot embedding loss, the structured hinge of SJE (Akata et al.,
    CVPR 2015), on scores S (N, C), C >= 2:

        loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n} S[n, c])

    reduced by ``reduction`` ("mean", "sum" or "none"). target: (N,) integer classes.

    On scores ``embedding_scores(f, g)``, ``embedding_hinge_max_loss(f, g, target)`` is
    the same loss and gradients with one GEMM instead of three: train with that."""
    return HingeMaxLoss(margin, reduction)(scores, target)


def hinge_sum_loss(scores, target, margin=1.0, reduction="mean"):
    """DeViSE's ranking hinge (Frome et al., NIPS 2013) on scores S (N, C), C >= 2: the
    hinge summed over every wrong class instead of taken at the hardest one,

        loss[n] = sum_{c != y_n} max(0, margin - S[n, y_n] + S[n, c])

    reduced by ``reduction`` ("mean", "sum" or "none"). target: (N,) integer classes."""
    return HingeSumLoss(margin, reduction)(scores, target)


def embedding_hinge_max_loss(f, g, target, margin=1.0, reduction="mean"):
    """hinge_max_loss(embedding_scores(f, g), target, margin, reduction) as one op whose
    backward is the fused, sparse ``hinge_max_backward`` kernel (O(N*D), no (N, C)
    gradient). f (N, D) input embeddings, g (C, D) class embeddings, target (N,)."""
    return EmbeddingHingeMaxLoss(margin, reduction)(f, g, target)
