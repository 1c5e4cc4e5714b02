"""One threading policy for the thread pools that the CPU kernels use.

Three pools serve a training step on the CPU: BLAS (numpy's OpenBLAS, for every GEMM),
numba's parallel loops, and the native module's OpenMP loops. numba's "omp" threading
layer and the native module both use the system's libgomp. By default, an idle libgomp
worker spins for a while before it sleeps. On a small machine those spinning workers hold
the cores that the next GEMM needs. Measured on 2 cores: a (256x64) @ (64x100) GEMM
followed by a numba row-max took 8 ms instead of 0.05 ms; bench/kernels.py's small
hinge case (a GEMM, then the hinge kernels) shows the same cliff.

The policy, for all three pools:
- OMP_WAIT_POLICY=PASSIVE, so that idle OpenMP workers sleep at once. tlcore sets it just
  before it first loads numba or the native module. If the user has already set
  OMP_WAIT_POLICY, their value stands.
- Every pool keeps its default size (one thread per core). This module changes no thread
  count: OPENBLAS_NUM_THREADS, NUMBA_NUM_THREADS and OMP_NUM_THREADS stay the user's.
  But a numba or native kernel call smaller than PARALLEL_MIN_WORK elements runs on one
  thread, since a parallel region costs more than its work.
- OpenBLAS workers yield the CPU while they wait, so an OpenMP loop that follows a GEMM
  is not starved; OpenBLAS needs no setting. OPENBLAS_THREAD_TIMEOUT would only take
  effect if set before numpy is imported, which a library cannot do.

libgomp reads its environment once, when it is loaded. If some other library in the
process loaded a libgomp before tlcore's kernels did, the setting comes too late for that
copy. PyTorch, for one, ships its own copy. Measured: with torch imported first, the
kernels' OpenMP regions ran on torch's spinning runtime, and the small step above took
8 ms again, and bench/conv.py's conv1 68 ms instead of 5. So in that case numba is
switched to its own "workqueue" threads (unless NUMBA_THREADING_LAYER is set), and the
native module, which cannot switch runtimes, runs its loops on the calling thread alone.
To keep both parallel, import tlcore's kernels before torch
(``tlcore.kernels.available()`` loads them), or set OMP_WAIT_POLICY=PASSIVE in the
environment before the program starts (then the early copy read it too, and nothing is
switched). ``describe()`` names any early copy, and ``tlcore info`` prints it.
"""

import os
import sys

# Waking and parking a pool's threads for one parallel loop costs about 15 us (measured on
# 2 cores with OMP_WAIT_POLICY=PASSIVE: a 4096-element gradient reversal took 20 us on
# 2 threads, 5 us on one, 2 us in numpy). The compiled kernels run a loop over fewer
# elements than this on the calling thread alone.
PARALLEL_MIN_WORK = 2**15

_state = {"applied": False, "origin": None, "early": []}


def early_openmp():
    """The libgomp copies loaded before tlcore's kernels with idle workers that may spin
    (OMP_WAIT_POLICY not PASSIVE from the start), if any."""
    return list(_state["early"])


def threads_for(work, most):
    """How many threads a kernel touching ``work`` elements should use, of ``most``."""
    return 1 if work < PARALLEL_MIN_WORK else most


def _loaded_libraries():
    """Paths of the shared libraries mapped into this process (Linux), else []."""
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line})
    except OSError:
        return []


def apply():
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose a value. numba_cpu.py and
    native.py call this before they import numba or the native module (and the
    registry before it imports them), so the policy holds however they are imported.
    Calls after the first do nothing."""
    if _state["applied"]:
        return
    _state["applied"] = True
    early = [path for path in _loaded_libraries() if "libgomp" in os.path.basename(path)]
    if "OMP_WAIT_POLICY" in os.environ:
        _state["origin"] = "set by the user"
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _state["origin"] = "set by tlcore"
    if not early:
        return
    if _state["origin"] == "set by the user" and os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE":
        _state["origin"] += f"; an OpenMP runtime loaded earlier read it too: {', '.join(early)}"
        return
    # e.g. PyTorch's own copy, whose symbols the later loads may bind to: keep off it
    _state["early"] = early
    _state["origin"] += (f"; an OpenMP runtime loaded earlier keeps its own setting: "
                         f"{', '.join(early)}; the native module runs on one thread")
    if "NUMBA_THREADING_LAYER" not in os.environ:
        os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
        if "numba" in sys.modules:  # imported already: its config read the environment
            sys.modules["numba"].config.THREADING_LAYER = "workqueue"
        _state["origin"] += "; numba uses its workqueue threads instead"


def blas_threads():
    """The number of threads numpy's OpenBLAS uses, or None if it cannot be asked."""
    import ctypes  # here, not at import tlcore: only tlcore info and the benchmarks ask
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
            f"compiled kernels go parallel from {PARALLEL_MIN_WORK} elements",
            f"BLAS threads: {threads if threads is not None else 'unknown'}",
            f"CPU cores: {os.cpu_count()}"]
