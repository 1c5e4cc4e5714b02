"""Benchmark: where the fused hinge-max forward pays, against the score GEMM and the scan.

On a compiled route, ``embedding_hinge_max_forward(f, g, target, margin)`` can run fused
(csrc/hinge.c: each register tile of the scores folded into running maxima, the (N, C)
score matrix never formed) or as the composition (numpy's BLAS GEMM S = f g^T, then the
scan of S). The native backend takes the fused kernel from routes.MIN_HINGE_CLASSES
classes; this script times both ways over a grid of N, D and C, whatever the threshold
(it lowers it for the fused side), and prints the ratio fused / composition: below 1,
the fused kernel is faster.

Two timings, since the two ways run on different threads (the fused one on tlcore's
team, the GEMM on OpenBLAS's): "alternate" calls them one after the other, as a training
step mixes them, and takes the median of the per-pair ratios; "blocks" times runs of
each and takes the ratio of the medians.

    python bench/hinge_fused.py                      # writes bench/results/hinge_fused.json
    python bench/narrow.py avx2 bench/hinge_fused.py
    python bench/hinge_fused.py --n 256 --d 64 --c 10,100 --repeats 5
"""

import statistics
import time

import numpy as np
from common import argument_parser, machine_info, write_json

from tlcore.kernels import native_route


def parse_sizes(text):
    return [int(part) for part in text.split(",")]


def alternate(fused, composed, calls):
    """The median over ``calls`` pairs of (fused time) / (composed time)."""
    ratios = []
    for _ in range(calls):
        start = time.perf_counter()
        fused()
        middle = time.perf_counter()
        composed()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def blocks(fused, composed, calls, rounds=5):
    """The median time of ``rounds`` runs of ``calls`` fused calls over the same for the
    composed ones, the runs interleaved."""
    times = {fused: [], composed: []}
    for _ in range(rounds):
        for way in (fused, composed):
            start = time.perf_counter()
            for _ in range(calls):
                way()
            times[way].append(time.perf_counter() - start)
    return statistics.median(times[fused]) / statistics.median(times[composed])


def main(argv=None):
    parser = argument_parser(__doc__, "hinge_fused", "calls per shape and timing, times 10 "
                             "at most (fewer at large shapes)")
    parser.add_argument("--n", type=parse_sizes, default=[32, 256, 1024, 4096])
    parser.add_argument("--d", type=parse_sizes, default=[16, 32, 64, 128, 300])
    parser.add_argument("--c", type=parse_sizes, default=[10, 20, 40, 64, 100, 200, 1000])
    args = parser.parse_args(argv)
    route = native_route()
    if route is None or route["key"] is None:
        raise SystemExit("hinge_fused.py: no compiled route runs here, so there is no "
                         "fused kernel to time (tlcore info says why)")
    from tlcore.kernels.backends import native, routes
    routes.MIN_HINGE_CLASSES = 2  # the fused kernel at every C of the grid

    rng = np.random.default_rng(0)
    rows = []
    print(f"fused / (score GEMM + scan), forward from the embeddings, float32; route "
          f"{route['name']}; below 1: the fused kernel is faster")
    for timing in ("alternate", "blocks"):
        print(f"\n{timing}:\n" + "N     D    " + " ".join(f"C={c:<6d}" for c in args.c))
        for n in args.n:
            for d in args.d:
                line = []
                for c in args.c:
                    f = rng.standard_normal((n, d), dtype=np.float32) / d ** 0.5
                    g = rng.standard_normal((c, d), dtype=np.float32)
                    target = rng.integers(0, c, n)

                    def fused():
                        native.embedding_hinge_max_forward.unchecked(f, g, target, 1.0)

                    def composed():
                        scores = native.embedding_scores.unchecked(f, g)
                        native.hinge_max_forward.unchecked(scores, target, 1.0)
                    fused()  # warm: the scratch, the team's threads
                    composed()
                    calls = max(7, min(10 * args.repeats, int(3e5 / (n * c * d / 1e3 + 30))))
                    ratio = (alternate if timing == "alternate" else blocks)(
                        fused, composed, calls)
                    rows.append({"timing": timing, "n": n, "d": d, "c": c, "ratio": ratio})
                    line.append(ratio)
                print(f"{n:<5d} {d:<4d} " + " ".join(f"{r:8.2f}" for r in line), flush=True)
    print("\nper C, both timings: the range of the ratio, and how many cells the fused "
          "kernel won")
    for c in args.c:
        ratios = [row["ratio"] for row in rows if row["c"] == c]
        print(f"C={c:<6d} {min(ratios):5.2f} to {max(ratios):5.2f}, below 1 in "
              f"{sum(r < 1 for r in ratios)} of {len(ratios)}")
    write_json({"benchmark": "hinge_fused", "route": route["name"], "rows": rows,
                "machine": machine_info()}, args.json)


if __name__ == "__main__":
    main()
