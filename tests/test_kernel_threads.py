"""The threading policy of kernels/backends/threads.py: tlcore writes no environment
variable, keeps its compiled loops off an OpenMP runtime whose idle workers spin, and
runs numpy's BLAS on one thread inside a kernel while a neighbour's pool spins. The
policy is decided once per process, so the environment cases run in fresh interpreters."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from backend_marks import needs_backend

from tlcore.kernels import entries, use
from tlcore.kernels.backends import threads

OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NUMBA_THREADING_LAYER",
                    "OMP_NUM_THREADS", "KMP_BLOCKTIME")

PROBE = """
import json, os, sys
import tlcore
imported_threadpoolctl = "threadpoolctl" in sys.modules
from tlcore import kernels
from tlcore.kernels.backends import threads
before = dict(os.environ)
kernels.available()  # loads numba and the native module where present


def native_min_work():  # what native.py told its module: a parallel loop's least work
    if "native" not in kernels.available():
        return None
    from tlcore import _native
    value = _native.set_parallel_min_work(0)
    _native.set_parallel_min_work(value)
    return value


print(json.dumps({"import_threadpoolctl": imported_threadpoolctl,
                  "changed": sorted(k for k in set(before) | set(os.environ)
                                    if before.get(k) != os.environ.get(k)),
                  "threads_for": threads.threads_for(10**6, 4),
                  "native_min_work": native_min_work(),
                  "min_work": threads.parallel_min_work(),
                  "lines": threads.describe()}))
"""


def _clean_environment(**changes):
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    env.update(changes)
    return env


def _run(code, **env_changes):
    out = subprocess.run([sys.executable, "-c", code], env=_clean_environment(**env_changes),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_loading_the_compiled_backends_writes_no_environment_variable():
    """The wait policy is the whole process's (PyTorch reads it from the same runtime):
    tlcore neither sets OMP_WAIT_POLICY nor switches numba's threading layer."""
    seen = _run(PROBE)
    assert seen["changed"] == []
    assert not seen["import_threadpoolctl"]  # import tlcore stays light


def test_on_a_spinning_runtime_the_compiled_loops_run_on_the_calling_thread():
    seen = _run(PROBE)  # OMP_WAIT_POLICY unset: libgomp's workers spin when idle
    assert seen["threads_for"] == 1
    assert seen["min_work"] == threads.SERIAL
    assert seen["native_min_work"] in (threads.SERIAL, None)  # None: no native module
    assert "idle workers spin (OMP_WAIT_POLICY unset)" in seen["lines"][0]
    assert "tlcore sets no environment variable" in seen["lines"][0]


@pytest.mark.parametrize("variable, value", [("OMP_WAIT_POLICY", "passive"),
                                             ("GOMP_SPINCOUNT", "0")])
def test_a_users_sleeping_runtime_lets_the_loops_go_parallel(variable, value):
    seen = _run(PROBE, **{variable: value})
    assert seen["changed"] == []
    assert seen["threads_for"] == 4
    assert seen["min_work"] == threads.PARALLEL_MIN_WORK
    assert seen["native_min_work"] in (threads.PARALLEL_MIN_WORK, None)
    assert "idle workers sleep (set by the user)" in seen["lines"][0]


def test_a_users_active_policy_keeps_the_loops_serial():
    seen = _run(PROBE, OMP_WAIT_POLICY="ACTIVE")
    assert seen["changed"] == [] and seen["threads_for"] == 1
    assert "OMP_WAIT_POLICY=ACTIVE" in seen["lines"][0]


def test_small_work_stays_on_one_thread_even_on_a_sleeping_runtime(monkeypatch):
    monkeypatch.setitem(threads._state, "applied", True)
    monkeypatch.setitem(threads._state, "spins", False)
    assert threads.threads_for(threads.PARALLEL_MIN_WORK - 1, 8) == 1
    assert threads.threads_for(threads.PARALLEL_MIN_WORK, 8) == 8


@pytest.mark.parametrize("module, backend", [
    pytest.param("native", "native", marks=needs_backend("native")),
    pytest.param("numba_cpu", "numba", marks=needs_backend("numba"))])
def test_importing_a_compiled_backend_directly_decides_the_policy_first(module, backend):
    """``from tlcore.kernels.backends import native`` (or numba_cpu) without the
    registry, as a script timing one backend might: the policy is decided before the
    backend's loops run, from the environment alone, which stays as it was."""
    probe = ("import json, os\nbefore = dict(os.environ)\n"
             f"from tlcore.kernels.backends import {module}, threads\n"
             "print(json.dumps([before == dict(os.environ), threads._state['applied'],"
             " threads.threads_for(10**6, 2)]))")
    assert _run(probe) == [True, True, 1]


def test_an_openmp_runtime_loaded_earlier_changes_nothing():
    """As when PyTorch, with its own libgomp, is imported before tlcore's kernels load:
    the policy depends on the runtime's settings, not on who loaded it first."""
    early = ("import ctypes, ctypes.util\n"
             "ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')\n")
    assert _run(early + PROBE)["changed"] == []
    seen = _run(early + PROBE, OMP_WAIT_POLICY="PASSIVE")
    assert seen["changed"] == [] and seen["threads_for"] == 4


# ----------------------------------------------------------------------- the kernel scope


class FakeBlas:
    """A threadpoolctl library controller that records what it is told."""

    def __init__(self, threads_now=2):
        self.threads, self.calls = threads_now, []

    def get_num_threads(self):
        return self.threads

    def set_num_threads(self, count):
        self.calls.append(count)
        self.threads = count


@pytest.fixture
def neighbour(monkeypatch):
    """A spinning runtime, a neighbour imported, and a fake BLAS: what kernel_scope sees
    in a process that alternates PyTorch and tlcore."""
    blas = FakeBlas()
    monkeypatch.setitem(threads._state, "applied", True)
    monkeypatch.setitem(threads._state, "spins", True)
    monkeypatch.setitem(sys.modules, "torch", fake_neighbour(2))  # at its default
    monkeypatch.setitem(threads._scope, "blas", [blas])
    monkeypatch.setattr(threads, "_cores", lambda: 2)
    return blas


def fake_neighbour(pool_size):
    """A module standing for PyTorch, whose pool has ``pool_size`` threads."""
    module = types.ModuleType("torch")
    setattr(module, threads.NEIGHBOURS["torch"], lambda: pool_size)
    return module


def test_kernel_scope_runs_blas_on_one_thread_and_restores_it(neighbour):
    with threads.kernel_scope():
        assert neighbour.threads == 1
        with threads.kernel_scope():  # nested: the outer scope restores, once
            assert neighbour.threads == 1
        assert neighbour.threads == 1
    assert neighbour.threads == 2
    assert neighbour.calls == [1, 2]


def test_kernel_scope_leaves_blas_alone_beside_a_neighbour_on_one_thread(neighbour,
                                                                          monkeypatch):
    """After torch.set_num_threads(1) no spinning worker holds a core: BLAS keeps its
    threads, and the scope asks it nothing."""
    monkeypatch.setitem(sys.modules, "torch", fake_neighbour(1))
    neighbour.get_num_threads = lambda: pytest.fail("the scope asked BLAS")
    with threads.kernel_scope():
        pass
    assert neighbour.calls == [] and not threads.scope_acts()


@pytest.mark.parametrize("cores, neighbour_threads, expected", [
    (2, 2, 1), (16, 16, 1), (16, 4, 13), (8, 1, 8), (4, 9, 1)])
def test_blas_gets_the_cores_the_neighbours_workers_leave(cores, neighbour_threads,
                                                          expected):
    assert threads.blas_threads_in_scope(cores, neighbour_threads) == expected


def test_kernel_scope_restores_blas_after_an_error(neighbour):
    with pytest.raises(ZeroDivisionError):
        with threads.kernel_scope():
            1 / 0
    assert neighbour.threads == 2 and threads._scope["depth"] == 0


def test_every_cpu_kernel_runs_in_the_scope(neighbour):
    """The registry wraps each implementation: a kernel of any CPU backend sees BLAS on
    one thread, and the caller gets the thread count back."""
    seen = []
    neighbour.set_num_threads = lambda count, blas=neighbour: (
        seen.append(count), setattr(blas, "threads", count))
    with use("numpy"):
        out = entries.grad_reverse_backward(np.ones(4, np.float32), 0.5)
    np.testing.assert_array_equal(out, -0.5 * np.ones(4, np.float32))
    assert seen == [1, 2]


@pytest.mark.parametrize("spins, imported", [(False, True), (True, False)])
def test_kernel_scope_leaves_blas_alone_without_a_spinning_neighbour(monkeypatch, spins,
                                                                     imported):
    blas = FakeBlas()
    monkeypatch.setitem(threads._state, "applied", True)
    monkeypatch.setitem(threads._state, "spins", spins)
    monkeypatch.setitem(threads._scope, "blas", [blas])
    monkeypatch.setattr(threads, "_cores", lambda: 2)
    if imported:
        monkeypatch.setitem(sys.modules, "torch", fake_neighbour(2))
    else:
        monkeypatch.delitem(sys.modules, "torch", raising=False)
    with threads.kernel_scope():
        pass
    assert blas.calls == []


# ----------------------------------------------------------------------- what is reported


def test_describe_names_the_policy_and_the_cores():
    lines = threads.describe()
    assert lines[0].startswith("OpenMP wait policy: ")
    assert lines[1].startswith(f"compiled kernels go parallel from {threads.PARALLEL_MIN_WORK} "
                               "elements")
    assert lines[2] == f"CPU cores: {os.cpu_count()}"


def test_describe_names_every_loaded_pool_through_threadpoolctl():
    pytest.importorskip("threadpoolctl")
    lines = threads.describe()
    blas = [line for line in lines if line.startswith("blas pool: ")]
    assert blas and " threads, " in blas[0]
    assert threads.blas_threads() >= 1


@pytest.mark.parametrize("value, spin", [(None, None), ("4", 4), ("1", 4), ("99", 30),
                                         ("12 cycles", 12), ("0", None), ("soon", None)])
def test_describe_says_how_long_openblas_spins_after_a_call(monkeypatch, value, spin):
    """As OpenBLAS reads the variable: 0 or no number keeps its default spin (2**28
    cycles), other values are clamped to 4 to 30."""
    pool = {"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
            "num_threads": 2, "filepath": "/lib/libopenblas.so"}
    monkeypatch.setattr(threads, "pools", lambda: [pool])
    if value is None:
        monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", value)
    lines = threads.describe()
    line = lines[lines.index("blas pool: openblas 0.3.31, 2 threads, /lib/libopenblas.so") + 1]
    if spin is None:
        assert "about 0.1 s after a call" in line and "README" in line
        assert ("OPENBLAS_THREAD_TIMEOUT unset" in line if value is None
                else f"OPENBLAS_THREAD_TIMEOUT={value!r}, read as unset" in line)
    else:
        assert line.endswith(f"spin 2**{spin} cycles after a call "
                             f"(OPENBLAS_THREAD_TIMEOUT={value})")
    pool["num_threads"] = 1  # one thread: nothing spins
    assert len(threads.describe()) == len(lines) - 1


def test_without_threadpoolctl_the_pools_are_unknown(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    assert threads.pools() is None
    assert threads.blas_threads() is None
    assert threads.describe()[-1].startswith("thread pools: unknown")
