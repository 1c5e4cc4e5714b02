"""What every benchmark shares: the machine it ran on, how noisy the run was, writing JSON."""

import argparse
import importlib.metadata
import json
import os
import platform
import sys

import numpy as np

import tlcore
from tlcore.backend import blas_description
from tlcore.kernels import available
from tlcore.kernels.backends import threads
from tlcore.benchmark import NOISY, spread  # noqa: F401  (shared by the benchmarks)
from narrow import ROUTES

# Load numba and the native module once, before the timing: the import order with
# PyTorch no longer matters (tlcore sets nothing in the OpenMP runtime both share; see
# kernels/backends/threads.py), but a first load inside a timed block would.
available()


def optional_torch():
    """PyTorch (the peer a user would pick instead), or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def blas_threads():
    """numpy's BLAS thread count, as text (tlcore.kernels.backends.threads asks OpenBLAS itself)."""
    count = threads.blas_threads()
    return "unknown (not OpenBLAS, or it cannot be asked)" if count is None else \
        f"OpenBLAS {count} threads"


def installed_version(package):
    """The installed version of ``package``, without importing it; None if it is absent."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """The machine, the versions and the thread settings. Imports nothing: a benchmark
    run without PyTorch stays without it."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "python_build": f"{sys.executable}: {sys.version}",
        "numpy": np.__version__,
        "tlcore": tlcore.__version__,
        "torch": installed_version("torch"),
        "cpu_count": os.cpu_count(),
        "numpy_blas": blas_description(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "OPENBLAS_THREAD_TIMEOUT", "MKL_NUM_THREADS",
                                                  "TLCORE_KERNELS")
                       if k in os.environ},
        # the switches bench/narrow.py sets to run every library on a narrower route
        "cpu_switches": {k: os.environ[k] for k in sorted({k for route in ROUTES.values()
                                                           for k in route})
                         if k in os.environ},
    }


def noise_warning(spreads, load_before, what="call times"):
    """A warning line naming the timings whose spread says the machine was busy, or None."""
    noisy = {name: value for name, value in spreads.items() if value > NOISY}
    if not noisy:
        return None
    return (f"warning: noisy run, {what} spread (p90 - p10) / median = "
            + ", ".join(f"{name} {value:.0%}" for name, value in noisy.items())
            + f"; load average {load_before[0]:.2f} before the run. "
            "Rerun on a quiet machine before trusting the ratios.")


def _at_least_one(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def argument_parser(doc, name, what, repeats=30):
    """The flags every benchmark takes: --repeats (timed ``what``) and --json PATH."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--repeats", type=_at_least_one, default=repeats,
                        help=f"timed {what} (default {repeats})")
    default = os.path.join("bench", "results", f"{name}.json")
    parser.add_argument("--json", default=default,
                        help=f"where to write the results (default {default})")
    return parser


def write_json(result, path):
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
