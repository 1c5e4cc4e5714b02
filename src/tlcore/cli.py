"""The ``tlcore`` command.

    tlcore info                        version, kernel backends, BLAS, threads
    tlcore map [--plot PATH]           the lecture's map: its methods and experiments
                                       (--plot: also draw it as a PNG, needs matplotlib)
    tlcore bench [--backends numpy,numba] [--repeats 20] [--json PATH]
    tlcore run --list                  the experiments
    tlcore run NAME [--seeds 0,1,2] [--quick] [--strict] [--json PATH] [--quiet]
                    [--OPTION VALUE ...]
    tlcore run all  [--seeds 0,1,2] [--quick] [--strict] [--json PATH] [--plot DIR] [--quiet]

``tlcore run`` prints whether each claim of the lecture held and exits with status 0
when the run finished: a claim that did not hold is a result, reported, not an error.
With ``--strict`` it exits with status 1 when a claim did not hold (for scripts that
gate on the lecture's claims). Status 2 is a usage error.
"""

import argparse
import json
import os
import platform
import sys

import numpy as np

import tlcore
from tlcore import autograd, backend, kernels
from tlcore.kernels.backends import threads


def engine_description():
    """Which build of the engine (autograd.py) this process runs, and how to get the
    other."""
    if autograd.ENGINE == "compiled":
        return ("autograd.py compiled by Cython (setup.py, with autograd.pxd); "
                "TLCORE_ENGINE=python runs its source")
    if os.environ.get("TLCORE_ENGINE") == "python":
        return "autograd.py as Python source (TLCORE_ENGINE=python)"
    return "autograd.py as Python source (not compiled here: no Cython or C compiler at install)"


def info_lines():
    lines = [f"tlcore {tlcore.__version__}",
             f"python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}",
             f"BLAS: {backend.blas_description()}",
             f"engine: {engine_description()}",
             "kernel backends:"]
    missing = kernels.unavailable()
    for name in kernels.BACKENDS:
        if name in missing:
            lines.append(f"  {name:<7} not available: {missing[name]}")
            continue
        detail = ""
        if name == "native":
            from tlcore.kernels.backends import native
            loops = (("OpenMP loops on the calling thread (a spinning runtime)"
                      if threads.spinning_runtime() else
                      f"OpenMP loops on {native.max_threads()} threads")
                     if native.openmp_enabled() else "built without OpenMP: loops serial")
            detail = f" ({loops}; routes' kernels on {native.team_size()} threads of its own)"
        elif name == "numba":
            from tlcore.kernels.backends import numba_cpu
            detail = f" ({numba_cpu.description()})"
        lines.append(f"  {name:<7} available{detail}")
        if name == "native":
            lines.extend(f"          {line}" for line in kernels.native_route()["lines"])
    forced = kernels.forced()
    order = ", ".join(kernels.registry.CPU_PREFERENCE)
    lines.append("CPU kernels: " + (f"forced to {forced!r}" if forced else
                                    f"{kernels.preferred()!r} (first available of {order})"))
    lines.append("threads:")
    lines.extend("  " + line for line in threads.describe())
    return lines


def _seeds(text):
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers such as "
                                         f"0,1,2 (no empty entries), got {text!r}") from None
    if min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds needs non-negative integers, got {text!r}")
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds names a seed twice, got {text!r}: a "
                                         f"repeated seed would count one run twice")
    return seeds


def _backends(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        try:
            kernels.registry.check_available(name)
        except (ValueError, RuntimeError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    if not names:
        raise argparse.ArgumentTypeError("--backends needs at least one backend name")
    return names


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def bench_command(args, parser):
    """Time every kernel on the chosen backends; print the table (PyTorch is not a peer
    here: bench/kernels.py in a source checkout adds it)."""
    from tlcore import benchmark
    _check_json_directory(parser, args.json)
    result = benchmark.run(args.backends, args.repeats,
                           progress=lambda line: print(line, file=sys.stderr))
    print(benchmark.format_table(result))
    if args.json:
        _write_json(args.json, result)
    return 0


def map_command(args, parser):
    """Print the lecture's map; with --plot also draw it as a PNG there."""
    from tlcore.experiments.experiment import MissingExtra
    from tlcore.experiments.map_plot import draw_map, format_map
    if args.plot is not None:
        try:  # a missing directory or no matplotlib: a message, before any output
            path = draw_map(args.plot)
        except (ValueError, MissingExtra) as error:
            parser.error(f"--plot: {error}")
    print(format_map())
    if args.plot is not None:
        print(f"\nthe map drawn: {path}")
    return 0


def _common_flags(parser, default_seeds):
    """--seeds, --quick, --json and --quiet: the flags of every ``tlcore run``."""
    parser.add_argument("--seeds", type=_seeds, default=None,
                        help=f"comma-separated seeds (default: {default_seeds})")
    parser.add_argument("--quick", action="store_true",
                        help="a first look: one seed and shorter training (the lecture's "
                             "claims are written for the defaults)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a claim of the lecture did not hold")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def experiment_parser(experiment, quick=False):
    """The flags of one experiment, built from its declared options; with ``quick`` their
    defaults are the experiment's --quick values."""
    parser = argparse.ArgumentParser(prog=f"tlcore run {experiment.name}",
                                     description=experiment.summary, allow_abbrev=False)
    _common_flags(parser, ",".join(map(str, experiment.default_seeds)))
    for option in experiment.options:
        default = experiment.quick.get(option.name, option.default) if quick else option.default
        parser.add_argument(option.flag, dest=option.name,
                            type=option.type, default=default, choices=option.choices,
                            help=f"{option.help} (default: {default})")
    return parser


def _check_json_directory(parser, path):
    """Before any work: --json PATH must name a file that can be written (its directory
    exists and takes a new file, PATH is not a directory, an existing file is writable)."""
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        parser.error(f"--json {path}: the directory does not exist")
    if os.path.isdir(path):
        parser.error(f"--json {path}: that is a directory; give a file name")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        parser.error(f"--json {path}: the file is not writable")
    if not os.access(directory, os.W_OK | os.X_OK):
        parser.error(f"--json {path}: cannot write in {directory}")


def _check_plot_directory(parser, path):
    """Before any training: --plot DIR must be a writable directory, or a path where
    one can be made, and matplotlib must be installed (a usage error otherwise)."""
    if not path:
        return
    from tlcore.experiments.experiment import MissingExtra
    from tlcore.experiments.figures import require_matplotlib
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"--plot {path}: that is a file, not a directory")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the directory is made: its nearest parent
        existing = os.path.dirname(existing)  # that exists must take a new entry
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        parser.error(f"--plot {path}: {existing} is not a directory this user can write to")
    try:
        require_matplotlib()
    except MissingExtra as missing:
        parser.error(str(missing))


def _write_json(path, result):
    from tlcore.serialize import atomic_write
    text = json.dumps(result, indent=2).encode()
    atomic_write(path, lambda file: file.write(text))


def format_result(result):
    """The rows of a result as a table (method, metric, mean +- std, per-seed values),
    then the lecture's claims and whether they held."""
    method_width = max([14] + [len(row["method"]) for row in result["rows"]])
    metric_width = max([16] + [len(row["metric"]) for row in result["rows"]])
    lines = [f"{result['experiment']}: seeds {result['seeds']}, {result['seconds']:.1f} s",
             *result.get("notes", ()),
             f"{'method':<{method_width}} {'metric':<{metric_width}} {'mean +- std':<18} values"]
    for row in result["rows"]:
        values = " ".join(f"{v:.4f}" for v in row["values"])
        lines.append(f"{row['method']:<{method_width}} {row['metric']:<{metric_width}} "
                     f"{row['mean']:.4f} +- {row['std']:.4f}  {values}")
    for claim in result.get("claims", ()):
        lines.append(f"claim: {claim['claim']}")
    return "\n".join(lines)


def run_command(name, rest, parser):
    """Run one experiment and print its table; exit status 1 only with --strict and a
    claim that did not hold."""
    from tlcore import experiments
    from tlcore.experiments.experiment import MissingExtra
    from tlcore.experiments.progress import Progress
    try:
        experiment = experiments.get(name)
    except KeyError as error:
        if any(token in experiments.REGISTRY for token in rest):
            parser.error(f"the experiment name goes first: tlcore run NAME [options] "
                         f"({error.args[0]})")
        parser.error(error.args[0] + ", or all")
    experiment_flags = experiment_parser(experiment, quick="--quick" in rest)
    args = experiment_flags.parse_args(rest)
    options = {option.name: getattr(args, option.name) for option in experiment.options}
    try:  # a bad option value: a message, not a traceback
        experiment.resolve(options)
    except ValueError as error:
        experiment_flags.error(str(error))
    _check_json_directory(experiment_flags, args.json)
    _check_plot_directory(experiment_flags, options.get("plot", ""))
    progress = None if args.quiet else Progress()
    try:  # the options hold the --quick values already: they are the flags' defaults
        result = experiment.run(seeds=args.seeds, progress=progress, quick=args.quick,
                                **options)
    except MissingExtra as missing:  # an option needs an optional extra: say which
        experiment_flags.error(str(missing))
    finally:
        if progress is not None:
            progress.close()
    print(format_result(result))
    if args.json:
        _write_json(args.json, result)
    held = all(claim["holds"] for claim in result["claims"])
    return 1 if args.strict and not held else 0


def run_all_command(rest, parser):
    """Every experiment in the lecture's order, each table as it finishes, then the
    summary of the lecture's claims; exit status 1 only with --strict and a claim that
    did not hold."""
    from tlcore import experiments
    from tlcore.experiments.experiment import MissingExtra
    from tlcore.experiments.progress import Progress
    from tlcore.experiments.suite import format_summary, run_all
    all_parser = argparse.ArgumentParser(
        prog="tlcore run all", description="every experiment of the lecture in turn, then "
        "a summary table: the lecture section, method, baseline, result, whether the "
        "lecture's claim held", allow_abbrev=False)
    _common_flags(all_parser, "each experiment's own")
    all_parser.add_argument("--plot", metavar="DIR", default="",
                            help="write the figures of the experiments that draw one "
                                 "(needs matplotlib)")
    args = all_parser.parse_args(rest)
    _check_json_directory(all_parser, args.json)
    _check_plot_directory(all_parser, args.plot)
    progress = None if args.quiet else Progress()

    def show(result):
        if progress is not None:
            progress.close()
        print(format_result(result) + "\n", flush=True)
    try:
        result = run_all(experiments.REGISTRY, seeds=args.seeds, quick=args.quick,
                         plot=args.plot, progress=progress, on_result=show)
    except MissingExtra as missing:
        all_parser.error(str(missing))
    finally:
        if progress is not None:
            progress.close()
    print(format_summary(result["summary"], result["seconds"], quick=args.quick))
    if args.json:
        _write_json(args.json, result)
    held = all(row["holds"] for row in result["summary"])
    return 1 if args.strict and not held else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tlcore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="version, kernel backends found, BLAS in use")
    bench = commands.add_parser("bench", help="time every kernel on every backend found")
    bench.add_argument("--backends", type=_backends, default=None,
                       help="comma-separated kernel backends (default: all found)")
    bench.add_argument("--repeats", type=_positive, default=20,
                       help="timed calls per backend and case (default 20)")
    bench.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    lecture_map = commands.add_parser("map", help="the lecture's map: which methods for "
                                      "which data, and their experiments")
    lecture_map.add_argument("--plot", metavar="PATH", default=None,
                             help="also draw the map as a PNG at PATH (needs matplotlib)")
    run = commands.add_parser("run", help="run an experiment (tlcore run --list)",
                              add_help=False)
    run.add_argument("name", nargs="?", help="the experiment")
    run.add_argument("--list", action="store_true", help="list the experiments")
    run.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args(argv)
    try:  # a bad TLCORE_KERNELS: a message now, not a traceback from the first kernel
        kernels.forced()
    except (ValueError, RuntimeError) as error:
        parser.error(f"TLCORE_KERNELS={os.environ.get('TLCORE_KERNELS')}: {error}")
    if args.command == "info":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        print("\n".join(info_lines()))
        return 0
    if args.command == "bench":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return bench_command(args, parser)
    if args.command == "map":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return map_command(args, parser)
    if args.list or (args.name is None and not args.help):
        from tlcore import experiments
        for experiment in experiments.REGISTRY.values():
            print(f"{experiment.name:<16} {experiment.summary}")
        print(f"{'all':<16} every experiment above in turn, then a summary of the "
              "lecture's claims")
        return 0
    if args.name is None:
        run.print_help()
        return 0
    if args.help:
        rest = rest + ["--help"]
    if args.name == "all":
        return run_all_command(rest, parser)
    return run_command(args.name, rest, parser)


if __name__ == "__main__":
    sys.exit(main())
