"""One threading policy for the thread pools that the CPU kernels use, and for the
libraries that share the process with them.

Three pools serve a training step on the CPU: BLAS (numpy's OpenBLAS, for every GEMM),
numba's parallel loops, and the native module's OpenMP loops. numba's "omp" threading
layer and the native module both run on the process's libgomp. An idle libgomp worker
spins before it sleeps: by default 300,000 rounds of a pause instruction (GOMP_SPINCOUNT;
libgomp's own estimate is 3 ms, and a pause takes several times longer on recent
cores). On a small machine those spinning workers hold the cores that the
next GEMM's threads need. Measured on 2 cores: a (256x64) @ (64x100) GEMM followed by a
numba row-max took 8 ms instead of 0.05 ms.

One runtime, shared. PyTorch's CPU wheel ships its own libgomp.so.1; whichever copy is
loaded first serves every later library (same soname), torch and tlcore alike. A
runtime reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when it is loaded, for everyone.
Spinning is what keeps PyTorch fast: its many short parallel regions find their workers
awake. tlcore used to set OMP_WAIT_POLICY=PASSIVE before it loaded its kernels, and so
chose the policy of PyTorch's runtime too. Measured with bench/neighbours.py (2 cores,
torch at its default 2 threads, medians): torch's MLP epoch 9.2 to 9.7 ms alone, 14.9 ms
with tlcore's kernels loaded first under that policy, 15.3 ms with PASSIVE in the
environment; its conv2 step 7.7 to 8.6 ms against 15.9 ms on a PASSIVE runtime. A
library may not choose that for the process, and tlcore no longer writes any
environment variable.

The policy:
- The OpenMP runtime keeps the settings the user gave it (none, by default). tlcore
  writes no environment variable and calls no omp_set_* function.
- On a runtime whose idle workers spin (OMP_WAIT_POLICY not PASSIVE, GOMP_SPINCOUNT not
  0: the default), tlcore's compiled loops (native and numba) run on the calling thread
  alone, so tlcore never leaves workers spinning, neither its own nor a neighbour's. Its
  GEMMs keep numpy's BLAS threads. The cost is small where the GEMMs dominate: tlcore's
  conv2 forward and backward took 11.7 to 12.4 ms (median; 11.3 to 11.5 p10) so, against
  12.7 to 13.9 ms (10.1 p10) with its loops in parallel on a PASSIVE runtime.
- The heaviest kernels, the native routes' convolution, hinge (the fused forward and the
  sparse backward) and max pooling (csrc/conv.c, csrc/winograd.c, csrc/hinge.c,
  csrc/hinge_backward.c, csrc/pool.c), do not use OpenMP: they run on tlcore's own pool
  of POSIX threads (csrc/team.h), whose idle workers sleep on a condition variable, so
  they go parallel whatever the runtime's policy, without a spinning worker left behind.
  ``team_size()`` threads (OMP_NUM_THREADS where the user set it, else the CPUs this
  process may run on), from PARALLEL_MIN_WORK elements.
- Where the user set OMP_WAIT_POLICY=PASSIVE (or GOMP_SPINCOUNT=0) before the program
  started, the runtime's workers sleep at once, and the compiled loops run in parallel
  from PARALLEL_MIN_WORK elements: the user chose it for every library in the process.
- A neighbour's spinning pool (PyTorch's, for some milliseconds after each of its calls)
  still holds a core when tlcore's GEMMs follow, and a GEMM split over both cores waits
  for it: tlcore's MLP epoch took 13.8 to 15.9 ms alternating with torch, 7.5 to 10.2
  alone. ``kernel_scope()`` runs numpy's BLAS, for its span, on the cores the
  neighbour's workers leave free (the cores less the neighbour's threads but one, at
  least one: one beside PyTorch at its default), through threadpoolctl, and gives BLAS
  its thread count back at the end: the same epoch with each step inside it took 7.0 to
  7.1 ms alternating with torch. The registry enters it around every CPU kernel call,
  and kernels.matmul around the ops' own GEMMs (linear, matmul, the scores' backward).
  It acts only while a known neighbour (NEIGHBOURS) is imported with more than one
  thread, the runtime spins, and threadpoolctl is installed (scope_acts: about 0.2 us);
  entered, it costs about 5 us.
- The environment is read once, when the first compiled backend loads: an
  OMP_WAIT_POLICY set in os.environ after the runtime was loaded (by torch, say) is
  believed, though the runtime never read it.
- Every pool keeps its default size: OPENBLAS_NUM_THREADS, NUMBA_NUM_THREADS and
  OMP_NUM_THREADS stay the user's. A compiled kernel call smaller than PARALLEL_MIN_WORK
  elements runs on one thread, since a parallel region costs more than its work.

threadpoolctl (optional: ``pip install 'tlcore[threads]'``) reports every BLAS and
OpenMP runtime in the process, with version and thread count, on Linux, macOS and
Windows; ``describe()`` prints them for ``tlcore info``. It is imported only when asked
(``python -X importtime``: 46 ms alone, 10 ms once numpy is loaded), never at ``import
tlcore``; ``threadpool_info()`` costs 1.6 ms the first time and 0.4 ms after, and a
``threadpool_limits`` context 0.5 ms to enter and leave (it scans the loaded libraries
each time), which is why kernel_scope keeps threadpoolctl's controllers of the BLAS
libraries from its first use and calls their set_num_threads (1.4 us). Without
threadpoolctl the policy above holds all the same, except kernel_scope(), which then does
nothing, and the pools are reported as unknown.
"""

import functools
import os
import re
import sys
import threading
from contextlib import contextmanager

# Waking and parking a pool's threads for one parallel loop costs about 15 us (measured on
# 2 cores with OMP_WAIT_POLICY=PASSIVE: a 4096-element gradient reversal took 20 us on
# 2 threads, 5 us on one, 2 us in numpy). The compiled kernels run a loop over fewer
# elements than this on the calling thread alone.
PARALLEL_MIN_WORK = 2**15
# What native.py passes to its module for "never parallel".
SERIAL = 2**62

# Libraries whose OpenMP pool is known to spin between their calls on the thread that
# calls tlcore, each with the function that gives its pool's size: while one of them is
# imported with more than one thread, kernel_scope() keeps BLAS off the cores its idle
# workers hold. Asking the library itself costs 0.04 us (torch.get_num_threads), asking
# the OpenMP runtime through threadpoolctl 0.2 us in a loop of its own, and about 1 us
# a GEMM between a training step's ops: bench/mlp.py's MLP at tiny sizes (8 GEMMs a
# step) had 51 against 60 us of overhead a step, in one pair of runs.
NEIGHBOURS = {"torch": "get_num_threads"}

_state = {"applied": False, "spins": None, "origin": None}
_scope = {"depth": 0, "saved": None, "blas": None}
_scope_lock = threading.Lock()


def team_size(environ=os.environ):
    """The threads of the native routes' own team (csrc/team.h): the first number of
    OMP_NUM_THREADS where the user set one, else the CPUs this process may run on."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) > 0:
        return int(first)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _runtime_spins(environ=os.environ):
    """Whether an OpenMP runtime started with this environment lets idle workers spin
    (libgomp, and LLVM's libomp, read OMP_WAIT_POLICY; libgomp also GOMP_SPINCOUNT)."""
    if environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        return False
    return environ.get("GOMP_SPINCOUNT", "").strip() != "0"


def apply():
    """Decide, once, how tlcore's compiled loops use the OpenMP runtime: numba_cpu.py,
    native.py and routes.py call this before they load their runtime (and the registry
    before it imports them). It reads the environment and writes nothing."""
    if _state["applied"]:
        return
    _state["applied"] = True
    _state["spins"] = _runtime_spins()
    policy = os.environ.get("OMP_WAIT_POLICY")
    if not _state["spins"]:
        _state["origin"] = ("the OpenMP runtime's idle workers sleep (set by the user): "
                            "tlcore's compiled loops run in parallel")
    else:
        what = f"OMP_WAIT_POLICY={policy}" if policy else "OMP_WAIT_POLICY unset"
        _state["origin"] = (f"the OpenMP runtime's idle workers spin ({what}): tlcore's "
                            "OpenMP loops run on the calling thread (the routes' kernels "
                            "on tlcore's own threads); set "
                            "OMP_WAIT_POLICY=PASSIVE before start to run them in parallel "
                            "(every library on the runtime then sleeps: PyTorch slows)")


def spinning_runtime():
    """True where the OpenMP runtime's idle workers spin and tlcore's compiled loops
    therefore stay on the calling thread."""
    apply()
    return _state["spins"]


def parallel_min_work():
    """The fewest elements for which a compiled loop goes parallel: PARALLEL_MIN_WORK, or
    SERIAL on a spinning runtime. What native.py should pass to set_parallel_min_work."""
    return SERIAL if spinning_runtime() else PARALLEL_MIN_WORK


def threads_for(work, most):
    """How many threads a kernel touching ``work`` elements should use, of ``most``."""
    if spinning_runtime() or work < PARALLEL_MIN_WORK:
        return 1
    return most


# ----------------------------------------------------------------------- the kernel scope


def scope_acts():
    """Whether kernel_scope() acts now: the OpenMP runtime spins, an imported NEIGHBOURS
    library runs more than one thread (PyTorch at its default; not after
    torch.set_num_threads(1)), so that its idle workers may hold cores BLAS would use,
    and threadpoolctl can limit BLAS. This runs before every kernel and GEMM: without a
    neighbour it costs a dictionary look-up, with one a call into it (0.04 us), where a
    scope that limits and restores BLAS costs about 5 us (8 GEMMs a step of
    bench/mlp.py's MLP, whose hand-written step takes 170 us)."""
    pool = _neighbour_threads()
    if pool is None or pool < 2:  # the usual case first: no neighbour
        return False
    if not _state["applied"]:
        apply()
    return _state["spins"] and _cores() > 1 and bool(_blas_controllers())


def _neighbour_threads():
    """The thread count of the first imported NEIGHBOURS library's pool; None if none is
    imported."""
    for name, size in NEIGHBOURS.items():
        module = sys.modules.get(name)
        if module is not None:
            return getattr(module, size)()
    return None


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded when first asked (their
    thread counts are read afresh at each use); [] without threadpoolctl."""
    if _scope["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _scope["blas"] = []
        else:
            found = ThreadpoolController().select(user_api="blas")
            _scope["blas"] = list(found.lib_controllers)
    return _scope["blas"]


@functools.lru_cache(maxsize=None)
def _cores():
    """The cores this process may run on (its affinity where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def blas_threads_in_scope(cores, neighbour_threads):
    """BLAS's threads inside kernel_scope(): the cores that the neighbour's spinning
    workers (all its threads but the caller) leave free, at least one."""
    return max(1, cores - max(0, neighbour_threads - 1))


@contextmanager
def kernel_scope():
    """The span of one CPU kernel call. While a neighbour with a spinning OpenMP pool of
    more than one thread is imported (NEIGHBOURS) and the runtime spins (scope_acts),
    numpy's BLAS runs inside it on the cores
    that the neighbour's idle workers, which may be spinning, leave free: one, where the
    neighbour uses every core (PyTorch's default). BLAS gets its thread count back at the
    end (the outermost scope restores it; nested scopes do nothing). Elsewhere it does
    nothing."""
    if not scope_acts():
        yield
        return
    _enter_scope()
    try:
        yield
    finally:
        _leave_scope()


def _enter_scope():
    """The outermost scope limits every BLAS above the limit and keeps what it changed."""
    with _scope_lock:
        _scope["depth"] += 1
        if _scope["depth"] == 1:
            limit = blas_threads_in_scope(_cores(), _neighbour_threads())
            changed = []
            for controller in _blas_controllers():
                count = controller.get_num_threads()
                if count > limit:
                    controller.set_num_threads(limit)
                    changed.append((controller, count))
            _scope["saved"] = changed


def _leave_scope():
    """The outermost scope gives back the thread counts it changed."""
    with _scope_lock:
        _scope["depth"] -= 1
        if _scope["depth"] == 0:
            for controller, count in _scope["saved"]:
                controller.set_num_threads(count)
            _scope["saved"] = None


def scoped(fn):
    """``fn`` run inside kernel_scope(), without a generator's cost: the registry wraps
    every CPU kernel in it."""
    def run(*args, **kwargs):
        if not scope_acts():  # the common case
            return fn(*args, **kwargs)
        return in_scope(fn, *args, **kwargs)
    run.__wrapped__ = fn
    return run


def in_scope(fn, *args, **kwargs):
    """fn(*args, **kwargs) inside the scope, for a caller that has found scope_acts()
    true (scoped, kernels.matmul)."""
    _enter_scope()
    try:
        return fn(*args, **kwargs)
    finally:
        _leave_scope()


# ----------------------------------------------------------------------- what is loaded


def pools():
    """threadpoolctl's list of the BLAS and OpenMP pools loaded in this process (dicts
    with user_api, internal_api, version, num_threads, filepath), or None without it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return threadpool_info()


def blas_threads():
    """The number of threads numpy's BLAS uses, or None if it cannot be asked."""
    found = pools()
    counts = [pool["num_threads"] for pool in found or () if pool["user_api"] == "blas"]
    return counts[0] if counts else None


def describe():
    """Lines for ``tlcore info``: the policy and each pool, with its size."""
    if _state["applied"]:
        policy = _state["origin"]
    elif _runtime_spins():
        policy = ("the OpenMP runtime's idle workers will spin (OMP_WAIT_POLICY unset): "
                  "tlcore's compiled loops will run on the calling thread")
    else:
        policy = "the OpenMP runtime's idle workers will sleep: tlcore's loops run in parallel"
    lines = [f"OpenMP wait policy: {policy}; tlcore sets no environment variable",
             f"compiled kernels go parallel from {PARALLEL_MIN_WORK} elements"
             + ("" if not _state["applied"] or not _state["spins"] else
                " (on a runtime whose workers sleep)"),
             f"CPU cores: {os.cpu_count()}"]
    found = pools()
    if found is None:
        lines.append("thread pools: unknown (pip install threadpoolctl, or 'tlcore[threads]')")
        return lines
    if not found:
        lines.append("thread pools: none loaded yet")
    for pool in found:
        name = pool.get("internal_api", "?")
        if name == "openmp":  # which runtime: libgomp, libomp, libiomp5, vcomp
            name = pool.get("prefix") or name
        version, layer = pool.get("version"), pool.get("threading_layer")
        lines.append(f"{pool['user_api']} pool: {name}" + (f" {version}" if version else "")
                     + (f" ({layer})" if layer else "")
                     + f", {pool['num_threads']} threads, {pool['filepath']}")
        if name == "openblas" and pool["num_threads"] > 1:
            lines.append(openblas_spin())
    return lines


def openblas_spin():
    """What OpenBLAS's idle threads do after a call. OpenBLAS reads OPENBLAS_THREAD_TIMEOUT
    when it loads: the log2 of the cycles they spin before they sleep (4 to 30; 28 in its
    sources where unset, about 0.1 s). A team kernel of tlcore's called while one spins
    may find a core taken: on 2 cores, right after a GEMM, the conv2d forward and the
    fused hinge forward took 1.9x their time alone, and 1.1x with the variable at 4
    (bench/team_stalls.py, README)."""
    value = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    # as OpenBLAS reads it (C's atoi): 0 or no number keeps its default, others are clamped
    number = re.match(r"\s*[+-]?\d+", value or "")
    log2 = int(number.group()) if number else 0
    if log2 > 0:
        return (f"  its idle threads spin 2**{min(max(log2, 4), 30)} cycles after a call "
                f"(OPENBLAS_THREAD_TIMEOUT={value})")
    setting = "unset" if value is None else f"={value!r}, read as unset"
    return (f"  its idle threads spin about 0.1 s after a call (OPENBLAS_THREAD_TIMEOUT"
            f"{' ' if value is None else ''}{setting}), holding cores tlcore's team kernels "
            "could use right after a GEMM: README, \"OpenBLAS's spin\", says what setting it "
            "before Python starts gains and costs")
