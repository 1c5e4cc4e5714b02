"""Memory-layout helpers shared by the compiled CPU backends (numba, native), whose
loops run over flat C-contiguous buffers."""

import threading

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


def flat_pair(x, y):
    """(flat x, flat y) for a loop that updates y in place from x, or None where it cannot
    run: y not C-contiguous, or x overlapping y without being y (numpy buffers such a
    case; an in-place loop would read what it has just written). A non-contiguous x is
    copied once."""
    if not y.flags.c_contiguous or (x is not y and np.may_share_memory(x, y)):
        return None
    return np.ascontiguousarray(x).reshape(-1), y.reshape(-1)


_scratch = threading.local()


def workspace(name, shape, dtype):
    """A C-contiguous scratch array of ``shape``, kept per thread between calls and grown
    as needed: a fresh multi-MB im2col buffer would have every page faulted in again on
    every call (measured: 0.5 ms of 5.4 ms for conv2's forward of bench/conv.py). Each
    name is used once per kernel call (never two live views of one name)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffers = _scratch.__dict__
    if name not in buffers or buffers[name].size < size:
        buffers[name] = np.empty(size, np.uint8)
    return buffers[name][:size].view(dtype).reshape(shape)

