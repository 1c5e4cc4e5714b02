"""The array world: numpy on the CPU, cupy on the GPU, and tlcore's dtype rules.

Dtype rules (tested in tests/test_dtypes.py):

* Float data given to ``tlcore.tensor`` defaults to float32, as in PyTorch; integer and
  bool data keep numpy's dtype (int64, bool).
* Two tensors (or a tensor and an array) combine with numpy's promotion:
  float32 with float64 gives float64.
* A Python scalar is *weak* (numpy 2, NEP 50): ``x * 2.0`` keeps x's dtype.
* Only floating-point tensors can require grad; a gradient always has the dtype of
  the tensor it belongs to.
* Complex data is refused: the ops and their gradients are written for real numbers.
* Indices (class labels, embedding rows) may come in any integer dtype and byte order;
  ``check_indices`` range-checks them and hands the ops native int64.

cupy is imported only when a GPU array or the "cuda" device is actually used.
"""

import numpy as np

DEFAULT_FLOAT = np.float32
DEVICES = ("cpu", "cuda")


def _cupy():
    """Import cupy on first use, with an error that says how to get it."""
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "device 'cuda' needs CuPy: pip install cupy-cuda12x or cupy-cuda13x, the one "
            "that matches your CUDA driver"
        ) from exc
    return cupy


def is_gpu_array(array):
    """True for a GPU array (one with __cuda_array_interface__: cupy's), without
    importing cupy; False for numpy arrays, numbers, lists."""
    return not isinstance(array, (np.ndarray, np.generic)) and hasattr(
        type(array), "__cuda_array_interface__")


def array_module(array):
    """numpy for a numpy array, a number or a list; cupy for a cupy array."""
    if not is_gpu_array(array):
        return np
    return _cupy().get_array_module(array)


def device_of(array):
    """'cpu' or 'cuda'."""
    return "cpu" if array_module(array) is np else "cuda"


def check_device(device):
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    return device


def to_device(array, device):
    """Copy an array to 'cpu' (numpy) or 'cuda' (cupy); no copy if it is already there."""
    check_device(device)
    if device == "cpu":
        if isinstance(array, (np.ndarray, np.generic)):
            return np.asarray(array)
        return _cupy().asnumpy(array)
    return _cupy().asarray(array)


def as_array(data, dtype=None, device="cpu"):
    """Make the array a new tensor holds, applying the default float dtype.

    device None: where the data already is ('cuda' for a cupy array, else 'cpu'). An
    array on the other device is copied over."""
    if device is None:
        device = "cuda" if is_gpu_array(data) else "cpu"
    check_device(device)
    if device == "cpu" and is_gpu_array(data):
        data = to_device(data, "cpu")  # numpy refuses an implicit copy from the GPU
    xp = np if device == "cpu" else _cupy()
    if dtype is not None:
        array = xp.asarray(data, dtype=dtype)
    else:
        array = xp.asarray(data)
        if array.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)) and (
            device == "cpu" or not isinstance(data, xp.ndarray)
        ):
            # Python floats and lists default to float32; an array keeps its own dtype.
            array = array.astype(DEFAULT_FLOAT)
    if array.dtype.kind == "c":
        raise complex_error("tensor", array.dtype)
    return array


def is_complex(value):
    """True for a complex number or a complex array (numpy or cupy)."""
    if isinstance(value, complex):  # numpy's complex128 scalars are Python complex too
        return True
    dtype = getattr(value, "dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind == "c"


def complex_error(op, dtype):
    """The error for complex data reaching ``op``: a tensor being made, or an op given a
    raw complex array or number."""
    return TypeError(f"{op}: complex data (dtype {dtype}) is not supported: tlcore computes on "
                     "real numbers; keep the real and imaginary parts in two real tensors")


_UNSIGNED = {}  # integer dtype -> the unsigned dtype of its width and byte order


def outside(values, limit):
    """A value of the integer array ``values`` (any byte order) outside [0, limit): the
    lowest if it is negative, else the highest; None when all are in range. One
    reduction checks both ends: read as unsigned of the same width, a negative value is
    larger than any in range (-1 reads as 2**64 - 1 in int64)."""
    unsigned = _UNSIGNED.get(values.dtype)
    if unsigned is None:
        unsigned = _UNSIGNED[values.dtype] = np.dtype(values.dtype.str.replace("i", "u"))
    if not values.size or values.view(unsigned).max() < limit:  # '>i8' read as '>u8'
        return None
    low = int(values.min())
    return low if low < 0 else int(values.max())


def check_indices(values, limit, op, name, kind, like=None):
    """``values`` as a native int64 array, after checking that it holds integers of
    [0, limit): any integer dtype, signed or unsigned, in either byte order. Bool, float
    (even 1.0) and other dtypes are refused, as PyTorch does for class indices.

    op, name, kind: for the errors, e.g. "cross_entropy", "target", "class".
    like: an array whose device (numpy or cupy) the result is moved to.
    """
    if not hasattr(values, "dtype"):  # a list or a number
        values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integer {kind} indices, got dtype "
                        f"{values.dtype}")
    if not values.dtype.isnative:  # big-endian on a little-endian machine, or the reverse
        values = values.astype(values.dtype.newbyteorder("="))
    bad = outside(values, limit)
    if bad is not None:
        raise IndexError(f"{op}: {name} holds {kind} {bad}, outside [0, {limit})")
    values = values.astype(np.int64, copy=False)  # every value fits: it is below limit
    if like is not None and type(values) is not type(like) and \
            is_gpu_array(values) != is_gpu_array(like):
        values = to_device(values, device_of(like))
    return values


def is_floating(dtype):
    return np.dtype(dtype).kind == "f"


def blas_description():
    """The BLAS numpy was built with, e.g. 'scipy-openblas 0.3.30'."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown (numpy.show_config() has no dict mode here)"
