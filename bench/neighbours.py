"""Benchmark: tlcore and PyTorch as neighbours in one process, both directions.

What it measures
----------------
A library must not slow the libraries that share its process. tlcore's compiled
kernels run on an OpenMP runtime (libgomp), and PyTorch's CPU wheel runs on its own
libgomp.so.1; whichever loads first serves both (same soname). An OpenMP runtime's
idle workers may spin, holding cores the neighbour needs, or sleep, so that every
short parallel region pays a wake-up. This benchmark times, in separate processes:

* ``alone``: torch only (torch never imports tlcore), and tlcore only;
* ``tlcore first``: tlcore's kernels loaded (``tlcore.kernels.available()``), then torch
  imported; then every task in turn, torch's and tlcore's alternating;
* ``torch first``: the same with torch imported (and run once) before tlcore loads.

The tasks, one call each per round, in an order rotated every round:

* ``torch mlp epoch``: an MLP 64-128-128-10 (ReLU, cross-entropy, SGD, batch 64,
  float32) over 1,797 samples (29 steps), bench/mlp.py's network, at torch's default
  thread count;
* ``torch conv2 step``: F.conv2d forward and backward (input and weight gradients)
  at conv2 of bench/conv.py: N64, C32, 14x14 -> 64 channels, kernel 3, padding 1;
* ``tlcore mlp epoch``: the same MLP epoch through tlcore.ops;
* ``tlcore mlp, scoped``: the same, each step inside one threads.kernel_scope()
  (the ops' own GEMMs enter one each, through kernels.matmul);
* ``tlcore conv2 step``: the same conv2 through tlcore.ops.conv2d (the native
  backend where it is built), forward and backward;
* ``tlcore hinge step``: tlcore.ops.embedding_hinge_max_loss at N256 D64 C100, forward
  and backward (a small GEMM, then the compiled hinge kernels: the case where spinning
  OpenMP workers starve the next GEMM).

How it works: the four configurations run in four worker processes, all started
first. Then, round by round, each worker in turn (the order rotated every round) runs
its tasks once, after ``--pause`` seconds of quiet (the last worker's idle OpenMP and
BLAS threads go to sleep), so that a busy machine weighs on every configuration alike.
The table gives each task's median (and 10th percentile) over ``--repeats`` rounds after
a warm-up; "worst/alone" is the slower of the two neighbour configurations over alone.
The environment is the caller's, as it was before this script loaded tlcore: run it as
is, and once with e.g. OMP_WAIT_POLICY=PASSIVE or OPENBLAS_THREAD_TIMEOUT=4 set, to
compare (the header and the JSON name the variables that were set).

Run it from the repository root::

    python bench/neighbours.py                  # writes bench/results/neighbours.json
    python bench/neighbours.py --repeats 20 --json /tmp/neighbours.json
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The caller's environment, as it was before common.py loaded tlcore's kernels in this
# (parent) process: every worker starts from it.
ENVIRONMENT = dict(os.environ)
# the variables that change how the libraries' threads wait or share the cores: the
# header prints the first three, the JSON records every one that is set
WATCHED = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS",
           "OPENBLAS_NUM_THREADS", "NUMBA_THREADING_LAYER", "TLCORE_KERNELS")

CONFIGS = {  # name: (what is imported, in order)
    "torch alone": ("torch",),
    "tlcore alone": ("tlcore",),
    "tlcore first": ("tlcore", "torch"),
    "torch first": ("torch", "tlcore"),
}
TORCH_TASKS = ("torch mlp epoch", "torch conv2 step")
TLCORE_TASKS = ("tlcore mlp epoch", "tlcore mlp, scoped", "tlcore conv2 step",
                "tlcore hinge step")
WARMUP = 3
# longer than a libgomp worker's default spin (about 15 ms) and OpenBLAS's (2**28 cycles
# where OPENBLAS_THREAD_TIMEOUT is unset: about 0.1 s)
PAUSE = 0.2

SIZES = (64, 128, 128, 10)
N_SAMPLES, BATCH, LR = 1797, 64, 0.05
CONV2 = (64, 32, 14, 14, 64, 3, 1)  # N, C_in, H, W, C_out, kernel, padding
HINGE = (256, 64, 100)              # N, D, C


# ----------------------------------------------------------------------------- the worker


def _data():
    import numpy as np
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], N_SAMPLES).astype(np.int64)
    batches = [(X[i:i + BATCH], y[i:i + BATCH]) for i in range(0, N_SAMPLES, BATCH)]
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    n, c, h, w, c_out, k, _ = CONV2
    conv = (rng.standard_normal((n, c, h, w)).astype(np.float32),
            rng.standard_normal((c_out, c, k, k)).astype(np.float32) * 0.1,
            rng.standard_normal((n, c_out, h, w)).astype(np.float32))
    hn, hd, hc = HINGE
    hinge = (rng.standard_normal((hn, hd)).astype(np.float32),
             rng.standard_normal((hc, hd)).astype(np.float32),
             rng.integers(0, hc, hn).astype(np.int64))
    return batches, params, conv, hinge


def _torch_tasks(torch, batches, params, conv):
    F = torch.nn.functional
    tb = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    tp = [torch.tensor(p, requires_grad=True) for p in params]

    def mlp_epoch():
        W1, b1, W2, b2, W3, b3 = tp
        for x, y in tb:
            h = F.relu(F.linear(x, W1, b1))
            h = F.relu(F.linear(h, W2, b2))
            F.cross_entropy(F.linear(h, W3, b3), y).backward()
            with torch.no_grad():
                for p in tp:
                    p.add_(p.grad, alpha=-LR)
                    p.grad = None

    x, w, g = (torch.from_numpy(a) for a in conv)

    def conv_step():
        xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        F.conv2d(xx, ww, padding=CONV2[-1]).backward(g)

    return {"torch mlp epoch": mlp_epoch, "torch conv2 step": conv_step}


def _tlcore_tasks(tlcore, batches, params, conv, hinge):
    from tlcore import ops
    tb = [(tlcore.tensor(x), tlcore.tensor(y)) for x, y in batches]
    tp = [tlcore.tensor(p.copy(), requires_grad=True) for p in params]

    def mlp_step(x, y):
        W1, b1, W2, b2, W3, b3 = tp
        h = ops.relu(ops.linear(x, W1, b1))
        h = ops.relu(ops.linear(h, W2, b2))
        ops.cross_entropy(ops.linear(h, W3, b3), y).backward()
        with tlcore.no_grad():
            for p in tp:
                p.add_(p.grad, alpha=-LR)
                p.grad = None

    def mlp_epoch():
        for x, y in tb:
            mlp_step(x, y)

    from tlcore.kernels.backends import threads

    def mlp_epoch_scoped():  # each step inside one kernel_scope, not one per GEMM
        for x, y in tb:
            with threads.kernel_scope():
                mlp_step(x, y)

    x, w, g = conv

    def conv_step():
        xx = tlcore.tensor(x, requires_grad=True)
        ww = tlcore.tensor(w, requires_grad=True)
        ops.conv2d(xx, ww, padding=CONV2[-1]).backward(g)

    f, e, target = hinge

    def hinge_step():
        ff = tlcore.tensor(f, requires_grad=True)
        ee = tlcore.tensor(e, requires_grad=True)
        ops.embedding_hinge_max_loss(ff, ee, tlcore.tensor(target)).backward()

    tasks = {"tlcore mlp epoch": mlp_epoch, "tlcore mlp, scoped": mlp_epoch_scoped,
             "tlcore conv2 step": conv_step, "tlcore hinge step": hinge_step}
    if not hasattr(threads, "kernel_scope"):  # a tlcore from before the scope
        del tasks["tlcore mlp, scoped"]
    return tasks


def worker(order):
    """Import ``order`` in that order, then serve the parent: on each "round" line, run
    every task once (order rotated each round) and print their times as one JSON line."""
    info = {}
    for name in order:
        if name == "torch":
            import torch
            torch.ones(2) @ torch.ones(2)  # its OpenMP runtime is loaded and started
            info["torch threads"] = torch.get_num_threads()
        else:
            from tlcore import kernels
            kernels.available()  # numba and the native module, and their OpenMP runtime
            info["tlcore CPU backend"] = kernels.preferred()
    batches, params, conv, hinge = _data()
    tasks = {}
    if "torch" in order:
        tasks.update(_torch_tasks(sys.modules["torch"], batches, params, conv))
    if "tlcore" in order:
        tasks.update(_tlcore_tasks(sys.modules["tlcore"], batches, params, conv, hinge))
        from tlcore.kernels.backends import threads
        info["threads"] = threads.describe()
    print(json.dumps(info), flush=True)
    names = list(tasks)
    for round_, line in enumerate(sys.stdin):
        if line.strip() != "round":
            break
        shift = round_ % len(names)
        times = {}
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            tasks[name]()
            times[name] = time.perf_counter() - start
        print(json.dumps(times), flush=True)


# ----------------------------------------------------------------------------- the parent


def run_configs(repeats, pause):
    """{config: {"info": ..., "times": {task: [seconds]}}}: one worker process per
    configuration, all started first; then round by round, each worker in turn (the
    order rotated every round) runs its tasks once, with ``pause`` seconds of quiet
    before each turn (a spinning OpenMP pool of the last worker goes to sleep), so that
    the machine's load falls on every configuration alike."""
    workers = {}
    for name, order in CONFIGS.items():
        workers[name] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", ",".join(order)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=os.path.dirname(HERE), env=ENVIRONMENT)
    results = {}
    try:
        for name, process in workers.items():
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the worker {name!r} failed to start")
            results[name] = {"info": json.loads(line), "times": {}}
        names = list(workers)
        for round_ in range(WARMUP + repeats):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                time.sleep(pause)
                process = workers[name]
                process.stdin.write("round\n")
                process.stdin.flush()
                times = json.loads(process.stdout.readline())
                if round_ >= WARMUP:
                    for task, seconds in times.items():
                        results[name]["times"].setdefault(task, []).append(seconds)
    finally:
        for process in workers.values():
            try:
                process.stdin.write("quit\n")
                process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            process.wait()
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--worker" in argv:  # before common.py, which loads tlcore's kernels at import
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--worker")
        return worker(tuple(parser.parse_args(argv).worker.split(",")))
    from common import (argument_parser, machine_info, noise_warning, spread, write_json)
    parser = argument_parser(__doc__, "neighbours", "rounds per configuration")
    parser.add_argument("--pause", type=float, default=PAUSE,
                        help=f"seconds of quiet before each turn (default {PAUSE})")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = run_configs(args.repeats, args.pause)
    rows, spreads = [], {}
    for task in TORCH_TASKS + TLCORE_TASKS:
        row = {"task": task}
        alone = "torch alone" if task in TORCH_TASKS else "tlcore alone"
        if task not in results[alone]["times"]:
            continue
        for config in (alone, "tlcore first", "torch first"):
            samples = results[config]["times"][task]
            key = config if config in ("tlcore first", "torch first") else "alone"
            row[key] = statistics.median(samples) * 1e3
            # the 10th percentile (of one round: that round)
            row[key + " p10"] = (statistics.quantiles(samples, n=10)[0]
                                 if len(samples) > 1 else samples[0]) * 1e3
            spreads[f"{task} ({config})"] = spread(samples)
        row["worst / alone"] = max(row["tlcore first"], row["torch first"]) / row["alone"]
        rows.append(row)
    print(f"median ms over {args.repeats} rounds; "
          + ", ".join(f"{k}={ENVIRONMENT.get(k, '(unset)')}" for k in WATCHED[:3]))
    print("(p10 in brackets; every configuration in its own process, turn by turn)")
    print(f"{'task':<19}{'alone':>16}{'tlcore first':>16}{'torch first':>16}{'worst/alone':>12}")
    for row in rows:
        cells = "".join(f"{row[key]:>8.2f} ({row[key + ' p10']:>5.2f})"
                        for key in ("alone", "tlcore first", "torch first"))
        print(f"{row['task']:<19}{cells}{row['worst / alone']:>12.2f}")
    for config in ("tlcore first", "torch first"):
        for line in results[config]["info"].get("threads", []):
            print(f"  [{config}] {line}")
    warning = noise_warning(spreads, load_before, "round times")
    if warning:
        print(warning)
    write_json({"benchmark": "neighbours", "repeats": args.repeats,
                "environment": {k: ENVIRONMENT[k] for k in WATCHED if k in ENVIRONMENT},
                "rows": rows, "spreads": spreads,
                "configs": {name: results[name]["info"] for name in results},
                "machine": machine_info(), "load_average_before": load_before},
               args.json)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
