"""The machinery behind the kernels: the backends that implement them, and what those
backends share.

The definition of every kernel stays one floor up: ``kernels/reference.py`` (the numpy
definition), ``kernels/validate.py`` (the checks of its arguments), ``kernels/geometry.py``
(window sizes) and ``kernels/registry.py`` (the dispatcher). This wing holds the faster
implementations, each tested against the reference:

- ``numba_cpu.py``: numba, compiled loops over flat buffers;
- ``native.py``: the compiled module tlcore._native (csrc/, OpenMP), and
  ``avx512_route.py``, its choice of the AVX-512 kernels (switches, thresholds, CPU check);
- ``cupy_gpu.py``: the GPU, with its CUDA C++ text in ``cuda_sources.py``;
- ``layout.py``: contiguous buffers and per-thread scratch of the CPU backends;
- ``threads.py``: the threading policy of BLAS, numba and OpenMP.

Only the registry loads a backend (``registry._load``, on first use, never at ``import
tlcore``); an op never imports this wing. This package's own import loads nothing.
"""
