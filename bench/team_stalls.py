"""Benchmark: tlcore's team kernels right after a GEMM, as a training step calls them.

After each GEMM, OpenBLAS's idle worker spins on its core for up to 2**28 cycles (about
0.1 s) before it sleeps. A kernel of tlcore's own team (csrc/team.h) called then may find
its worker kept off that core: for a scheduler tick (some milliseconds), or, on a
machine with as many cores as the two pools have threads, for the whole call, which then
runs at one thread's speed. This script times each kernel ``--repeats`` times alone and
``--repeats`` times each right after a numpy GEMM on OpenBLAS's threads (fresh outputs,
through tlcore.kernels, the native backend), and prints the two medians, their ratio,
and after the GEMM the p90, the worst time and how many calls took over 2 ms: the
stalls. The kernels, each sharing its work by claims alone (tl_team_run): max
pooling's forward (the digits CNN's first pooling and bench/kernels.py's), SGD's update
(axpy), the fused hinge-max forward and the conv2d forward (Winograd's at this shape).

    python bench/team_stalls.py                  # writes bench/results/team_stalls.json
    OPENBLAS_THREAD_TIMEOUT=4 python bench/team_stalls.py    # OpenBLAS's idle threads sleep at once
    OPENBLAS_NUM_THREADS=1 python bench/team_stalls.py       # without OpenBLAS's worker
"""

import os
import time

import numpy as np
from common import argument_parser, machine_info, write_json

from tlcore import kernels
from tlcore.kernels import registry

STALL_MS = 2.0
IDLE_S = 0.5  # longer than OpenBLAS's spin after a call, 2**28 cycles (0.1 s at 2.7 GHz)


def cases(rng, scale):
    """(name, call) of each kernel; ``scale`` divides the large shapes (for the tests)."""
    small = rng.random((32, 32, 8, 8), dtype=np.float32)
    large = rng.random((64 // scale, 32, 28, 28), dtype=np.float32)
    x, y = (rng.standard_normal(2**22 // scale**2, dtype=np.float32) for _ in range(2))
    f = rng.standard_normal((1024 // scale, 128), dtype=np.float32)
    g = rng.standard_normal((200, 128), dtype=np.float32)  # from 32 classes: fused
    target = rng.integers(0, len(g), len(f))
    images = rng.standard_normal((64 // scale, 32, 14, 14), dtype=np.float32)
    weight = rng.standard_normal((64, 32, 3, 3), dtype=np.float32)
    return [
        ("max-pool forward 32x32 planes of 8x8",
         lambda: kernels.maxpool2d_forward(small, (2, 2), (2, 2), (0, 0))),
        (f"max-pool forward N{large.shape[0]} C32 28x28",
         lambda: kernels.maxpool2d_forward(large, (2, 2), (2, 2), (0, 0))),
        (f"axpy {x.size} float32", lambda: kernels.axpy(-1e-3, x, y)),
        (f"fused hinge forward N{len(f)} D128 C200",
         lambda: kernels.embedding_hinge_max_forward(f, g, target, 1.0)),
        (f"conv2d forward N{len(images)} 32->64 14x14",
         lambda: kernels.conv2d_forward(images, weight, (1, 1), (1, 1), (1, 1), 1)),
    ]


def times_ms(call, repeats, before=None):
    """``repeats`` timings of call(), each after before() where given."""
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return np.array(times)


def main(argv=None):
    parser = argument_parser(__doc__, "team_stalls", "calls per kernel, alone and after a GEMM",
                             repeats=300)
    parser.add_argument("--scale", type=int, default=1,
                        help="divide the large shapes and the GEMM by this (default 1)")
    args = parser.parse_args(argv)
    if "native" not in kernels.available():
        raise SystemExit("team_stalls.py: the native backend is not built here")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512 // args.scale, 512 // args.scale), dtype=np.float32)
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset (OpenBLAS spins 2**28 cycles)")
    print(f"{args.repeats} calls of each kernel alone, and {args.repeats} each right after a "
          f"{a.shape[0]}x{a.shape[1]} GEMM; native backend; OPENBLAS_THREAD_TIMEOUT {timeout}; ms")
    print(f"{'kernel':40s} {'alone':>7s} {'after':>7s} {'ratio':>6s} {'p90':>7s} {'worst':>7s}"
          f"  over {STALL_MS} ms")
    rows = []
    with registry.use("native"):
        for name, call in cases(rng, args.scale):
            call()  # warm: the team's threads, the scratch
            time.sleep(IDLE_S)  # the last case's GEMMs: OpenBLAS's worker sleeps by now
            alone = times_ms(call, args.repeats)
            after = times_ms(call, args.repeats, before=lambda: a @ a)
            row = {"kernel": name, "alone_median_ms": float(np.median(alone)),
                   "median_ms": float(np.median(after)),
                   "p90_ms": float(np.percentile(after, 90)), "worst_ms": float(after.max()),
                   "stalls": int((after > STALL_MS).sum()), "calls": len(after)}
            row["ratio"] = row["median_ms"] / row["alone_median_ms"]
            rows.append(row)
            print(f"{name:40s} {row['alone_median_ms']:7.3f} {row['median_ms']:7.3f} "
                  f"{row['ratio']:6.2f} {row['p90_ms']:7.3f} {row['worst_ms']:7.3f}  "
                  f"{row['stalls']} of {row['calls']}")
    write_json({"benchmark": "team_stalls", "stall_ms": STALL_MS, "rows": rows,
                "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                "machine": machine_info()}, args.json)


if __name__ == "__main__":
    main()
