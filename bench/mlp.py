"""End-to-end benchmark: train a small MLP with tlcore, hand-written numpy and PyTorch.

What it measures
----------------
The time of one training epoch of an MLP 64-128-128-10 (ReLU, softmax cross-entropy,
plain SGD with lr 0.05, batch 64, float32) on data shaped like the digits set
(1,797 samples x 64 features, 10 classes): 29 steps per epoch. It compares

* ``numpy``  - forward and backward written out by hand: the floor, no engine at all
  (every array preallocated per batch size, ops written into it with ``out=`` or in
  place; see NumpyMLP);
* ``tlcore`` - the same network through tlcore's autograd (ops.linear, ops.relu,
  ops.cross_entropy, loss.backward());
* ``torch``  - PyTorch on the CPU with one thread, where it is installed and not
  left out with ``--no-torch`` (then torch is never imported: the table comes from a
  process without it).

Between numpy and tlcore, two yardsticks say where tlcore's extra time goes:

* ``ops, no graph`` - tlcore's own ops (Linear, ReLU, CrossEntropy), their forward and
  backward called by hand on raw arrays: what the ops cost with no engine around them;
* ``bare engine``   - the same ops under the barest define-by-run engine (BareTensor,
  bare_call, bare_backward below: a graph recorded and walked, nothing checked): what
  any such engine in Python costs.

tlcore's time beyond the bare engine is what its engine does besides: version counters,
checks of every gradient, leaves' own gradients, the update's checks.

The three do the same arithmetic on the same arrays (same data, same initial weights,
same minibatch order), so the difference between tlcore and numpy is tlcore's overhead:
building the graph, walking it backwards, the checks. The goal set by the issue:
tlcore's epoch within 1.3x of hand-written numpy's.

How it works
------------
1. Check first: from identical initial weights, one epoch of each implementation must
   give the same weights (max |difference| <= 1e-4), or the script stops with an error.
2. Time: one warm-up epoch each, then ``--repeats`` rounds; in each round every
   implementation trains one epoch (round-robin, starting with a different one each
   round), so that machine noise falls on all of them alike. The median epoch time is
   reported, with steps per second and the ratio to numpy.
3. Print a table and write a JSON file with the numbers, the settings and the machine.
4. Time the engine alone: a chain of as many ops as the MLP's graph has nodes, each
   copying a 4x4 array (so the work is next to nothing), forward and then forward and
   backward, against the copies alone. What the chain costs beyond its copies is the
   engine's bookkeeping (Function.__call__, autograd.backward), per op.

Thread settings are left as they are, except PyTorch's (set to 1 thread, as the issue
asks). numpy and tlcore share numpy's BLAS; its thread count is printed. On a small
machine that other jobs share, a multi-threaded OpenBLAS makes each GEMM wait for a
busy core, and the epochs of numpy and tlcore then swing by tens of times (see the
spread and the noise warning); ``OPENBLAS_NUM_THREADS=1`` in the environment gives
steady numbers there.

Run it from the repository root::

    python bench/mlp.py                      # 30 rounds, writes bench/results/mlp.json
    python bench/mlp.py --repeats 50 --json /tmp/mlp.json
    python bench/mlp.py --no-torch           # numpy and tlcore only, torch never imported
    python bench/mlp.py --profile 200        # then cProfile 200 tlcore steps
"""

import itertools
import os
import statistics
import sys
import time
from heapq import heappop, heappush

import numpy as np

import tlcore
from common import (argument_parser, blas_threads, machine_info, noise_warning, optional_torch,
                    spread, write_json)
from tlcore import Function, ops
from tlcore.ops.activation import ReLU
from tlcore.ops.linalg import Linear
from tlcore.ops.loss import CrossEntropy

torch = None  # PyTorch, imported by main() where it is installed, unless --no-torch

# ----------------------------------------------------------------------------- settings

SIZES = (64, 128, 128, 10)  # input, hidden, hidden, classes
N_SAMPLES = 1797            # the digits set: 1,797 images of 8x8 pixels
BATCH = 64
LR = 0.05
SEED = 0
TOLERANCE = 1e-4            # max |weight difference| allowed after one epoch
DTYPE = np.float32


# ----------------------------------------------------------------------------- data


def make_data(seed=SEED):
    """Random data shaped like the digits: pixels 0..16, standardised per feature.

    Returns X (1797, 64) float32 and y (1797,) int64 labels 0..9.
    """
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 17, size=(N_SAMPLES, SIZES[0])).astype(DTYPE)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1)
    y = rng.integers(0, SIZES[-1], size=N_SAMPLES).astype(np.int64)
    return X.astype(DTYPE), y


def make_batches(X, y, seed=SEED):
    """One shuffled pass over the data, cut into minibatches of BATCH (the last one
    smaller: 1797 = 28 * 64 + 5, so 29 steps). Every implementation and every epoch
    uses this same order. The batches are copied out once, here, so that the timing
    measures training and not indexing."""
    order = np.random.default_rng(seed + 1).permutation(len(X))
    return [(np.ascontiguousarray(X[order[i:i + BATCH]]), y[order[i:i + BATCH]])
            for i in range(0, len(X), BATCH)]


def init_params(seed=SEED):
    """PyTorch's nn.Linear default initialisation: W and b drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)). A list [W1, b1, W2, b2, W3, b3], W as (out, in)."""
    rng = np.random.default_rng(seed + 2)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(DTYPE))
        params.append(rng.uniform(-bound, bound, size=fan_out).astype(DTYPE))
    return params


# ----------------------------------------------------------------------------- numpy


class NumpyMLP:
    """The MLP with forward and backward written by hand: the fastest honest numpy.

    Same arithmetic as the engines: h = relu(x W^T + b), loss = mean(-log softmax(z)[y])
    with the max-shifted logits, dL/dz = (softmax(z) - onehot(y)) / n, the gradients
    formed in full, then p -= lr * grad. What an engine cannot do, it does: every array
    is preallocated once per batch size (activations, their gradients, the parameters'
    gradients, the row indices), and every op writes into one with ``out=`` or in place,
    so a step allocates only the row maxima and sums and the ReLU masks. The softmax
    overwrites the logits, and its gradient overwrites the softmax. The loss is computed
    as the engines compute it (a sum divided by n), although nothing reads it.
    """

    name = "numpy"

    def __init__(self, params):
        self.params = [p.copy() for p in params]
        self.grads = [np.empty_like(p) for p in self.params]
        self.buffers = {}  # batch size -> the arrays of one step

    @staticmethod
    def wrap(batches):
        return batches  # raw arrays, as they are

    def buffers_for(self, n):
        if n not in self.buffers:
            hidden1, hidden2, classes = SIZES[1:]
            self.buffers[n] = (np.empty((n, hidden1), DTYPE), np.empty((n, hidden2), DTYPE),
                               np.empty((n, classes), DTYPE), np.empty((n, hidden2), DTYPE),
                               np.empty((n, hidden1), DTYPE), np.arange(n))
        return self.buffers[n]

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        gW1, gb1, gW2, gb2, gW3, gb3 = self.grads
        n = len(y)
        h1, h2, z, dh2, dh1, rows = self.buffers_for(n)
        # forward
        np.matmul(x, W1.T, out=h1)
        h1 += b1
        np.maximum(h1, 0, out=h1)
        np.matmul(h1, W2.T, out=h2)
        h2 += b2
        np.maximum(h2, 0, out=h2)
        np.matmul(h2, W3.T, out=z)
        z += b3
        z -= z.max(axis=1, keepdims=True)            # shifted logits
        picked = z[rows, y]
        e = np.exp(z, out=z)
        total = e.sum(axis=1, keepdims=True)
        self.loss = (np.log(total[:, 0]) - picked).sum() / n
        # backward: dL/dz = (softmax(z) - onehot(y)) / n
        dz = e
        dz /= total
        dz[rows, y] -= 1
        dz /= n
        np.matmul(dz.T, h2, out=gW3)
        dz.sum(axis=0, out=gb3)
        np.matmul(dz, W3, out=dh2)
        dh2 *= h2 > 0                                # relu': h2 > 0 iff pre-activation > 0
        np.matmul(dh2.T, h1, out=gW2)
        dh2.sum(axis=0, out=gb2)
        np.matmul(dh2, W2, out=dh1)
        dh1 *= h1 > 0
        np.matmul(dh1.T, x, out=gW1)
        dh1.sum(axis=0, out=gb1)
        # SGD: p -= lr * grad, without a temporary
        for p, g in zip(self.params, self.grads):
            g *= LR
            p -= g

    def weights(self):
        return self.params


# ----------------------------------------------------------------------------- tlcore


class TlcoreMLP:
    """The MLP through tlcore's autograd: ops.linear, ops.relu and ops.cross_entropy on
    leaf tensors, loss.backward(), then p -= lr * grad in place under no_grad (the
    update of optim.SGD without momentum, written out as the numpy one is)."""

    name = "tlcore"

    def __init__(self, params):
        self.params = [tlcore.tensor(p.copy(), requires_grad=True) for p in params]

    @staticmethod
    def wrap(batches):
        return [(tlcore.tensor(x), tlcore.tensor(y)) for x, y in batches]

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        h = ops.relu(ops.linear(x, W1, b1))
        h = ops.relu(ops.linear(h, W2, b2))
        loss = ops.cross_entropy(ops.linear(h, W3, b3), y)
        loss.backward()
        with tlcore.no_grad():  # SGD: p -= lr * grad (alpha= saves one temporary)
            for p in self.params:
                p.add_(p.grad, alpha=-LR)
                p.grad = None

    def weights(self):
        return [p.numpy() for p in self.params]


# ----------------------------------------------------------------------------- yardsticks


ONE = np.ones((), DTYPE)  # dL/dL, the gradient a scalar loss starts from


class OpsMLP:
    """tlcore's ops with no graph: each Function's forward and then its backward called
    by hand on raw arrays, the upstream gradients passed along as backward would pass
    them, then p -= lr * grad. What remains over numpy is the ops' own Python (their
    checks, the Function objects) and their fresh outputs."""

    name = "ops, no graph"

    def __init__(self, params):
        self.params = [p.copy() for p in params]

    @staticmethod
    def wrap(batches):
        return batches

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        layer1, relu1, layer2, relu2, layer3 = Linear(), ReLU(), Linear(), ReLU(), Linear()
        loss = CrossEntropy()
        layer1.needs_input_grad = (False, True, True)  # as the engine would set them
        layer2.needs_input_grad = layer3.needs_input_grad = (True, True, True)
        h1 = relu1.forward(layer1.forward(x, W1, b1))
        h2 = relu2.forward(layer2.forward(h1, W2, b2))
        loss.forward(layer3.forward(h2, W3, b3), y)
        dh2, gW3, gb3 = layer3.backward(loss.backward(ONE)[0])
        dh1, gW2, gb2 = layer2.backward(relu2.backward(dh2))
        _, gW1, gb1 = layer1.backward(relu1.backward(dh1))
        for p, g in zip(self.params, (gW1, gb1, gW2, gb2, gW3, gb3)):
            p -= LR * g

    def weights(self):
        return self.params


class BareTensor:
    """An array, its gradient and the Function that made it: nothing else."""

    __slots__ = ("data", "grad", "creator", "requires_grad")

    def __init__(self, data, requires_grad=False, creator=None):
        self.data, self.grad, self.creator = data, None, creator
        self.requires_grad = requires_grad


_creation = itertools.count()


def bare_call(fn, *inputs):
    """fn's forward on the inputs' arrays, recorded as a node of the graph."""
    fn.inputs, fn.order = inputs, next(_creation)
    fn.needs_input_grad = [x.requires_grad for x in inputs]
    return BareTensor(fn.forward(*[x.data for x in inputs]), True, fn)


def bare_backward(root):
    """Walk the graph from a scalar root in reverse creation order, as tlcore's backward
    does, summing each node's upstream gradients; leaves keep theirs in .grad."""
    pending, heap = {root.creator: ONE}, [(-root.creator.order, root.creator)]
    while heap:
        fn = heappop(heap)[1]
        grads = fn.backward(pending.pop(fn))
        grads = grads if type(grads) is tuple else (grads,)
        for x, g, need in zip(fn.inputs, grads, fn.needs_input_grad):
            if not need:
                continue
            parent = x.creator
            if parent is None:
                x.grad = g if x.grad is None else x.grad + g
            elif parent in pending:
                pending[parent] = pending[parent] + g
            else:
                pending[parent] = g
                heappush(heap, (-parent.order, parent))
        fn.__dict__.clear()  # free what forward saved


class BareMLP:
    """The MLP under the bare engine: the tlcore step, without tlcore's engine."""

    name = "bare engine"

    def __init__(self, params):
        self.params = [BareTensor(p.copy(), requires_grad=True) for p in params]

    @staticmethod
    def wrap(batches):
        return [(BareTensor(x), BareTensor(y)) for x, y in batches]

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        h = bare_call(ReLU(), bare_call(Linear(), x, W1, b1))
        h = bare_call(ReLU(), bare_call(Linear(), h, W2, b2))
        bare_backward(bare_call(CrossEntropy(), bare_call(Linear(), h, W3, b3), y))
        for p in self.params:
            p.data -= LR * p.grad
            p.grad = None

    def weights(self):
        return [p.data for p in self.params]


# ----------------------------------------------------------------------------- torch


class TorchMLP:
    """The MLP in PyTorch (CPU, 1 thread), written the same way as the tlcore one."""

    name = "torch"

    def __init__(self, params):
        self.params = [torch.tensor(p, requires_grad=True) for p in params]

    @staticmethod
    def wrap(batches):
        return [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def step(self, x, y):
        F = torch.nn.functional
        W1, b1, W2, b2, W3, b3 = self.params
        h = F.relu(F.linear(x, W1, b1))
        h = F.relu(F.linear(h, W2, b2))
        loss = F.cross_entropy(F.linear(h, W3, b3), y)
        loss.backward()
        with torch.no_grad():
            for p in self.params:
                p.add_(p.grad, alpha=-LR)
                p.grad = None

    def weights(self):
        return [p.detach().numpy() for p in self.params]


# ----------------------------------------------------------------------------- the engine


ENGINE_NODES = 6     # the MLP's graph: 3 linear, 2 ReLU, 1 cross-entropy
ENGINE_CALLS = 2000  # calls per timed round


class Copy(Function):
    """y = a fresh copy of x, dL/dx = dL/dy: an op that does next to nothing, so that a
    chain of them times the engine around the ops."""

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def time_engine(rounds):
    """Median microseconds a call, over ``rounds`` rounds of ENGINE_CALLS calls, of the
    ENGINE_NODES copies alone, of the chain of Copy ops forward, and forward and
    backward."""
    data = np.ones((4, 4), DTYPE)
    x = tlcore.tensor(data, requires_grad=True)
    seed = np.ones_like(data)

    def copies():
        for _ in range(ENGINE_NODES):
            data.copy()

    def forward():
        y = x
        for _ in range(ENGINE_NODES):
            y = Copy()(y)
        return y

    def forward_backward():
        forward().backward(seed)
        x.grad = None

    medians = {}
    for name, call in (("copies", copies), ("forward", forward),
                       ("forward_backward", forward_backward)):
        call()  # warm-up
        per_call = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(ENGINE_CALLS):
                call()
            per_call.append((time.perf_counter() - start) / ENGINE_CALLS * 1e6)
        medians[name] = statistics.median(per_call)
    return {"nodes": ENGINE_NODES, "calls_per_round": ENGINE_CALLS, "rounds": rounds,
            "copies_us": medians["copies"], "forward_us": medians["forward"],
            "backward_us": medians["forward_backward"] - medians["forward"],
            "engine_us_per_op": (medians["forward_backward"] - medians["copies"])
            / ENGINE_NODES}


# ----------------------------------------------------------------------------- harness


def implementations():
    impls = [NumpyMLP, OpsMLP, BareMLP, TlcoreMLP]
    if torch is not None:
        torch.set_num_threads(1)
        impls.append(TorchMLP)
    return impls


def epoch(model, batches):
    """Train one epoch; return its wall time in seconds."""
    start = time.perf_counter()
    for x, y in batches:
        model.step(x, y)
    return time.perf_counter() - start


def check_agreement(impls, params, batches):
    """One epoch of each implementation from the same weights: the weights must agree
    with numpy's to TOLERANCE. Returns {name: max |difference|}; raises if one does not."""
    reference = NumpyMLP(params)
    epoch(reference, reference.wrap(batches))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(reference.weights(), params))
    print(f"check: one epoch moves numpy's weights by up to {moved:.2e}; the others must "
          f"land within {TOLERANCE:.0e} of them")
    diffs = {}
    for cls in impls:
        if cls is NumpyMLP:
            continue
        model = cls(params)
        epoch(model, cls.wrap(batches))
        diffs[cls.name] = max(float(np.max(np.abs(a - b)))
                              for a, b in zip(model.weights(), reference.weights()))
        print(f"check: after one epoch, max |{cls.name} - numpy| over all weights = "
              f"{diffs[cls.name]:.2e}")
    bad = {name: d for name, d in diffs.items() if not d <= TOLERANCE}
    if bad:
        raise SystemExit(f"FAILED: weights differ from numpy's after one epoch: {bad}; "
                         "the implementations do not compute the same thing, so their "
                         "timings cannot be compared")
    return diffs


def time_all(impls, params, batches, repeats):
    """Warm up each implementation, then time `repeats` round-robin rounds of epochs."""
    models, data = [], []
    for cls in impls:
        models.append(cls(params))
        data.append(cls.wrap(batches))
    for model, batches_ in zip(models, data):
        epoch(model, batches_)  # warm-up: first-call costs, caches, allocator
    times = {model.name: [] for model in models}
    for r in range(repeats):
        for k in range(len(models)):
            i = (r + k) % len(models)  # a different one goes first each round
            times[models[i].name].append(epoch(models[i], data[i]))
    return times


def profile_tlcore(params, batches, steps):
    """cProfile of `steps` tlcore training steps, top 25 functions by own time.

    Own time (tottime) of an op's forward/backward includes its numpy work (``a @ b``
    is an operator, not a call the profiler sees); the engine's overhead is the rest.
    """
    import cProfile
    import pstats

    model = TlcoreMLP(params)
    data = TlcoreMLP.wrap(batches)
    epoch(model, data)  # warm-up
    todo = (data * (steps // len(data) + 1))[:steps]
    profiler = cProfile.Profile()
    profiler.enable()
    for x, y in todo:
        model.step(x, y)
    profiler.disable()
    print(f"\nprofile of {steps} tlcore steps, by own time (tottime):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv=None):
    parser = argument_parser(__doc__, "mlp", "epochs per implementation")
    parser.add_argument("--profile", type=int, metavar="STEPS", default=0,
                        help="also profile STEPS tlcore steps with cProfile (e.g. 200)")
    parser.add_argument("--no-torch", action="store_true",
                        help="leave PyTorch out: never import it in this process")
    args = parser.parse_args(argv)
    global torch
    torch = None if args.no_torch else optional_torch()

    X, y = make_data()
    batches = make_batches(X, y)
    params = init_params()
    impls = implementations()
    steps = len(batches)
    threads = blas_threads()
    load_before = os.getloadavg()
    print(f"MLP {'-'.join(map(str, SIZES))}, SGD lr {LR}, batch {BATCH}, {N_SAMPLES} samples "
          f"= {steps} steps/epoch, float32; {args.repeats} timed epochs each")
    torch_state = ("1 thread (set)" if torch is not None else
                   "left out (--no-torch), not imported" if args.no_torch else "not installed")
    print(f"BLAS threads (numpy and tlcore): {threads}; torch: {torch_state}; "
          f"tlcore's engine: {tlcore.autograd.ENGINE}")
    # The engine's overhead is interpreter time, so the interpreter's own build moves it
    # (README: an optimized build ran the engine chain about a quarter faster).
    print(f"Python: {sys.version.split()[0]} ({sys.executable})")

    diffs = check_agreement(impls, params, batches)
    times = time_all(impls, params, batches, args.repeats)

    medians = {name: statistics.median(t) for name, t in times.items()}
    rows = []
    for name, t in times.items():
        rows.append({
            "implementation": name,
            "median_ms_per_epoch": medians[name] * 1e3,
            "min_ms_per_epoch": min(t) * 1e3,
            "spread": spread(t),
            "steps_per_second": steps / medians[name],
            "ratio_vs_numpy": medians[name] / medians["numpy"],
            "max_weight_diff_vs_numpy": diffs.get(name, 0.0),
            "epoch_ms": [s * 1e3 for s in t],
        })

    print()
    print(f"{'implementation':<16}{'median ms/epoch':>16}{'steps/s':>10}{'vs numpy':>10}")
    for row in rows:
        print(f"{row['implementation']:<16}{row['median_ms_per_epoch']:>16.2f}"
              f"{row['steps_per_second']:>10.0f}{row['ratio_vs_numpy']:>9.2f}x")
    ratio = medians["tlcore"] / medians["numpy"]
    def gap_us(slower, faster):
        return (medians[slower] - medians[faster]) / steps * 1e6

    overhead_us = gap_us("tlcore", "numpy")
    overhead_parts = {"ops": gap_us(OpsMLP.name, "numpy"),
                      "bare_engine": gap_us(BareMLP.name, OpsMLP.name),
                      "tlcore_engine_beyond_bare": gap_us("tlcore", BareMLP.name)}
    print(f"\ntlcore's overhead over numpy: {overhead_us:.0f} us per step: "
          f"{overhead_parts['ops']:.0f} in the ops themselves, "
          f"{overhead_parts['bare_engine']:.0f} in a bare engine's graph, "
          f"{overhead_parts['tlcore_engine_beyond_bare']:.0f} in what tlcore's engine does "
          "besides (version counters, gradient checks, the update's checks)")
    print(f"goal: tlcore within 1.3x of numpy -> {ratio:.2f}x, "
          f"{'met' if ratio <= 1.3 else 'not met'}")
    warning = noise_warning({row["implementation"]: row["spread"] for row in rows},
                            load_before, "epoch times")
    if warning:
        print(warning)

    engine = time_engine(args.repeats)
    print(f"\nthe engine alone, a chain of {ENGINE_NODES} ops copying a 4x4 array (medians, "
          f"us): {engine['forward_us']:.1f} forward, {engine['backward_us']:.1f} backward, "
          f"against {engine['copies_us']:.1f} for the copies: "
          f"{engine['engine_us_per_op']:.1f} us an op")

    result = {
        "benchmark": "mlp",
        "settings": {"sizes": list(SIZES), "samples": N_SAMPLES, "batch": BATCH, "lr": LR,
                     "steps_per_epoch": steps, "dtype": "float32", "seed": SEED,
                     "repeats": args.repeats, "warmup_epochs": 1, "tolerance": TOLERANCE,
                     "blas_threads": threads,
                     "torch_threads": 1 if torch is not None else None,
                     "torch_in_process": "torch" in sys.modules,
                     "engine": tlcore.autograd.ENGINE},
        "machine": dict(machine_info(), load_average_before=load_before,
                        load_average_after=os.getloadavg()),
        "rows": rows,
        "tlcore_overhead_us_per_step": overhead_us,
        "tlcore_overhead_parts_us_per_step": overhead_parts,
        "engine": engine,
        "goal": {"tlcore_vs_numpy_max": 1.3, "tlcore_vs_numpy": ratio, "met": ratio <= 1.3},
    }
    write_json(result, args.json)

    if args.profile:
        profile_tlcore(params, batches, args.profile)
    return result


if __name__ == "__main__":
    main()
