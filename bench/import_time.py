"""Benchmark: how long ``import tlcore`` takes, against ``import numpy``.

Each import runs in a fresh interpreter, timed inside it with perf_counter around the
import statement, so interpreter start-up is not counted. ``import tlcore`` includes
numpy's import; the goal of the native kernels issue is at most 1.5x ``import numpy``,
which holds only if numba, cupy and the compiled module load lazily.

The imports run as a user's do, from cached bytecode: PYTHONDONTWRITEBYTECODE is taken
out of their environment, and one untimed import of each module first writes its
bytecode. (With it set, every import compiles tlcore's sources again, which costs about
20 ms on 2 cores.)

    python bench/import_time.py                 # writes bench/results/import_time.json
"""

import os
import statistics
import subprocess
import sys

from common import argument_parser, machine_info, write_json

GOAL = 1.5
PROBE = ("import time; start = time.perf_counter(); import {module}; "
         "print(time.perf_counter() - start)")


def import_seconds(module):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main(argv=None):
    parser = argument_parser(__doc__, "import_time", "imports of each module")
    args = parser.parse_args(argv)
    times = {"numpy": [], "tlcore": []}
    for module in times:  # untimed: writes the bytecode the timed imports read
        import_seconds(module)
    for _ in range(args.repeats):  # alternate, so that a busy spell hits both
        for module in times:
            times[module].append(import_seconds(module))
    median = {module: statistics.median(t) for module, t in times.items()}
    ratio = median["tlcore"] / median["numpy"]
    print(f"median of {args.repeats} fresh interpreters each")
    for module, seconds in median.items():
        print(f"  import {module:<7} {seconds * 1e3:7.1f} ms")
    print(f"  ratio tlcore / numpy: {ratio:.2f} (goal <= {GOAL}: "
          + ("met)" if ratio <= GOAL else "NOT met)"))
    write_json({"benchmark": "import_time", "repeats": args.repeats,
                "median_ms": {m: s * 1e3 for m, s in median.items()},
                "ms": {m: [s * 1e3 for s in t] for m, t in times.items()},
                "ratio": ratio, "goal": GOAL, "met": ratio <= GOAL,
                "machine": machine_info()}, args.json)


if __name__ == "__main__":
    main()
