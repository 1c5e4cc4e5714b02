"""The threading policy of kernels/backends/threads.py, checked in fresh interpreters (the policy
acts once per process, when numba or the native module is first loaded)."""

import json
import os
import subprocess
import sys

import pytest
from test_kernel_backends import needs_backend

from tlcore.kernels.backends import threads

PROBE = """
import json, os
import tlcore
from tlcore import kernels
from tlcore.kernels.backends import threads
before = os.environ.get("OMP_WAIT_POLICY")
kernels.available()  # loads numba and the native module where present
print(json.dumps({"before": before, "after": os.environ.get("OMP_WAIT_POLICY"),
                  "lines": threads.describe()}))
"""


def _probe(**env_changes):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_passive_wait_policy_is_set_when_the_compiled_backends_load():
    seen = _probe()
    assert seen["before"] is None  # import tlcore alone changes nothing
    assert seen["after"] == "PASSIVE"
    assert "PASSIVE (set by tlcore)" in seen["lines"][0]


@pytest.mark.parametrize("module, backend", [
    pytest.param("native", "native", marks=needs_backend("native")),
    pytest.param("numba_cpu", "numba", marks=needs_backend("numba"))])
def test_importing_a_compiled_backend_directly_applies_the_policy_first(module, backend):
    """``from tlcore.kernels import native`` (or numba_cpu) without the registry, as a
    script timing one backend might: the policy is still set before that backend's
    OpenMP runtime loads, so no runtime counts as loaded before it. Measured without
    this (2 cores, bench-style blocks of 30 calls): conv2's forward and backward through
    the native im2col path took 56 to 75 ms instead of 24 to 27 ms."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    probe = (f"import json, os\nfrom tlcore.kernels.backends import {module}, threads\n"
             "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), threads.early_openmp()]))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == ["PASSIVE", []]


def test_a_users_wait_policy_stands():
    seen = _probe(OMP_WAIT_POLICY="ACTIVE")
    assert seen["after"] == "ACTIVE"
    assert "ACTIVE (set by the user)" in seen["lines"][0]


def test_describe_names_every_pool():
    lines = threads.describe()
    assert lines[0].startswith("OpenMP wait policy")
    assert lines[1] == f"compiled kernels go parallel from {threads.PARALLEL_MIN_WORK} elements"
    assert lines[2].startswith("BLAS threads: ")
    assert lines[3] == f"CPU cores: {os.cpu_count()}"


def test_an_openmp_runtime_loaded_earlier_is_named_and_numba_avoids_it():
    """As when PyTorch, with its own libgomp, is imported before tlcore's kernels load."""
    early = ("import ctypes, ctypes.util\n"
             "ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    probe = early + PROBE + "print(os.environ.get('NUMBA_THREADING_LAYER'))\n"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    seen = json.loads(out[-2])
    assert "an OpenMP runtime loaded earlier keeps its own setting" in seen["lines"][0]
    assert "libgomp" in seen["lines"][0]
    assert "the native module runs on one thread" in seen["lines"][0]
    assert out[-1] == "workqueue"


def test_a_users_passive_policy_reached_the_early_runtime_too():
    """Set before the program started, PASSIVE reached the early copy as well: nothing
    needs switching."""
    early = ("import ctypes, ctypes.util\n"
             "ctypes.CDLL(ctypes.util.find_library('gomp') or 'libgomp.so.1')\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["OMP_WAIT_POLICY"] = "passive"
    probe = (early + PROBE + "from tlcore.kernels.backends import threads\n"
             "print(os.environ.get('NUMBA_THREADING_LAYER'), threads.early_openmp())\n")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert "an OpenMP runtime loaded earlier read it too" in json.loads(out[-2])["lines"][0]
    assert out[-1] == "None []"
