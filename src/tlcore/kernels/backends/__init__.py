"""The machinery behind the kernels: the backends that implement them, and what those
backends share.

The definition of every kernel stays one floor up: ``kernels/reference.py`` (the plain
numpy definition, never run by the registry), ``kernels/validate.py`` (the checks of its
arguments), ``kernels/geometry.py`` (window sizes) and ``kernels/registry.py`` (the
dispatcher). This wing holds the implementations, each tested against the reference:

- ``numpy_fast.py``: the "numpy" backend, always there: numpy alone, memory-bounded and
  tuned (conv2d in chunks of samples, pooling as a running max over strided views);

- ``numba_cpu.py``: numba, compiled loops over flat buffers;
- ``native.py``: the compiled module tlcore._native (csrc/, OpenMP), and
  ``routes.py``, its choice among the compiled routes (AVX-512F, AVX2+FMA, the baseline's
  vectors: which one this CPU takes, switches, thresholds);
- ``cupy_gpu.py``: the GPU, with its CUDA C++ text in ``cuda_sources.py``;
- ``layout.py``: contiguous buffers and per-thread scratch of the CPU backends;
- ``threads.py``: the threading policy of BLAS, numba and OpenMP.

Only the registry loads an optional backend (``registry._load``, on first use, never at
``import tlcore``); ``kernels/__init__.py`` imports numpy_fast.py, the one always there.
An op never imports this wing. This package's own import loads nothing.
"""
