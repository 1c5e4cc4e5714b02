"""Run a benchmark as it runs on a CPU without AVX-512: every library on its AVX2 code.

    python bench/narrow.py avx2 bench/kernels.py --repeats 30
    python bench/narrow.py avx2 bench/mlp.py
    python bench/narrow.py avx2 tlcore run all      # any command: a script or a program

Most learners' machines have AVX2 and FMA but no AVX-512. To measure there on a machine
with AVX-512, capping tlcore alone (TLCORE_SIMD=avx2) is not enough: the table would
time tlcore's AVX2 kernels against PyTorch's, numpy's and OpenBLAS's AVX-512 ones, which
no user with an AVX2 CPU ever runs. Measured at conv2 of bench/kernels.py (2-core AMD
EPYC, PyTorch 2.13, forward and backward, 30 calls each): PyTorch took a median of
10.1 ms on its AVX-512 code, and of 15.8 ms (the fastest call 11.5) capped at AVX2. So
this script sets, for the process it starts, the switch of every library that picks its
code by CPU, then runs the benchmark in it (the switches are read once, when each
library loads).

A switch that a library does not know is ignored by it; `tlcore info` and the
benchmarks' headers say which route tlcore took, and bench/kernels.py prints PyTorch's.
"""

import os
import sys

ROUTES = {
    "avx2": {
        "TLCORE_SIMD": "avx2",               # tlcore's native kernels (backends/routes.py)
        "NUMBA_CPU_NAME": "haswell",         # numba's generated code: AVX2 and FMA
        "OPENBLAS_CORETYPE": "Haswell",      # numpy's BLAS, OpenBLAS
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's loops
        "ATEN_CPU_CAPABILITY": "avx2",       # PyTorch's own kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",        # PyTorch's convolutions (oneDNN)
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",   # PyTorch's BLAS (MKL)
    },
}


def environment(route, base=os.environ):
    """``base`` with every library's switch set for ``route`` (a key of ROUTES)."""
    if route not in ROUTES:
        raise SystemExit(f"narrow.py: route must be one of {', '.join(ROUTES)}, got "
                         f"{route!r}")
    return {**base, **ROUTES[route]}


def main(argv):
    if len(argv) < 2:
        raise SystemExit("usage: python bench/narrow.py ROUTE SCRIPT.py|PROGRAM [ARGS...]; "
                         f"ROUTE one of {', '.join(ROUTES)}")
    env = environment(argv[0])
    command = [sys.executable, *argv[1:]] if argv[1].endswith(".py") else argv[1:]
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main(sys.argv[1:])
