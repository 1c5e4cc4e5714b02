"""One threading policy for the thread pools that the CPU kernels use.

Three pools serve a training step on the CPU: BLAS (numpy's OpenBLAS, for every GEMM),
numba's parallel loops, and the native module's OpenMP loops. numba's "omp" threading
layer and the native module both use the system's libgomp. By default, an idle libgomp
worker spins for a while before it sleeps. On a small machine those spinning workers hold
the cores that the next GEMM needs. Measured on 2 cores: a (256x64) @ (64x100) GEMM
followed by a numba row-max took 8 ms instead of 0.05 ms; see bench/kernels.py, row
"gemm+kernel".

The policy, for all three pools:
- OMP_WAIT_POLICY=PASSIVE, so that idle OpenMP workers sleep at once. tlcore sets it just
  before it first loads numba or the native module. If the user has already set
  OMP_WAIT_POLICY, their value stands.
- Every pool keeps its default size (one thread per core). This module changes no thread
  count: OPENBLAS_NUM_THREADS, NUMBA_NUM_THREADS and OMP_NUM_THREADS stay the user's.
- OpenBLAS workers yield the CPU while they wait, so an OpenMP loop that follows a GEMM
  is not starved; OpenBLAS needs no setting. OPENBLAS_THREAD_TIMEOUT would only take
  effect if set before numpy is imported, which a library cannot do.

libgomp reads its environment once, when it is loaded. If something else in the process
loaded it before tlcore's kernels did, the setting comes too late. ``describe()`` says so,
and ``tlcore info`` prints it.
"""

import ctypes
import os

_state = {"applied": False, "origin": None}


def _loaded_libraries():
    """Paths of the shared libraries mapped into this process (Linux), else []."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line})
    except OSError:
        return []


def apply():
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose a value. The registry calls this
    before it imports numba or the native module. Calls after the first do nothing."""
    if _state["applied"]:
        return
    _state["applied"] = True
    if "OMP_WAIT_POLICY" in os.environ:
        _state["origin"] = "set by the user"
    elif any("libgomp" in path for path in _loaded_libraries()):
        _state["origin"] = "libgomp was already loaded by another library: not set"
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _state["origin"] = "set by tlcore"


def blas_threads():
    """The number of threads numpy's OpenBLAS uses, or None if it cannot be asked."""
    for path in _loaded_libraries():
        if "openblas" not in os.path.basename(path).lower():
            continue
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("openblas_get_num_threads", "openblas_get_num_threads64_",
                       "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads"):
            getter = getattr(library, symbol, None)
            if getter is not None:
                return int(getter())
    return None


def describe():
    """Lines for ``tlcore info``: the policy and each pool's size."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    if _state["applied"]:
        origin = _state["origin"]
    elif policy is not None:
        origin = "set by the user"
    else:
        policy, origin = "PASSIVE", "tlcore sets it when it loads numba or the native module"
    threads = blas_threads()
    return [f"OpenMP wait policy (numba omp layer, native module): {policy} ({origin})",
            f"BLAS threads: {threads if threads is not None else 'unknown'}",
            f"CPU cores: {os.cpu_count()}"]
