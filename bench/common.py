"""What every benchmark shares: the machine it ran on, how noisy the run was, writing JSON."""

import argparse
import json
import os
import platform

import numpy as np

import tlcore
from tlcore.cli import blas_description
from tlcore.kernels.benchmark import NOISY, spread  # noqa: F401  (shared by the benchmarks)



def optional_torch():
    """PyTorch (the peer a user would pick instead), or None where it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def blas_threads():
    """numpy's BLAS libraries and their thread counts (threadpoolctl), or 'unknown'."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    numpy_libs = [lib for lib in libs if "numpy" in lib.get("filepath", "")] or libs
    if not numpy_libs:
        return "unknown (threadpoolctl found no BLAS)"
    return ", ".join(f"{lib['internal_api']} {lib['num_threads']} threads"
                     for lib in numpy_libs)


def machine_info():
    torch = optional_torch()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tlcore": tlcore.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "cpu_count": os.cpu_count(),
        "numpy_blas": blas_description(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS", "TLCORE_KERNELS")
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


def argument_parser(doc, name, what):
    """The flags every benchmark takes: --repeats (timed ``what``) and --json PATH."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30,
                        help=f"timed {what} (default 30)")
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
