"""Benchmark: tlcore's team kernels right after a GEMM, as a training step calls them.

After each GEMM, OpenBLAS's worker thread spins for a while on a core; a kernel of
tlcore's own team (csrc/team.h) called then may find its worker kept off that core for
a scheduler tick, some milliseconds. This script runs, for each kernel, ``--repeats``
times a numpy GEMM on OpenBLAS's threads followed by the kernel (fresh outputs, through
tlcore.kernels), and prints the kernel's median, p90 and worst time and how many calls
took over 2 ms: the stalls. The native backend; the kernels are max pooling's forward
(the digits CNN's first pooling and bench/kernels.py's) and SGD's update, axpy.

    python bench/team_stalls.py                  # writes bench/results/team_stalls.json
    OPENBLAS_NUM_THREADS=1 python bench/team_stalls.py   # without OpenBLAS's worker
"""

import time

import numpy as np
from common import argument_parser, machine_info, write_json

from tlcore import kernels
from tlcore.kernels import registry

STALL_MS = 2.0


def cases(rng, scale):
    """(name, call) of each kernel; ``scale`` divides the large shapes (for the tests)."""
    small = rng.random((32, 32, 8, 8), dtype=np.float32)
    large = rng.random((64 // scale, 32, 28, 28), dtype=np.float32)
    x, y = (rng.standard_normal(2**22 // scale**2, dtype=np.float32) for _ in range(2))
    return [
        ("max-pool forward 32x32 planes of 8x8",
         lambda: kernels.maxpool2d_forward(small, (2, 2), (2, 2), (0, 0))),
        (f"max-pool forward N{large.shape[0]} C32 28x28",
         lambda: kernels.maxpool2d_forward(large, (2, 2), (2, 2), (0, 0))),
        (f"axpy {x.size} float32", lambda: kernels.axpy(-1e-3, x, y)),
    ]


def main(argv=None):
    parser = argument_parser(__doc__, "team_stalls", "GEMM-then-kernel calls per kernel",
                             repeats=300)
    parser.add_argument("--scale", type=int, default=1,
                        help="divide the large shapes and the GEMM by this (default 1)")
    args = parser.parse_args(argv)
    if "native" not in kernels.available():
        raise SystemExit("team_stalls.py: the native backend is not built here")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512 // args.scale, 512 // args.scale), dtype=np.float32)
    rows = []
    print(f"each call after a {a.shape[0]}x{a.shape[1]} GEMM, {args.repeats} calls, "
          f"native backend; ms")
    print(f"{'kernel':40s} {'median':>8s} {'p90':>8s} {'worst':>8s}  over {STALL_MS} ms")
    with registry.use("native"):
        for name, call in cases(rng, args.scale):
            call()  # warm: the team's threads, the scratch
            times = []
            for _ in range(args.repeats):
                a @ a
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1e3)
            times = np.array(times)
            row = {"kernel": name, "median_ms": float(np.median(times)),
                   "p90_ms": float(np.percentile(times, 90)), "worst_ms": float(times.max()),
                   "stalls": int((times > STALL_MS).sum()), "calls": len(times)}
            rows.append(row)
            print(f"{name:40s} {row['median_ms']:8.3f} {row['p90_ms']:8.3f} "
                  f"{row['worst_ms']:8.3f}  {row['stalls']} of {row['calls']}")
    write_json({"benchmark": "team_stalls", "stall_ms": STALL_MS, "rows": rows,
                "machine": machine_info()}, args.json)


if __name__ == "__main__":
    main()
