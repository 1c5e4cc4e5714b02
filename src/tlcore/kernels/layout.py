"""Memory-layout helpers shared by the compiled CPU backends (numba, native), whose
loops run over flat C-contiguous buffers."""

import numpy as np


def flat_in_out(array, out=None):
    """(flat contiguous input, flat contiguous output, result array).

    A non-contiguous ``array`` is copied once; a non-contiguous ``out`` is written
    through a contiguous temporary by ``finish``.
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    if out is not None and out.flags.c_contiguous:
        result = out
    else:
        result = np.empty(array.shape, array.dtype)
    return flat, result.reshape(-1), result


def finish(result, out):
    """Return ``out`` filled with ``result`` when the caller gave one, else ``result``."""
    if out is None or out is result:
        return result
    out[...] = result
    return out


def batch_chunks(n, bytes_per_sample, max_bytes):
    """Consecutive slices of a batch of ``n`` samples, each of as many samples as
    ``max_bytes`` of per-sample work buffers allow (at least one), and that largest
    chunk size: the im2col columns of a convolution stay bounded at any batch size."""
    size = max(1, min(n, max_bytes // max(1, bytes_per_sample)))  # n = 0: no chunk
    return [slice(start, min(n, start + size)) for start in range(0, n, size)], size
