"""Shared test set-up: a bounded hypothesis profile, the GPU marker's skip, and the
fixtures of the native backend's compiled routes' tests."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Bounded examples keep the suite well under its time budget on 2 cores; set
# HYPOTHESIS_PROFILE=thorough for a longer local run.
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _route_params():
    """One pytest param per compiled route of the native backend (csrc/routes.h: AVX-512F,
    AVX2+FMA, the baseline's vectors), skipped with the reason where this machine lacks
    it: the route, or the native module itself."""
    from tlcore import kernels
    reason = kernels.unavailable().get("native")
    if reason is not None:
        return [pytest.param(None, id="native", marks=pytest.mark.skip(
            reason=f"kernel backend 'native' is not available here: {reason}"))]
    from tlcore.kernels.backends import routes
    params = []
    for route in routes.ROUTES:
        why = (None if route["supported"] else "this CPU lacks it" if route["built"]
               else "not built by this compiler")
        marks = [pytest.mark.skip(reason=f"route {route['name']}: {why}")] if why else []
        params.append(pytest.param(route, id=route["key"], marks=marks))
    return params


ROUTES = _route_params()


@pytest.fixture(scope="module", params=ROUTES)
def every_call_on_tiles(request):
    """Each compiled route in turn (its dict, routes.ROUTES), taking every float32
    convolution and fused hinge call: the thresholds lowered. The same for every input
    hypothesis draws, so module-scoped."""
    from tlcore.kernels.backends import routes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routes, "ROUTE", request.param)
        patch.setattr(routes, "MIN_DEPTH", 1)
        patch.setattr(routes, "MIN_CHANNELS", 1)
        patch.setattr(routes, "MIN_OUT_CHANNELS", {})
        patch.setattr(routes, "MIN_SAMPLES", 1)
        patch.setattr(routes, "MIN_HINGE_CLASSES", 2)
        yield request.param


@pytest.fixture
def tile_calls(monkeypatch):
    """{kernel: calls} of the compiled convolution, counted during the test: the direct
    tiles' "conv_tiles_forward" and "conv_tiles_backward_weight", Winograd's
    "winograd_tiles_forward" and "winograd_tiles_backward_weight"."""
    from tlcore import _native
    calls = {}
    for name in ("conv_tiles_forward", "conv_tiles_backward_weight"):
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
