"""The kernel registry, and every backend of every kernel against the numpy reference."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, shapes
from backend_marks import CPU_BACKENDS, needs_backend

import tlcore
from tlcore import kernels, ops
from tlcore.kernels import reference


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-6)])
@given(shape=shapes(min_dims=1, max_dims=3), noncontiguous=st.booleans(),
       lambda_=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_grad_reverse_backward_matches_reference(backend, dtype, rtol, shape, noncontiguous,
                                                 lambda_, seed):
    grad = array(np.random.default_rng(seed), shape, noncontiguous).astype(dtype, copy=False)
    expected = reference.grad_reverse_backward(grad.copy(), lambda_)
    with kernels.use(backend):
        kernel = kernels.get("grad_reverse_backward", grad)
        result = kernel(grad, lambda_)
        assert result.dtype == dtype and result.shape == grad.shape
        np.testing.assert_allclose(result, expected, rtol=rtol, atol=0)
        out = np.empty(shape, dtype)[..., ::-1]  # a non-contiguous out
        assert kernel(grad, lambda_, out=out) is out
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_axpy_updates_y_in_place(backend):
    y, x = np.arange(6.0).reshape(2, 3), np.full((2, 3), 2.0)
    with kernels.use(backend):
        assert kernels.axpy(-0.5, x, y) is y
    np.testing.assert_array_equal(y, np.arange(6.0).reshape(2, 3) - 1.0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_axpy_in_float16_runs_the_numpy_backend(backend):
    """The compiled loops take float32 and float64; float16 is numpy's (the registry's
    floats=), with the reference's result."""
    y, x = np.linspace(-1, 1, 7).astype(np.float16), np.ones(7, np.float16)
    expected = reference.axpy(0.5, x, y.copy())
    with kernels.use(backend):
        assert kernels.axpy(0.5, x, y) is y
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("overlap", ["x is y", "x reversed y", "x shifted in y's buffer"])
def test_axpy_with_x_in_y_memory_reads_x_before_writing(backend, overlap):
    """As numpy's ``y += alpha * x``: x's values as they were, however x and y share
    memory (a loop writing y as it reads x would see its own writes)."""
    buffer = np.arange(8.0) + 1
    y = buffer[1:7]
    x = {"x is y": y, "x reversed y": y[::-1], "x shifted in y's buffer": buffer[:6]}[overlap]
    expected = y + 0.5 * x.copy()
    with kernels.use(backend):
        kernels.axpy(0.5, x, y)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_grad_reverse_backward_in_place(backend):
    grad = np.arange(6, dtype=np.float64).reshape(2, 3)
    with kernels.use(backend):
        result = kernels.get("grad_reverse_backward", grad)(grad, 0.5, out=grad)
    assert result is grad
    np.testing.assert_array_equal(grad, -0.5 * np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gradient_reversal_through_each_backend(backend):
    """Forward is the identity; backward is -lambda times the upstream gradient."""
    rng = np.random.default_rng(0)
    x = tlcore.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    upstream = rng.standard_normal((4, 3))
    with kernels.use(backend):
        y = ops.grad_reverse(x, lambda_=0.7)
        np.testing.assert_array_equal(y.data, x.data)
        y.backward(upstream)
    np.testing.assert_allclose(x.grad, -0.7 * upstream, rtol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gradcheck_of_a_composed_function_through_each_backend(backend):
    """Two reversals with lambda 1 cancel (-(-g) = g), so grad_reverse(grad_reverse(f))
    has the true gradient of f: gradcheck can verify the kernel inside a real graph."""
    x = tlcore.tensor(np.random.default_rng(1).standard_normal((3, 2)), requires_grad=True)
    with kernels.use(backend):
        assert tlcore.gradcheck(lambda t: ops.grad_reverse(ops.grad_reverse(t.tanh())), [x])


def test_registry_reports_backends():
    assert "numpy" in kernels.available()
    assert "grad_reverse_backward" in kernels.ops("numpy")
    for name, reason in kernels.unavailable().items():
        assert name in kernels.BACKENDS and reason


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown kernel backend 'fortran'"):
        with kernels.use("fortran"):
            pass


def test_unavailable_backend_is_a_clear_error(monkeypatch):
    from tlcore.kernels import registry
    monkeypatch.setitem(registry._loaded, "numba", "ImportError: No module named 'numba'")
    with pytest.raises(RuntimeError, match="'numba' is not available on this machine: "
                                           "ImportError"):
        with kernels.use("numba"):
            pass


def test_use_is_restored_after_the_block():
    with kernels.use("numpy"):
        assert kernels.forced() == "numpy"
    assert kernels.forced() == os.environ.get("TLCORE_KERNELS")


def test_unknown_kernel_name():
    with pytest.raises(KeyError, match="no kernel named"):
        kernels.get("fft", np.zeros(3))


def test_environment_variable_forces_a_backend():
    code = ("import numpy as np, tlcore; from tlcore import kernels; "
            "print(kernels.forced(), kernels.get('grad_reverse_backward', np.zeros(2)).__module__)")
    env = dict(os.environ, TLCORE_KERNELS="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["numpy", "tlcore.kernels.backends.numpy_fast"]
    env["TLCORE_KERNELS"] = "nonsense"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0 and "unknown kernel backend 'nonsense'" in failed.stderr
    assert "the environment variable TLCORE_KERNELS='nonsense'" in failed.stderr


def test_import_tlcore_loads_no_optional_backend():
    code = ("import sys, tlcore, numpy as np; x = tlcore.tensor([1.0], requires_grad=True); "
            "(x * 2.0).sum().backward(); "
            "print(any(m in sys.modules for m in ('numba', 'cupy', 'tlcore._native')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items()
                                          if k != "TLCORE_KERNELS"})
    assert out.stdout.strip() == "False"


@needs_backend("native")
def test_native_module_reports_its_build():
    from tlcore.kernels.backends import native
    assert isinstance(native.openmp_enabled(), bool)
    assert native.max_threads() >= 1


def test_without_the_native_module_the_registry_lists_no_native_backend():
    """A machine where the extension was not built: the engine still works."""
    code = ("import sys; sys.modules['tlcore._native'] = None\n"
            "import numpy as np, tlcore\n"
            "from tlcore import kernels, ops, cli\n"
            "assert 'native' not in kernels.available(), kernels.available()\n"
            "x = tlcore.tensor(np.ones(3), requires_grad=True)\n"
            "ops.grad_reverse(x, 0.5).sum().backward()\n"
            "assert (x.grad == -0.5).all()\n"
            "print(next(l for l in cli.info_lines() if l.strip().startswith('native')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items()
                                          if k != "TLCORE_KERNELS"})
    assert "native  not available" in out.stdout


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_other_dtypes_go_to_the_reference(backend):
    """The compiled backends serve float32 and float64; integer images (max pooling) and
    float16 run the numpy backend, through the registry's ``floats``: the reference's
    result."""
    rng = np.random.default_rng(0)
    for x in (rng.integers(-5, 5, (2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4)).astype(
            np.float16)):
        with kernels.use(backend):
            out, argmax = kernels.get("maxpool2d_forward", x)(x, (2, 2), (2, 2), (0, 0))
        expected, expected_argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(argmax, expected_argmax)


def test_every_kernel_has_a_named_entry_that_names_its_definition():
    """kernels.NAME (kernels/entries.py) for every registered kernel: the reference's
    arguments, a docstring that names reference.NAME, and the same result as the
    registry's kernel (what the ops call)."""
    import inspect
    for op in kernels.ops("numpy"):
        entry = getattr(kernels, op)
        assert entry.__module__ == "tlcore.kernels.entries", op
        assert f"``reference.{op}``" in entry.__doc__, op
        params = [p for p in inspect.signature(entry).parameters if p != "unchecked"]
        assert params == list(inspect.signature(getattr(reference, op)).parameters), op
    grad = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(kernels.grad_reverse_backward(grad, 0.5),
                                  kernels.get("grad_reverse_backward", grad)(grad, 0.5))


def test_the_unchecked_entry_skips_the_validation():
    """maxpool2d_backward(..., unchecked=True) is the kernel's ``unchecked`` path: an argmax
    past its plane is refused only by the checked call."""
    g, argmax = np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64)
    np.testing.assert_array_equal(kernels.maxpool2d_backward(g, argmax, (1, 1, 2, 2)),
                                  kernels.maxpool2d_backward(g, argmax, (1, 1, 2, 2),
                                                             unchecked=True))
    with kernels.use("numpy"), pytest.raises(IndexError):
        kernels.maxpool2d_backward(g, argmax + 9, (1, 1, 2, 2))
