"""BatchNorm1d and BatchNorm2d (Ioffe & Szegedy 2015; PyTorch's modules).

Training: normalise by the batch statistics and move the running ones toward them,
running = (1 - momentum) * running + momentum * batch (unbiased variance); with
momentum=None, the running statistics are the plain average over every batch so far
(momentum 1 / num_batches_tracked). Evaluation: normalise by the running statistics.
weight starts at 1, bias at 0. The state dict holds the same keys as PyTorch's.
"""

import numpy as np

from tlcore import backend, ops
from tlcore.arguments import check_positive
from tlcore.nn.module import Module
from tlcore.nn.parameter import Parameter


class _BatchNorm(Module):
    expected_ndim = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        self.num_features = check_positive("num_features", num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or backend.DEFAULT_FLOAT
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        if x.ndim not in self.expected_ndim:
            raise ValueError(f"{type(self).__name__} expects input with "
                             f"{' or '.join(map(str, self.expected_ndim))} dimensions, "
                             f"got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input with "
                             f"{x.shape[1]} channels (shape {x.shape})")
        use_batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1  # in place: the buffer stays one array
            if momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        return ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              training=use_batch_stats, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L): statistics per feature C."""
    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W): statistics per channel C."""
    expected_ndim = (4,)
