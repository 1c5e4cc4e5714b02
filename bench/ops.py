"""Benchmark: ops as users call them, through autograd, forward + backward, fresh outputs.

bench/kernels.py times the kernels on raw arrays; this one times the ops a user writes,
with everything the engine adds around the kernels (the graph, its checks, the
gradient's accumulation into ``.grad``), each call making new outputs and gradients as
a training step does. Three cases, each against a floor timed in the same run:

* ``grad_reverse``: ``F.grad_reverse(x, 0.5).backward(g)`` on (4096, 1024) float32,
  against one numpy copy of g (``g.copy()``), the least a backward that makes a new
  gradient array can cost. Goal: within 1.5x of it. Beside it: numpy's ``-0.5 * g``,
  and PyTorch's gradient reversal layer (a ``torch.autograd.Function`` whose forward is
  ``x.view_as(x)`` and whose backward is ``-lambda * g``).
* ``hinge``: the lecture's zero-shot loss as written,
  ``F.hinge_max_loss(F.embedding_scores(f, g), y).backward()`` with N 4096, D 256,
  C 1000 float32, against three times the score GEMM ``f @ g.T``: written out densely,
  the composition needs three GEMMs of that size (the scores; dS @ g and dS^T @ f in
  its backward; tlcore's backward takes the sparse products instead, see
  ops/scores.py's HingeGradient). Goal: within 1.2x of those three. Beside it: the fused op
  ``F.embedding_hinge_max_loss(f, g, y)`` (whose sparse backward needs no GEMM), and
  PyTorch's composition (matmul, gather, scatter of -inf, max, clamp, mean, backward).
* ``update``: SGD's update as users write it, ``p.add_(g, alpha=-lr)`` under no_grad,
  on (4096, 1024) float32 (``--update-shape``), against numpy's in-place
  ``np.add(p, g, out=p)``: one pass that reads p and g and writes p, the least an
  update that reads g can cost. Goal: within 1.2x of it. Beside it: numpy's
  ``p -= lr * g`` (a temporary and three passes, what add_ ran before kernels.axpy),
  tlcore's ``optim.SGD(...).step()``, and PyTorch's ``p.add_(g, alpha=-lr)``.

How it works
------------
1. Check first: each runner's loss and gradients must agree with tlcore's (max
   |difference| recorded in the JSON), or the script stops: runners that do not
   compute the same thing cannot be compared.
2. Time: the runners of a case take turns in blocks of BLOCK calls, a different runner
   leading each round, with a pause before each block so that spinning thread pools
   (PyTorch's OpenMP, OpenBLAS) go back to sleep (``tlcore.benchmark.time_blocks``,
   the harness of ``tlcore bench``). Medians of the same run; ratios to the floor.
3. Print a table with each case's goal and a pass/fail column, and write JSON.

Thread settings are left as they are (numpy's BLAS, tlcore's kernels and PyTorch each
use their default pools). Run it from the repository root::

    python bench/ops.py                       # writes bench/results/ops.json
    python bench/ops.py --repeats 40 --json /tmp/ops.json
    python bench/ops.py --reverse-shape 64x32 --hinge-shape 32,8,10 --update-shape 64x32 --repeats 3
"""

import os
import statistics
import sys

import numpy as np
from common import (argument_parser, machine_info, noise_warning, optional_torch, spread,
                    write_json)

import tlcore
import tlcore.nn.functional as F
from tlcore.benchmark import time_blocks
from tlcore.optim import SGD

torch = optional_torch()  # PyTorch is optional: the benchmark runs without it

SEED = 0
LAMBDA = 0.5
MARGIN = 1.0
BLOCK = 5         # timed calls of one runner in a row
PAUSE = 0.2       # seconds before each block
TOLERANCE = 1e-4  # max |difference| from tlcore's loss and gradients, float32
LR = 1e-3
GOALS = {"grad_reverse": 1.5, "hinge": 1.2, "update": 1.2}  # tlcore / the floor, at most
FLOORS = {"grad_reverse": "one numpy copy of g", "hinge": "3 score GEMMs",
          "update": "numpy's one-pass np.add(p, g, out=p)"}


# ----------------------------------------------------------------------- gradient reversal


def torch_gradient_reversal():
    """PyTorch's gradient reversal layer as DANN implementations write it."""

    class GradReverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lambda_):
            ctx.lambda_ = lambda_
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return -ctx.lambda_ * grad, None

    return GradReverse.apply


def reverse_runners(shape):
    """{name: callable} for the reversal case; each returns [the gradient of x]."""
    rng = np.random.default_rng(SEED)
    data = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    x = tlcore.tensor(data.copy(), requires_grad=True)

    def tlcore_op():
        x.grad = None
        F.grad_reverse(x, LAMBDA).backward(g)
        return [x.grad]

    runners = {"floor: numpy g.copy()": lambda: [g.copy()],
               "numpy -0.5 * g": lambda: [-LAMBDA * g],
               "tlcore grad_reverse": tlcore_op}
    if torch is not None:
        apply = torch_gradient_reversal()
        xt, gt = torch.tensor(data, requires_grad=True), torch.from_numpy(g)

        def torch_op():
            xt.grad = None
            apply(xt, LAMBDA).backward(gt)
            return [xt.grad.numpy()]
        runners["torch GRL (view_as)"] = torch_op
    return runners


# ----------------------------------------------------------------------- hinge-max loss


def hinge_runners(n, d, c):
    """{name: callable} for the hinge case; each returns [loss, grad_f, grad_g]."""
    rng = np.random.default_rng(SEED)
    f0 = rng.standard_normal((n, d), dtype=np.float32) / np.float32(d ** 0.5)
    g0 = rng.standard_normal((c, d), dtype=np.float32)
    target = rng.integers(0, c, n)
    f, g = tlcore.tensor(f0.copy(), requires_grad=True), tlcore.tensor(g0.copy(),
                                                                       requires_grad=True)

    def run(loss_of):
        f.grad = g.grad = None
        loss = loss_of()
        loss.backward()
        return [loss.numpy(), f.grad, g.grad]

    runners = {
        "floor: score GEMM f @ g.T": lambda: [f0 @ g0.T],
        "tlcore composition": lambda: run(
            lambda: F.hinge_max_loss(F.embedding_scores(f, g), target, MARGIN)),
        "tlcore fused": lambda: run(
            lambda: F.embedding_hinge_max_loss(f, g, target, MARGIN)),
    }
    if torch is not None:
        ft, gt = torch.tensor(f0, requires_grad=True), torch.tensor(g0, requires_grad=True)
        tt = torch.from_numpy(target)[:, None]

        def torch_composition():
            ft.grad = gt.grad = None
            scores = ft @ gt.T
            true = scores.gather(1, tt)[:, 0]
            others = scores.scatter(1, tt, float("-inf")).max(dim=1).values
            loss = (MARGIN - true + others).clamp(min=0).mean()
            loss.backward()
            return [loss.detach().numpy(), ft.grad.numpy(), gt.grad.numpy()]
        runners["torch composition"] = torch_composition
    return runners


# ----------------------------------------------------------------------- SGD's update


def update_runners(shape):
    """{name: callable} for the update case; each updates its own copy of p by
    -LR * g and returns [p]."""
    rng = np.random.default_rng(SEED)
    p0 = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    floor_p, numpy_p = p0.copy(), p0.copy()
    p = tlcore.tensor(p0.copy(), requires_grad=True)
    sgd_p = tlcore.tensor(p0.copy(), requires_grad=True)
    sgd = SGD([sgd_p], lr=LR)

    def numpy_update():
        numpy_p.__isub__(LR * g)
        return [numpy_p]

    def tlcore_add_():
        with tlcore.no_grad():
            p.add_(g, alpha=-LR)
        return [p.data]

    def tlcore_sgd():
        sgd_p.grad = g
        sgd.step()
        return [sgd_p.data]

    runners = {"floor: np.add(p, g, out=p)": lambda: [np.add(floor_p, g, out=floor_p)],
               "numpy p -= lr * g": numpy_update,
               "tlcore p.add_(g, alpha=)": tlcore_add_,
               "tlcore optim.SGD step": tlcore_sgd}
    if torch is not None:
        pt, gt = torch.tensor(p0), torch.from_numpy(g)

        def torch_update():
            with torch.no_grad():
                pt.add_(gt, alpha=-LR)
            return [pt.numpy()]
        runners["torch p.add_(g, alpha=)"] = torch_update
    return runners


# ----------------------------------------------------------------------------- harness


def check(runners, reference, others):
    """Max |difference| of each of ``others``' results from ``reference``'s; stop if one
    is above TOLERANCE."""
    expected = [np.asarray(r) for r in runners[reference]()]
    diffs = {}
    for name in others:
        got = runners[name]()
        diffs[name] = max(float(np.max(np.abs(np.asarray(a) - b)))
                          for a, b in zip(got, expected))
    bad = {name: d for name, d in diffs.items() if not d <= TOLERANCE}
    if bad:
        raise SystemExit(f"FAILED: results differ from {reference}'s: {bad}; the timings "
                         "would not compare the same work")
    return diffs


def time_case(case, runners, floor_name, floor_factor, goal_runner, repeats, diffs):
    """Rows of one case: same-run medians, each runner's ratio to the floor."""
    times = time_blocks(runners, repeats, block=BLOCK, pause=PAUSE)
    median = {name: statistics.median(t) for name, t in times.items()}
    floor = floor_factor * median[floor_name]
    rows = []
    for name, t in times.items():
        row = {"case": case, "runner": name, "median_ms": median[name] * 1e3,
               "min_ms": min(t) * 1e3, "spread": spread(t), "x_floor": median[name] / floor,
               "max_diff_vs_tlcore": diffs.get(name), "goal": None, "passed": None}
        if name == floor_name and floor_factor != 1:
            row["x_floor"] = 1 / floor_factor
        if name == goal_runner:
            row["goal"] = GOALS[case]
            row["passed"] = row["x_floor"] <= GOALS[case]
        rows.append(row)
    return rows, floor * 1e3


def parse_shape(parser, text, sep, count, flag):
    """``count`` positive integers joined by ``sep``, or the parser's error naming ``flag``."""
    try:
        shape = tuple(int(part) for part in text.split(sep))
    except ValueError:
        shape = ()
    if len(shape) != count or min(shape) < 1:
        parser.error(f"{flag} must be {count} positive integers joined by {sep!r}, "
                     f"got {text!r}")
    return shape


def format_table(result):
    lines = [f"{'case':<14}{'runner':<28}{'median ms':>10}{'spread':>8}{'x floor':>9}"
             f"{'goal':>8}{'pass':>6}"]
    for r in result["rows"]:
        goal = "-" if r["goal"] is None else f"<={r['goal']:.1f}x"
        passed = "" if r["passed"] is None else ("pass" if r["passed"] else "FAIL")
        lines.append(f"{r['case']:<14}{r['runner']:<28}{r['median_ms']:>10.3f}"
                     f"{r['spread']:>8.2f}{r['x_floor']:>8.2f}x{goal:>8}{passed:>6}")
    for g in result["goals"]:
        lines.append(f"goal {g['case']}: {g['what']} -> {g['ratio']:.2f}x, "
                     + ("met" if g["met"] else "NOT met"))
    return "\n".join(lines)


def main(argv=None):
    parser = argument_parser(__doc__, "ops", "calls per runner and case")
    parser.set_defaults(repeats=20)
    parser.add_argument("--reverse-shape", default="4096x1024",
                        help="shape of x and g for grad_reverse, ROWSxCOLS (default 4096x1024)")
    parser.add_argument("--hinge-shape", default="4096,256,1000",
                        help="N,D,C of the hinge case (default 4096,256,1000)")
    parser.add_argument("--update-shape", default="4096x1024",
                        help="shape of p and g for the update, ROWSxCOLS (default 4096x1024)")
    args = parser.parse_args(argv)
    reverse_shape = parse_shape(parser, args.reverse_shape, "x", 2, "--reverse-shape")
    hinge_shape = parse_shape(parser, args.hinge_shape, ",", 3, "--hinge-shape")
    update_shape = parse_shape(parser, args.update_shape, "x", 2, "--update-shape")
    if hinge_shape[2] < 2:
        parser.error(f"--hinge-shape needs C >= 2 classes, got {args.hinge_shape!r}")
    if torch is None:
        print("PyTorch is not installed: no peer rows", file=sys.stderr)
    load_before = os.getloadavg()

    # (case, its runners, the goal's runner whose results the others must match, the
    # runners left out of that check, the floor, how many floors the goal counts)
    cases = [
        ("grad_reverse", lambda: reverse_runners(reverse_shape), "tlcore grad_reverse",
         ("floor", "tlcore"), "floor: numpy g.copy()", 1),
        ("hinge", lambda: hinge_runners(*hinge_shape), "tlcore composition",
         ("floor", "tlcore c"), "floor: score GEMM f @ g.T", 3),
        ("update", lambda: update_runners(update_shape), "tlcore p.add_(g, alpha=)",
         ("floor", "tlcore p"), "floor: np.add(p, g, out=p)", 1),
    ]
    rows, floors = [], {}
    for case, make_runners, goal_runner, unchecked, floor_name, floor_factor in cases:
        runners = make_runners()  # each case's arrays, made when it runs
        diffs = check(runners, goal_runner,
                      [name for name in runners if not name.startswith(unchecked)])
        case_rows, floors[case] = time_case(case, runners, floor_name, floor_factor,
                                            goal_runner, args.repeats, diffs)
        rows += case_rows
    goals = [{"case": r["case"], "runner": r["runner"], "at_most": r["goal"],
              "ratio": r["x_floor"], "met": r["passed"],
              "what": f"{r['runner']} within {r['goal']}x of " + FLOORS[r["case"]]}
             for r in rows if r["goal"] is not None]
    result = {
        "benchmark": "ops",
        "settings": {"reverse_shape": list(reverse_shape), "lambda_": LAMBDA,
                     "hinge_shape": dict(zip("NDC", hinge_shape)), "margin": MARGIN,
                     "update_shape": list(update_shape), "lr": LR,
                     "axpy_min_size": tlcore.autograd.AXPY_MIN_SIZE,
                     "kernel_backend": tlcore.kernels.preferred(),
                     "dtype": "float32", "seed": SEED, "repeats": args.repeats,
                     "block": BLOCK, "pause_s": PAUSE, "tolerance": TOLERANCE,
                     "torch_threads": torch.get_num_threads() if torch else None},
        "machine": dict(machine_info(), load_average_before=load_before,
                        load_average_after=os.getloadavg()),
        "floors_ms": floors,
        "rows": rows,
        "goals": goals,
    }
    print(f"{args.repeats} calls per runner, float32, same-run medians; x floor = time / "
          f"floor (grad_reverse: one g.copy(), {floors['grad_reverse']:.3f} ms; hinge: 3 x "
          f"the score GEMM, {floors['hinge']:.3f} ms; update: np.add(p, g, out=p), "
          f"{floors['update']:.3f} ms); kernels: {tlcore.kernels.preferred()} backend")
    print(format_table(result))
    warning = noise_warning({f"{r['case']} {r['runner']}": r["spread"] for r in rows},
                            load_before)
    if warning:
        print(warning)
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
