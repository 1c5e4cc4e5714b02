"""Shared test set-up: a bounded hypothesis profile, and the GPU marker's skip."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Bounded examples keep the suite well under its time budget on 2 cores; set
# HYPOTHESIS_PROFILE=thorough for a longer local run.
settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
