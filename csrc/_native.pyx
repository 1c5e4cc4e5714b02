# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""tlcore._native: compiled CPU kernels (Cython, nogil, OpenMP prange).

Typed memoryviews over float32 or float64 (one fused type), released GIL, and OpenMP
threads where the compiler supported -fopenmp when setup.py built this module.
Wrapped by tlcore/kernels/native.py, which handles layouts and dtypes.
"""

from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int tl_openmp_enabled(void) { return 1; }
    static int tl_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int tl_openmp_enabled(void) { return 0; }
    static int tl_max_threads(void) { return 1; }
    #endif
    """
    int tl_openmp_enabled() nogil
    int tl_max_threads() nogil

ctypedef fused real:
    float
    double


def openmp_enabled():
    """True if this module was compiled with OpenMP."""
    return bool(tl_openmp_enabled())


def max_threads():
    """The number of OpenMP threads a parallel loop may use (1 without OpenMP)."""
    return tl_max_threads()


def scale(const real[::1] src, double factor, real[::1] dst):
    """dst[i] = factor * src[i] (gradient reversal uses factor = -lambda)."""
    cdef Py_ssize_t i, n = src.shape[0]
    cdef real f = <real>factor
    if dst.shape[0] != n:
        raise ValueError(f"dst has {dst.shape[0]} elements, src has {n}")
    for i in prange(n, nogil=True, schedule="static"):
        dst[i] = f * src[i]
