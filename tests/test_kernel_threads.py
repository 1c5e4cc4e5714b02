"""The threading policy of kernels/threads.py, checked in fresh interpreters (the policy
acts once per process, when numba or the native module is first loaded)."""

import json
import os
import subprocess
import sys

from tlcore.kernels import threads

PROBE = """
import json, os
import tlcore
from tlcore import kernels
from tlcore.kernels import threads
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


def test_a_users_wait_policy_stands():
    seen = _probe(OMP_WAIT_POLICY="ACTIVE")
    assert seen["after"] == "ACTIVE"
    assert "ACTIVE (set by the user)" in seen["lines"][0]


def test_describe_names_every_pool():
    lines = threads.describe()
    assert lines[0].startswith("OpenMP wait policy")
    assert lines[1].startswith("BLAS threads: ")
    assert lines[2] == f"CPU cores: {os.cpu_count()}"
