"""The engine's two builds: autograd.py compiled by Cython (setup.py, typed by
autograd.pxd), which the package imports where it was built, and the same file run as
Python source, which TLCORE_ENGINE=python selects. The suite runs on whichever this
machine imports; the engine's own tests run here again on the other build, so that CI,
which builds the compiled one, checks both."""

import os
import pathlib
import subprocess
import sys

import pytest

import tlcore
from tlcore import autograd

PACKAGE = pathlib.Path(tlcore.__file__).parent
TESTS = pathlib.Path(__file__).parent
# the files that test the engine itself: graph recording and walking, version counters,
# the gradient checker, and ops whose outputs are views or several
ENGINE_TESTS = ["test_autograd.py", "test_hardening_shared_buffers.py", "test_gradcheck.py",
                "test_ops_linalg.py", "test_ops_shape.py"]


def python_with(engine, code):
    """Run ``code`` in a fresh interpreter with TLCORE_ENGINE=engine."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, TLCORE_ENGINE=engine), timeout=120)


def compiled_build():
    """The compiled engine's file beside autograd.py, or None."""
    builds = [path for path in PACKAGE.glob("autograd.*")
              if path.suffix in (".so", ".pyd")]
    return builds[0] if builds else None


def test_the_package_imports_the_compiled_engine_where_it_was_built():
    build = compiled_build()
    expected = "python" if build is None or os.environ.get("TLCORE_ENGINE") == "python" \
        else "compiled"
    assert autograd.ENGINE == expected
    assert pathlib.Path(autograd.__file__) == (build if expected == "compiled"
                                               else PACKAGE / "autograd.py")


def test_tlcore_engine_python_imports_the_source():
    done = python_with("python", "import tlcore, tlcore.autograd as a\n"
                                 "x = tlcore.tensor([1.0, 2.0], requires_grad=True)\n"
                                 "(x * x).sum().backward()\n"
                                 "print(a.ENGINE, a.__file__, tlcore.Tensor is a.Tensor, "
                                 "x.grad.tolist(), sep='\\n')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["python", str(PACKAGE / "autograd.py"), "True",
                                           "[2.0, 4.0]"]


def test_tlcore_engine_compiled_refuses_to_run_without_the_build():
    done = python_with("compiled", "import tlcore; print(tlcore.autograd.ENGINE)")
    if compiled_build() is None:
        assert done.returncode != 0
        assert "TLCORE_ENGINE=compiled, but autograd.py was not compiled here" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "compiled"


def test_tlcore_engine_refuses_other_values():
    done = python_with("fast", "import tlcore")
    assert done.returncode != 0
    assert "TLCORE_ENGINE must be 'python' or 'compiled'" in done.stderr and "'fast'" in done.stderr


def test_the_engine_tests_pass_on_the_other_build():
    """The engine's own tests, again on the build this run does not use: the source
    under the compiled engine (CI's case), the compiled one under TLCORE_ENGINE=python."""
    other = "python" if autograd.ENGINE == "compiled" else "compiled"
    if other == "compiled" and compiled_build() is None:
        pytest.skip("the compiled engine is not built here (no Cython or C compiler at "
                    "install): there is only the source, which this run's suite tests")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *(str(TESTS / name) for name in ENGINE_TESTS)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TLCORE_ENGINE=other))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
