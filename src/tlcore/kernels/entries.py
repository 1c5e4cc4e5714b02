"""One named entry per kernel: what the ops call.

Each entry states its kernel's contract (arguments, shapes, dtypes, results), names the
definition in reference.py that every backend must match, and forwards the call to the
implementation that the registry picks for these arrays (registry.get: cupy for GPU
arrays, else the forced or the preferred CPU backend). So a reader goes from an op to
its kernel's entry, and from there to the numpy definition, without reading the
dispatcher. The entries add no check of their own: the registry runs every
implementation behind its kernel's validator (validate.py).

Arrays are numpy or cupy; stride, padding and dilation are (height, width) pairs of
ints, groups an int. Every result is a new array unless ``out`` is given.
"""

from tlcore.kernels import registry

# --------------------------------------------------------------------------- conv2d


def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """2-D convolution, NCHW, without bias: x (N, C, H, W) and weight
    (C_out, C/groups, kh, kw) -> out (N, C_out, H_out, W_out), C-contiguous, in the
    dtype numpy's promotion gives x and weight.

    Definition: ``reference.conv2d_forward``."""
    kernel = registry.get("conv2d_forward", x, weight)
    return kernel(x, weight, stride, padding, dilation, groups)


def conv2d_backward_input(grad_out, weight, x_shape, stride, padding, dilation, groups):
    """The gradient of conv2d_forward to its input: grad_out (N, C_out, H_out, W_out)
    and weight (C_out, C/groups, kh, kw) -> grad_x of shape ``x_shape`` (N, C, H, W),
    in the dtype numpy's promotion gives grad_out and weight.

    Definition: ``reference.conv2d_backward_input``."""
    kernel = registry.get("conv2d_backward_input", grad_out, weight)
    return kernel(grad_out, weight, x_shape, stride, padding, dilation, groups)


def conv2d_backward_weight(grad_out, x, weight_shape, stride, padding, dilation, groups):
    """The gradient of conv2d_forward to its weight: grad_out (N, C_out, H_out, W_out)
    and x (N, C, H, W) -> grad_w of shape ``weight_shape`` (C_out, C/groups, kh, kw), in
    the dtype numpy's promotion gives grad_out and x.

    Definition: ``reference.conv2d_backward_weight``."""
    kernel = registry.get("conv2d_backward_weight", grad_out, x)
    return kernel(grad_out, x, weight_shape, stride, padding, dilation, groups)


# --------------------------------------------------------------------------- pooling


def maxpool2d_forward(x, kernel, stride, padding):
    """2-D max pooling: x (N, C, H, W), any real dtype, padding counted as -inf ->
    (out, argmax), both (N, C, H_out, W_out): out in x's dtype, argmax int64, the flat
    index h * W + w of each maximum in the unpadded plane; on a tie the first element in
    row-major window order.

    Definition: ``reference.maxpool2d_forward``."""
    return registry.get("maxpool2d_forward", x)(x, kernel, stride, padding)


def maxpool2d_backward(grad_out, argmax, x_shape, unchecked=False):
    """The gradient of maxpool2d_forward: grad_out and argmax (N, C, H_out, W_out) ->
    grad_x of shape ``x_shape``, in grad_out's dtype, where each output's gradient is
    added at the element its argmax names (overlapping windows add up).

    ``unchecked=True`` skips the kernel's validation (one pass over argmax to check its
    range): only for a caller whose argmax comes from maxpool2d_forward and whose
    grad_out is already checked against its shape, as ops/pool.py's backward.

    Definition: ``reference.maxpool2d_backward``."""
    kernel = registry.get("maxpool2d_backward", grad_out)
    if unchecked:
        kernel = kernel.unchecked
    return kernel(grad_out, argmax, x_shape)


# ------------------------------------------------------------ embedding scores and hinge


def embedding_scores(f, g, paired=False):
    """Dot products of embeddings: f (N, D) and g (C, D) -> the score matrix f @ g.T
    (N, C); with ``paired=True``, g is (N, D) and the result the N dot products of
    matching rows. Dtype: numpy's promotion of f and g.

    Definition: ``reference.embedding_scores``."""
    return registry.get("embedding_scores", f, g)(f, g, paired=paired)


def hinge_max_forward(scores, target, margin):
    """The hinge-max loss of zero-shot learning, one value per sample: scores (N, C)
    with C >= 2, target (N,) class indices, margin a number -> (loss (N,) in the scores'
    dtype, negative (N,) int64), loss[n] = max(0, margin - S[n, y_n] + max_{c != y_n}
    S[n, c]) and negative[n] that arg-max over the other classes, the first on a tie.

    Definition: ``reference.hinge_max_forward``."""
    return registry.get("hinge_max_forward", scores, target)(scores, target, margin)


def embedding_hinge_max_forward(f, g, target, margin):
    """hinge_max_forward(f @ g.T, target, margin) from the embeddings f (N, D) and g
    (C, D) -> (loss (N,), negative (N,) int64). A backend may compute it without forming
    the (N, C) scores: equal to the composition to rounding.

    Definition: ``reference.embedding_hinge_max_forward``."""
    return registry.get("embedding_hinge_max_forward", f, g)(f, g, target, margin)


def hinge_max_backward(f, g, target, negative, weight):
    """The fused, sparse backward of the hinge-max loss to the embeddings: f (N, D),
    g (C, D), target and negative (N,) class indices, weight (N,) the upstream gradient
    of each sample's loss (zero where the margin is met) -> (grad_f (N, D), grad_g
    (C, D)), with grad_f[n] = w (g[m] - g[y]), grad_g[m] += w f[n], grad_g[y] -= w f[n].
    O(N*D) work.

    Definition: ``reference.hinge_max_backward``."""
    kernel = registry.get("hinge_max_backward", f, g)
    return kernel(f, g, target, negative, weight)


# ---------------------------------------------------------------- gradient reversal


def grad_reverse_backward(grad, lambda_, out=None):
    """Gradient reversal: grad (any shape) -> -lambda_ * grad in grad's dtype, written
    into ``out`` when given (``out`` may be grad itself).

    Definition: ``reference.grad_reverse_backward``."""
    return registry.get("grad_reverse_backward", grad)(grad, lambda_, out=out)


# ------------------------------------------------------------------ the update's axpy


def axpy(alpha, x, y):
    """y += alpha * x in place, for x and y of one shape and floating dtype, alpha a real
    number cast to that dtype; returns y. One pass over x and y, with no temporary for
    alpha * x: what Tensor.add_(other, alpha=) runs on large arrays (SGD's update).

    Definition: ``reference.axpy``."""
    return registry.get("axpy", x, y)(alpha, x, y)
