"""Upsample: nearest-neighbour upsampling by an integer factor (PyTorch's nn.Upsample with
mode="nearest" and an integer scale_factor)."""

from tlcore import ops
from tlcore.nn.module import Module
from tlcore.ops.upsample import check_scale


class Upsample(Module):
    """y[n, c, i, j] = x[n, c, i // s, j // s] with s = scale_factor, (N, C, H, W) ->
    (N, C, s H, s W). Only mode="nearest" and an integer scale_factor >= 1."""

    def __init__(self, scale_factor=2, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: mode must be 'nearest' (the only mode tlcore has), "
                             f"got {mode!r}")
        self.scale_factor = check_scale("Upsample", scale_factor, "scale_factor")
        self.mode = mode

    def forward(self, x):
        return ops.upsample_nearest(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
