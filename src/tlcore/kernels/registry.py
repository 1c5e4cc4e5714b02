"""One dispatcher for the hot-path kernels, each with several implementations.

A kernel is a pure function on raw arrays, registered under (op, backend)::

    @register("grad_reverse_backward", "numpy")
    def grad_reverse_backward(grad, lambda_, out=None): ...

    kernel = get("grad_reverse_backward", grad)   # picks the backend for these arrays

Backends: "numpy" (numpy_fast.py, always there), "numba" (numba_cpu.py), "native" (the
compiled Cython module, native.py), "cupy" (cupy_gpu.py). The optional ones are
imported on first use, never at ``import tlcore``; one that fails to import is simply
not available, and ``unavailable()`` says why.

Choice: GPU arrays go to "cupy". CPU arrays go to the backend forced by ``use(name)``
(thread-local) or by the ``TLCORE_KERNELS`` environment variable, else to the first
available backend of ``CPU_PREFERENCE`` that implements the op. A backend implements a
subset of the ops; an op it lacks runs the numpy backend.

Validation: ``register`` wraps every implementation in its kernel's validator
(validate.py), so that each call, whichever way it reaches a backend (``get``,
``implementation``, or the module's own name, e.g. ``numba_cpu.maxpool2d_backward``), is
checked once before any backend indexes with its arguments. The wrapper's
``unchecked`` attribute runs the implementation without the check, for a kernel that
calls another with arguments it has already checked.

Threads: every CPU implementation also runs inside ``threads.kernel_scope()`` (the
threading policy towards a neighbour library's OpenMP pool: see backends/threads.py),
so that no backend has to call it itself.
"""

import functools
import importlib
import importlib.util
import os
import threading
from contextlib import contextmanager

import numpy as np

from tlcore.kernels import validate
from tlcore.kernels.backends import threads

BACKENDS = ("numpy", "numba", "native", "cupy")
_MODULES = {
    "numpy": "tlcore.kernels.backends.numpy_fast",
    "numba": "tlcore.kernels.backends.numba_cpu",
    "native": "tlcore.kernels.backends.native",
    "cupy": "tlcore.kernels.backends.cupy_gpu",
}
# For CPU arrays, the first available backend of this order serves a kernel. Measured on
# 2 cores (bench/kernels.py; tlcore run digits-cnn --seeds 0 with TLCORE_KERNELS set):
# - native is compiled ahead of time: no JIT on first use, no numba import. It was the
#   fastest at the small shapes of the experiments (digits-cnn, wall time of the whole
#   run, two runs each: 2.9 to 3.5 s against 5.9 to 7.6 s for numpy and 5.1 s for
#   numba). At the bench shapes (six runs of --repeats 60) it was the fastest for
#   conv2d (on AVX-512, 2.0 to 3.5x numba's speed at conv2 and conv3, and even with it
#   at conv1), gradient reversal, the paired scores and the small hinge loss, ahead of
#   numba at the large hinge loss (10.6 to 12.7 ms against 14.2 to 17.0), and, since its
#   planes are claimed in chunks, for max pooling too (0.98 to 1.39 ms in 11 of 16 runs
#   of --cases maxpool, numba 1.24 to 2.40 ms over the 16; the other five 2.0 to 2.5 ms,
#   its second thread held off its core: README).
# - numba compiles each kernel on first use (tens of seconds with a cold cache) and its
#   import costs about half a second.
# - numpy is always there.
CPU_PREFERENCE = ("native", "numba", "numpy")

_kernels = {}  # (op, backend) -> function, validated
_unchecked = {}  # (op, backend) -> the same function without the validation
_loaded = {}  # backend -> None if loaded, or the reason it is unavailable
_forced = threading.local()


FLOAT_DTYPES = (np.float32, np.float64)


def register(op, backend, floats=None):
    """Decorator: make ``fn`` the ``backend`` implementation of kernel ``op``, behind
    op's validator (validate.py): the decorated name is the validated kernel.

    ``floats``: the positions of the array arguments a compiled implementation computes
    on. It serves float32 and float64 there; a call with any other dtype in one of them
    (integer images for max pooling, float16) runs the numpy backend instead.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    check = validate.validator(op)

    def decorate(fn):
        if floats is None:
            unchecked = fn
        else:
            def unchecked(*args, **kwargs):
                if all(args[i].dtype in FLOAT_DTYPES for i in floats):
                    return fn(*args, **kwargs)
                return _unchecked[(op, "numpy")](*args, **kwargs)

        # A CPU kernel runs inside threads.kernel_scope(): numpy's BLAS on the calling
        # thread while a neighbour's OpenMP pool spins (see threads.py).
        run = unchecked if backend == "cupy" else threads.scoped(unchecked)

        @functools.wraps(fn)
        def kernel(*args, **kwargs):
            return run(*check(*args, **kwargs))

        kernel.unchecked = unchecked
        _kernels[(op, backend)] = kernel
        _unchecked[(op, backend)] = unchecked
        return kernel

    return decorate


def _load(backend):
    """Import a backend's module once; return None if it works, else the reason."""
    if backend not in _loaded:
        if backend == "cupy" and not _module_exists("cupy"):
            _loaded[backend] = ("cupy is not installed (pip install 'tlcore[gpu]' for CUDA 12, "
                                "or the CuPy build for your CUDA, e.g. cupy-cuda13x)")
            return _loaded[backend]
        if backend == "numba" and not _module_exists("numba"):
            _loaded[backend] = "numba is not installed (pip install 'tlcore[numba]')"
            return _loaded[backend]
        if backend == "native" and not _module_exists("tlcore._native"):
            _loaded[backend] = ("the compiled module tlcore._native is absent: it is built "
                                "by pip install . where a C compiler is found, or in a "
                                "source tree by python setup.py build_ext --inplace")
            return _loaded[backend]
        if backend in ("numba", "native"):
            threads.apply()  # decides how their loops use the OpenMP runtime
        try:
            importlib.import_module(_MODULES[backend])
            _loaded[backend] = None
        except Exception as exc:  # ImportError, or a broken build: report, don't crash
            _loaded[backend] = f"{type(exc).__name__}: {exc}"
    return _loaded[backend]


def _module_exists(name):
    return importlib.util.find_spec(name) is not None


def available():
    """The backends this machine has, e.g. ['numpy', 'numba', 'native']."""
    return [b for b in BACKENDS if _load(b) is None]


def unavailable():
    """{backend: reason} for the backends this machine lacks."""
    return {b: _load(b) for b in BACKENDS if _load(b) is not None}


def ops(backend=None):
    """The kernel names registered (for one backend, or for any)."""
    if backend is not None:
        _load(backend)
    return sorted({op for op, b in _kernels if backend is None or b == backend})


def check_available(name):
    """``name``, if it is a backend this machine has; else a clear error."""
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS}")
    reason = _load(name)
    if reason is not None:
        raise RuntimeError(f"kernel backend {name!r} is not available on this machine: {reason}")
    return name


def implementation(op, backend):
    """``backend``'s own implementation of ``op``, or None: no fallback to numpy."""
    if check_available(backend) and (op, backend) in _kernels:
        return _kernels[(op, backend)]
    return None


def preferred():
    """The backend that serves CPU arrays when none is forced: the first available one
    of CPU_PREFERENCE."""
    return next(b for b in CPU_PREFERENCE if _load(b) is None)


@contextmanager
def use(name):
    """Force one backend for CPU kernels in this thread: ``with use("numba"): ...``."""
    check_available(name)
    previous = getattr(_forced, "name", None)
    _forced.name = name
    try:
        yield
    finally:
        _forced.name = previous


def forced():
    """The backend forced by use() or TLCORE_KERNELS, or None."""
    name = getattr(_forced, "name", None)
    if name is None:
        name = os.environ.get("TLCORE_KERNELS") or None
        if name is not None:
            try:
                check_available(name)
            except (ValueError, RuntimeError) as error:
                raise type(error)(f"the environment variable TLCORE_KERNELS={name!r} "
                                  f"forces a backend that cannot serve: {error}") from None
    return name


def get(op, *arrays):
    """The implementation of ``op`` to run on these arrays."""
    on_gpu = any(not isinstance(a, (np.ndarray, np.generic))
                 and hasattr(a, "__cuda_array_interface__") for a in arrays)
    if on_gpu:
        candidates = ("cupy",)
    else:
        name = forced()
        candidates = (name, "numpy") if name is not None else CPU_PREFERENCE
    for backend in candidates:
        if _load(backend) is None and (op, backend) in _kernels:
            return _kernels[(op, backend)]
    if on_gpu:
        raise RuntimeError(f"kernel {op!r} has no cupy implementation")
    raise KeyError(f"no kernel named {op!r}; registered: {ops()}")
