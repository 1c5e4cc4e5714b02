"""Matrix products: matmul (1-D, 2-D and batched, numpy's rules) and the fused
``linear`` layer y = x W^T + b. Every product goes through ``kernels.matmul``: numpy's
BLAS under the engine's thread policy, as the kernels are."""

import numpy as np

from tlcore import kernels
from tlcore.autograd import Function


def _check_matmul_shapes(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs tensors of at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"a.shape[-1] = {k_a} but b's contracted axis has {k_b}")


class MatMul(Function):
    """a @ b. For 2-D: dL/da = g b^T, dL/db = a^T g. A 1-D operand is promoted to a
    row (a) or a column (b) for the backward and squeezed back; broadcast batch axes
    are summed by the engine."""

    def forward(self, a, b):
        _check_matmul_shapes(a, b)
        self.a, self.b = a, b
        try:
            out = kernels.matmul(a, b)
        except ValueError:
            raise ValueError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot "
                             "be broadcast together") from None
        return out

    def backward(self, g):
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: a scalar
            return (g * b if need_a else None), (g * a if need_b else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        ga = gb = None
        if need_a:
            ga = kernels.matmul(g, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = kernels.matmul(np.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


class Linear(Function):
    """y = x W^T + b with x (..., in), W (out, in), b (out,) — one node for the layer.

    dL/dx = g W, dL/dW = g^T x (over all leading axes), dL/db = sum of g.
    """

    def forward(self, x, weight, bias=None):
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input of shape {x.shape} needs a weight of shape "
                             f"(out_features, {x.shape[-1] if x.ndim else '?'}), got "
                             f"{weight.shape}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        self.x, self.weight = x, weight
        out = kernels.matmul(x, weight.T)
        if bias is not None:
            if bias.dtype == out.dtype:
                out += bias  # in place: out is a fresh array
            else:
                out = out + bias  # mixed dtypes promote, as everywhere else
        return out

    def backward(self, g):
        need = self.needs_input_grad
        gx = kernels.matmul(g, self.weight) if need[0] else None
        x = self.x
        if g.ndim != 2:  # (..., out): the leading axes are all batch axes
            g = g.reshape(-1, g.shape[-1])
            x = x.reshape(-1, x.shape[-1])
        gw = kernels.matmul(g.T, x) if need[1] else None
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=0) if need[2] else None)
