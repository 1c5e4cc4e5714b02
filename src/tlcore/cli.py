"""The ``tlcore`` command. ``tlcore info``: version, kernel backends, BLAS."""

import argparse
import platform
import sys

import numpy as np

import tlcore
from tlcore import kernels


def blas_description():
    """The BLAS numpy was built with, e.g. 'scipy-openblas 0.3.30'."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown (numpy.show_config() has no dict mode here)"


def info_lines():
    lines = [f"tlcore {tlcore.__version__}",
             f"python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}",
             f"BLAS: {blas_description()}",
             "kernel backends:"]
    missing = kernels.unavailable()
    for name in kernels.BACKENDS:
        if name in missing:
            lines.append(f"  {name:<7} not available: {missing[name]}")
            continue
        detail = ""
        if name == "native":
            from tlcore.kernels import native
            detail = (f" (OpenMP, {native.max_threads()} threads)" if native.openmp_enabled()
                      else " (built without OpenMP: single-threaded)")
        elif name == "numba":
            import numba
            detail = f" (numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads)"
        lines.append(f"  {name:<7} available{detail}")
    forced = kernels.forced()
    order = ", ".join(kernels.registry.CPU_PREFERENCE)
    lines.append("CPU kernel choice: " + (f"forced to {forced!r}" if forced
                                          else f"first available of {order}"))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tlcore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="version, kernel backends found, BLAS in use")
    args = parser.parse_args(argv)
    if args.command == "info":
        print("\n".join(info_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
