"""Shared test set-up: a bounded hypothesis profile, the GPU marker's skip, and the
fixtures of the native AVX-512 convolution's tests."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Bounded examples keep the suite well under its time budget on 2 cores; set
# HYPOTHESIS_PROFILE=thorough for a longer local run.
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def every_call_on_avx512():
    """The native backend's AVX-512 convolution for every call: its thresholds lowered
    (for tests skipped where the native module or AVX-512F is missing). The same for
    every input hypothesis draws, so module-scoped."""
    from tlcore.kernels.backends import avx512_route
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(avx512_route, "AVX512_MIN_DEPTH", 1)
        patch.setattr(avx512_route, "AVX512_MIN_CHANNELS", 1)
        patch.setattr(avx512_route, "AVX512_MIN_SAMPLES", 1)
        yield


@pytest.fixture
def avx512_calls(monkeypatch):
    """{kernel: calls} of the compiled AVX-512 convolution, counted during the test: the
    direct tiles' "conv_avx512_forward" and "conv_avx512_backward_weight", Winograd's
    "winograd_avx512_forward" and "winograd_avx512_backward_weight"."""
    from tlcore import _native
    calls = {}
    for name in ("conv_avx512_forward", "conv_avx512_backward_weight"):
        def counted(*args, name=name, compiled=getattr(_native, name), **kwargs):
            kernel = name.replace("conv", "winograd") if kwargs.get("winograd") else name
            calls[kernel] = calls.get(kernel, 0) + 1
            return compiled(*args, **kwargs)
        monkeypatch.setattr(_native, name, counted)
    return calls


def _gpu_reason():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
        return "no CUDA GPU on this machine"
    except ImportError:
        return "cupy is not installed"
    except Exception as exc:  # a driver without a device, etc.
        return f"no usable CUDA GPU ({type(exc).__name__}: {exc})"


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    reason = _gpu_reason()
    if reason is not None:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))
