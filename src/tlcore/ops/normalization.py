"""Batch normalisation (Ioffe & Szegedy 2015), one fused node.

For x of shape (N, C) or (N, C, *spatial), per channel c over the m = N * prod(spatial)
values it holds:

    xhat = (x - mean) / sqrt(var + eps),     y = weight * xhat + bias

with the batch mean and the biased batch variance in training, or given running
statistics in evaluation. The training backward, with gh = g * weight:

    dx = (1 / sqrt(var + eps)) * (gh - mean(gh) - xhat * mean(gh * xhat))
    dweight = sum(g * xhat),   dbias = sum(g)

In evaluation the statistics are constants, so dx = gh / sqrt(var + eps).
"""

import numpy as np

from tlcore.autograd import Function


def _channel_axes(x):
    if x.ndim < 2:
        raise ValueError(f"batch_norm needs input of shape (N, C) or (N, C, ...), got {x.shape}")
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, ndim):
    """A (C,) vector shaped to broadcast over (N, C, *spatial)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNorm(Function):
    """Inputs x, weight and bias (both (C,) or None). ``mean``/``var`` None: use
    the batch statistics (training), which are kept as ``batch_mean``/``batch_var``
    so that the module can update its running statistics. Otherwise: use those."""

    def __init__(self, eps=1e-5, mean=None, var=None):
        self.eps = float(eps)
        self.mean, self.var = mean, var

    def forward(self, x, weight=None, bias=None):
        axes = _channel_axes(x)
        channels = x.shape[1]
        for name, v in (("weight", weight), ("bias", bias), ("running_mean", self.mean),
                        ("running_var", self.var)):
            if v is not None and v.shape != (channels,):
                raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input "
                                 f"of shape {x.shape}, got {v.shape}")
        self.training = self.mean is None
        if self.training:
            count = x.size // channels
            if count < 2:
                raise ValueError(f"batch_norm in training needs more than one value per "
                                 f"channel, got input of shape {x.shape}")
            mean = x.mean(axis=axes)
            centered = x - _per_channel(mean, x.ndim)
            var = np.mean(centered * centered, axis=axes)
            self.batch_mean, self.batch_var = mean, var
        else:
            mean, var = self.mean.astype(x.dtype), self.var.astype(x.dtype)
            centered = x - _per_channel(mean, x.ndim)
        self.inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = centered * _per_channel(self.inv_std, x.ndim)
        self.xhat, self.weight = xhat, weight
        out = xhat * _per_channel(weight, x.ndim) if weight is not None else xhat.copy()
        if bias is not None:
            out += _per_channel(bias, x.ndim)
        return out

    def backward(self, g):
        xhat, ndim = self.xhat, self.xhat.ndim
        axes = _channel_axes(xhat)
        need = self.needs_input_grad
        gh = g * _per_channel(self.weight, ndim) if self.weight is not None else g
        gx = None
        if need[0]:
            if self.training:
                gx = gh - _per_channel(gh.mean(axis=axes), ndim)
                gx -= xhat * _per_channel((gh * xhat).mean(axis=axes), ndim)
                gx *= _per_channel(self.inv_std, ndim)
            else:
                gx = gh * _per_channel(self.inv_std, ndim)
        gweight = (g * xhat).sum(axis=axes) if need[1] else None
        gbias = g.sum(axis=axes) if need[2] else None
        return gx, gweight, gbias
