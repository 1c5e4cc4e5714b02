"""Benchmark: the memory and time of the hinge-max loss's forward from the embeddings,
``embedding_hinge_max_forward(f, g, target, margin)``, on every CPU backend found.

The numpy and numba forwards, and the native one without a compiled route, form the
(N, C) score matrix; the native one on a route (csrc/hinge.c: AVX-512F, AVX2+FMA or the
baseline's vectors, whichever this CPU takes) computes a block of rows of it at a time
in cache and never forms it. Each backend runs in a fresh interpreter: one warm-up call
on small inputs (numba's compilation), then the peak resident memory before and after
the timed calls, whose median is reported.

    python bench/hinge_memory.py            # writes bench/results/hinge_memory.json
"""

import json
import subprocess
import sys

from common import argument_parser, machine_info, write_json

from tlcore.kernels import available

N, D, C = 4096, 64, 20000
PROBE = """
import json, resource, statistics, sys, time
import numpy as np
from tlcore.kernels import registry
kernel = registry.implementation("embedding_hinge_max_forward", sys.argv[1])
rng = np.random.default_rng(0)
small = [rng.standard_normal(s, dtype=np.float32) for s in ((8, 4), (5, 4))]
kernel(*small, rng.integers(0, 5, 8), 1.0)
f = rng.standard_normal(({n}, {d}), dtype=np.float32)
g = rng.standard_normal(({c}, {d}), dtype=np.float32)
target = rng.integers(0, {c}, {n})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    kernel(f, g, target, 1.0)
    times.append(time.perf_counter() - start)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_growth_mb": (after - before) / 1024,
                  "median_ms": statistics.median(times) * 1e3}}))
"""


def measure(backend, repeats):
    code = PROBE.format(n=N, d=D, c=C)
    out = subprocess.run([sys.executable, "-c", code, backend, str(repeats)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main(argv=None):
    parser = argument_parser(__doc__, "hinge_memory", "forward calls per backend")
    parser.set_defaults(repeats=5)
    args = parser.parse_args(argv)
    scores_mb = N * C * 4 / 2**20
    print(f"embedding_hinge_max_forward at N {N} D {D} C {C}, float32 "
          f"(the score matrix alone: {scores_mb:.0f} MB); median of {args.repeats} calls")
    print(f"{'backend':<8} {'peak memory growth':>20} {'median ms':>10}")
    rows = {}
    for backend in available():
        rows[backend] = measure(backend, args.repeats)
        print(f"{backend:<8} {rows[backend]['peak_growth_mb']:>17.0f} MB "
              f"{rows[backend]['median_ms']:>10.1f}")
    write_json({"benchmark": "hinge_memory", "shape": {"N": N, "D": D, "C": C},
                "repeats": args.repeats, "score_matrix_mb": scores_mb, "backends": rows,
                "machine": machine_info()}, args.json)


if __name__ == "__main__":
    main()
