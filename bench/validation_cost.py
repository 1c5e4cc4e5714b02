"""Benchmark: what the kernels' argument checks (src/tlcore/kernels/validate.py) cost.

Every case of ``tlcore bench`` (src/tlcore/benchmark.py), on every backend found,
run two ways in the same blocks: through the validated kernels (what every caller gets)
and through their ``unchecked`` twins (the same kernels without the check). Beside them,
the checks alone: the validators of the case's kernel calls, run on the arguments one
step passes them (recorded once), timed the same way.

    python bench/validation_cost.py               # writes bench/results/validation_cost.json
    python bench/validation_cost.py --backends native --repeats 60

Each backend is timed on its own, its two ways alternating step by step (blocks of
BLOCK steps, no pause): they differ by microseconds in steps of milliseconds, so the
machine's drift over a run must cancel in their ratio. (Steps of different backends
interleaved would time each library waiting for the other's spinning threads.)

Columns: the median time of one step each way, their ratio (above 1: the checks cost
that much), the checks alone (microseconds) and their share of the unchecked step. The
ratio still carries the machine's noise; the time of the checks alone is the direct
measure.
"""

import statistics

from common import argument_parser, machine_info, write_json

from tlcore import benchmark
from tlcore.kernels import registry, validate

BLOCK = 1  # steps of one runner in a row


def _getters(backend):
    """(validated, unchecked, recording) kernel getters for a case's step on
    ``backend``; the recording one runs the validated kernel and keeps each call's
    (op, args, kwargs) in its ``calls`` list."""
    def validated(op):
        return registry.implementation(op, backend)

    def unchecked(op):
        return registry.implementation(op, backend).unchecked

    def recording(op):
        def call(*args, **kwargs):
            recording.calls.append((op, args, kwargs))
            return validated(op)(*args, **kwargs)
        return call
    recording.calls = []
    return validated, unchecked, recording


def _checks_alone(calls):
    """A runner doing only the validators of ``calls``."""
    checks = [(validate.validator(op), args, kwargs) for op, args, kwargs in calls]

    def run():
        for check, args, kwargs in checks:
            check(*args, **kwargs)
    return run


def main(argv=None):
    parser = argument_parser(__doc__, "validation_cost", "steps per runner and case")
    parser.set_defaults(repeats=100)
    parser.add_argument("--backends", help="comma-separated backends (default: all CPU "
                        "backends found)")
    args = parser.parse_args(argv)
    backends = (args.backends.split(",") if args.backends
                else [b for b in registry.available() if b != "cupy"])
    rows = []
    for case in benchmark.cases():
        print(f"timing {case.name}: {', '.join(backends)}")
        for backend in backends:
            validated, unchecked, recording = _getters(backend)
            case.step(recording, case.arrays)  # also the warm-up of first calls
            runners = {"validated": lambda k=validated: case.step(k, case.arrays),
                       "unchecked": lambda k=unchecked: case.step(k, case.arrays),
                       "checks": _checks_alone(recording.calls)}
            times = benchmark.time_blocks(runners, args.repeats, block=BLOCK, pause=0.0)
            median = {name: statistics.median(t) for name, t in times.items()}
            rows.append({"case": case.name, "backend": backend,
                         "validated_ms": median["validated"] * 1e3,
                         "unchecked_ms": median["unchecked"] * 1e3,
                         "ratio": median["validated"] / median["unchecked"],
                         "checks_us": median["checks"] * 1e6,
                         "checks_share": median["checks"] / median["unchecked"],
                         "spread": max(benchmark.spread(times["validated"]),
                                       benchmark.spread(times["unchecked"]))})
    result = {"benchmark": "validation_cost", "repeats": args.repeats,
              "machine": {**benchmark.machine(), "bench": machine_info()}, "rows": rows}
    print(format_table(result))
    write_json(result, args.json)
    return result


def format_table(result):
    lines = [f"median of {result['repeats']} steps, float32; ratio = validated / unchecked",
             f"{'case':<30}{'backend':<9}{'validated ms':>13}{'unchecked ms':>13}"
             f"{'ratio':>7}{'checks us':>11}{'share':>8}{'spread':>8}"]
    for r in result["rows"]:
        lines.append(f"{r['case']:<30}{r['backend']:<9}{r['validated_ms']:>13.3f}"
                     f"{r['unchecked_ms']:>13.3f}{r['ratio']:>7.3f}{r['checks_us']:>11.1f}"
                     f"{r['checks_share']:>8.2%}{r['spread']:>8.2f}")
    noisy = sorted({r["case"] for r in result["rows"] if r["spread"] > benchmark.NOISY})
    if noisy:
        lines.append(f"warning: noisy timings (spread > {benchmark.NOISY}) at "
                     + ", ".join(noisy) + "; the ratios there are doubtful, the checks' "
                     "own time is not")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
