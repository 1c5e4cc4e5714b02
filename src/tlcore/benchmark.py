"""The kernel benchmark: every kernel, on every backend found, at fixed shapes.

``tlcore bench`` prints this table; ``python bench/kernels.py`` prints it with PyTorch
CPU beside it (PyTorch is never imported by the package). One row per (case, runner):

    median ms   median time of one call (a forward + backward pass where the case says so)
    rate        GFLOP/s or GB/s of the case's work at that time
    x numpy     numpy backend time / this time: the speed-up over the numpy backend
    x floor     floor time / this time: 1.0 means as fast as the floor
    x peer      peer time / this time: above 1.0 is faster than the peer (PyTorch CPU)

The JSON also gives each row's minor page faults per call (median): the first touches of
memory that the allocator has just mapped. A kernel's fresh outputs take none where
glibc hands back memory the process freed, and one a page where it maps new memory
each call; which of the two a process gets depends on its allocations so far, and the
second made the native max-pool 2 to 3x slower in some runs.

The floor is the unavoidable part of the work, timed on the same arrays in the same run:
the score GEMM alone for the hinge-max loss, a plain copy for gradient reversal, and the
three GEMMs of a convolution (its forward, input-gradient and weight-gradient products).

The runners of one case run in blocks of BLOCK calls each, with a pause between blocks.
Calls that are interleaved one by one measure each library waiting for the other's
spinning thread pool. Within a block the calls follow each other, as they do in training.
"""

import os
import platform
import statistics
import time

try:
    import resource
except ImportError:  # not a POSIX system: no page-fault counts
    resource = None

import numpy as np

from tlcore.backend import array_module, blas_description, to_device
from tlcore import kernels
from tlcore.kernels import registry
from tlcore.kernels.backends import threads

BLOCK = 10      # timed calls of one runner in a row
PAUSE = 0.2     # seconds between blocks: spinning thread pools go back to sleep
SEED = 0
NOISY = 0.25    # a spread above this: the machine was busy, the ratios are doubtful


def minor_faults():
    """The page faults this process has taken that needed no disk; None where the
    system does not count them."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_blocks(runners, repeats, block=None, pause=None, faults=None):
    """{name: [seconds per call]}: ``repeats`` calls of each runner, in blocks of
    ``block`` (default BLOCK) with ``pause`` seconds (default PAUSE) before each. Given a
    dict ``faults``, it also fills ``faults[name]`` with each call's minor page faults
    (counted outside the timed span; None where the system does not count them)."""
    block = BLOCK if block is None else block
    pause = PAUSE if pause is None else pause
    for run in runners.values():  # warm-up: compilation, caches, thread pools
        run()
        run()
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range((repeats + block - 1) // block):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]  # a different runner leads each round
            time.sleep(pause)
            runners[name]()  # untimed: wakes this runner's threads after the pause
            for _ in range(min(block, repeats - len(times[name]))):
                before = minor_faults() if faults is not None else None
                start = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - start)
                if faults is not None:
                    after = minor_faults()
                    faults.setdefault(name, []).append(None if after is None
                                                       else after - before)
    return times


def spread(times):
    """(90th - 10th percentile) / median: about 0.1 in a quiet run."""
    if len(times) < 2:
        return 0.0
    deciles = statistics.quantiles(times, n=10)
    return (deciles[-1] - deciles[0]) / statistics.median(times)


# --------------------------------------------------------------------------------- cases


class Case:
    """One kernel workload: its ``kind`` ("hinge", "paired", "grad_reverse", "maxpool",
    "conv") and ``settings`` (for a peer to do the same work), float32 arrays made once,
    ``step(kernel, arrays)`` calling the kernels through ``kernel(op)``, the work it does
    (``amount`` in ``unit``), and an optional ``floor(arrays)``. A ``gpu_only`` case is
    timed on the cupy backend alone, its floor on the GPU too."""

    def __init__(self, name, kind, make, step, amount, unit, floor=None, floor_name=None,
                 gpu_only=False, **settings):
        self.name, self.kind, self.settings = name, kind, settings
        self.step, self.amount, self.unit = step, amount, unit
        self.floor, self.floor_name = floor, floor_name
        self.gpu_only = gpu_only
        self.arrays = make(np.random.default_rng(SEED))


def _hinge_arrays(n, d, c):
    def make(rng):
        f = rng.standard_normal((n, d), dtype=np.float32) / d ** 0.5  # stays float32
        g = rng.standard_normal((c, d), dtype=np.float32)
        return {"f": f, "g": g, "target": rng.integers(0, c, n)}
    return make


def _hinge_step(kernel, a):
    """The fused loss's forward and backward on the embeddings, as
    ops.embedding_hinge_max_loss runs them: the forward from f and g (S = f g^T and the
    per-sample hinge), then the fused sparse backward (mean reduction)."""
    f, g, target = a["f"], a["g"], a["target"]
    loss, negative = kernel("embedding_hinge_max_forward")(f, g, target, 1.0)
    weight = (loss > 0).astype(f.dtype) / f.shape[0]
    return kernel("hinge_max_backward")(f, g, target, negative, weight)


def _hinge_case(n, d, c, gpu_only=False):
    return Case(f"hinge N{n} D{d} C{c}", "hinge", _hinge_arrays(n, d, c), _hinge_step,
                2 * n * c * d, "GFLOP/s", floor=lambda a: a["f"] @ a["g"].T,
                floor_name="score GEMM", gpu_only=gpu_only, margin=1.0)


def _paired_case(n, d):
    def make(rng):
        return {"f": rng.standard_normal((n, d), dtype=np.float32),
                "g": rng.standard_normal((n, d), dtype=np.float32)}
    return Case(f"paired scores N{n} D{d}", "paired", make,
                lambda kernel, a: kernel("embedding_scores")(a["f"], a["g"], paired=True),
                2 * n * d * 4, "GB/s")


def _reverse_case(shape):
    def make(rng):
        return {"grad": rng.standard_normal(shape, dtype=np.float32)}
    nbytes = 2 * int(np.prod(shape)) * 4  # read and write
    return Case(f"grad_reverse {shape[0]}x{shape[1]}", "grad_reverse", make,
                lambda kernel, a: kernel("grad_reverse_backward")(a["grad"], 0.5),
                nbytes, "GB/s", floor=lambda a: a["grad"].copy(), floor_name="copy",
                lambda_=0.5)


def _maxpool_case(shape, k):
    def make(rng):
        x = rng.standard_normal(shape, dtype=np.float32)
        n, c, h, w = shape
        return {"x": x, "grad_out": rng.standard_normal((n, c, h // k, w // k),
                                                        dtype=np.float32)}

    def step(kernel, a):
        out, argmax = kernel("maxpool2d_forward")(a["x"], (k, k), (k, k), (0, 0))
        return kernel("maxpool2d_backward")(a["grad_out"], argmax, a["x"].shape)
    n, c, h, w = shape
    return Case(f"maxpool {k}x{k} N{n} C{c} {h}x{w}", "maxpool", make, step,
                2 * n * c * h * w * 4, "GB/s", kernel=k)


CONV_SHAPES = {  # name: (N, C_in, H, W, C_out, kernel, padding), as in bench/conv.py
    "conv1": (64, 1, 28, 28, 32, 3, 1),
    "conv2": (64, 32, 14, 14, 64, 3, 1),
    "conv3": (32, 64, 8, 8, 128, 3, 1),
}


def _conv_case(name, n, c_in, h, w, c_out, k, padding):
    geometry = ((1, 1), (padding, padding), (1, 1), 1)  # stride, padding, dilation, groups
    out_h, out_w = h + 2 * padding - k + 1, w + 2 * padding - k + 1
    depth, pixels = c_in * k * k, n * out_h * out_w

    def make(rng):
        return {"x": rng.standard_normal((n, c_in, h, w), dtype=np.float32),
                "w": rng.standard_normal((c_out, c_in, k, k), dtype=np.float32) / k,
                "grad_out": rng.standard_normal((n, c_out, out_h, out_w), dtype=np.float32),
                # the floor's operands: weights (C_out, K), columns (K, P), gradient rows
                "a": rng.standard_normal((c_out, depth), dtype=np.float32),
                "b": rng.standard_normal((depth, pixels), dtype=np.float32),
                "c": rng.standard_normal((c_out, pixels), dtype=np.float32)}

    def step(kernel, a):
        x, weight, grad_out = a["x"], a["w"], a["grad_out"]
        kernel("conv2d_forward")(x, weight, *geometry)
        kernel("conv2d_backward_input")(grad_out, weight, x.shape, *geometry)
        return kernel("conv2d_backward_weight")(grad_out, x, weight.shape, *geometry)

    def floor(a):
        return a["a"] @ a["b"], a["a"].T @ a["c"], a["c"] @ a["b"].T

    return Case(f"{name} N{n} C{c_in}->{c_out} {h}x{w}", "conv", make, step,
                3 * 2 * c_out * depth * pixels, "GFLOP/s", floor=floor,
                floor_name="3 GEMMs", padding=padding)


# The hinge-max loss at a scale where a GPU is used in practice: (N, D, C). Timed on the
# cupy backend alone: its score matrix (2.6 GB) is for a GPU's memory, and on this
# machine's CPUs a call would take seconds.
GPU_HINGE_SHAPES = ((65536, 256, 10000),)


def cases(gpu=False):
    """The benchmark's workloads, at the shapes of the native kernels issue; with
    ``gpu``, the GPU-scale ones after them."""
    chosen = ([_hinge_case(4096, 256, 1000), _hinge_case(256, 64, 100),
               _paired_case(65536, 256), _reverse_case((4096, 1024)),
               _maxpool_case((64, 32, 28, 28), 2)]
              + [_conv_case(name, *shape) for name, shape in CONV_SHAPES.items()])
    if gpu:
        chosen += [_hinge_case(*shape, gpu_only=True) for shape in GPU_HINGE_SHAPES]
    return chosen


# The goals: (case prefix, column, at least). Columns are speed ratios.
GOALS = (
    ("hinge N4096", "x_floor", 1 / 1.2),
    ("hinge N4096", "x_peer", 3.0),
    ("grad_reverse", "x_floor", 0.7),
    ("maxpool", "x_peer", 3.0),
    ("conv1", "x_peer", 1.0),
    ("conv2", "x_peer", 1.0),
    ("conv3", "x_peer", 1.0),
    ("conv2", "x_floor", 0.75),
    ("conv3", "x_floor", 0.75),
)


# ------------------------------------------------------------------------------- harness


def _on_gpu(arrays):
    from tlcore.backend import to_device
    return {k: to_device(v, "cuda") for k, v in arrays.items()}


def _synchronized(call, arrays):
    """``call`` followed by a wait for the GPU: its kernels launch asynchronously."""
    cupy = array_module(next(iter(arrays.values())))

    def waited_for():
        result = call()
        cupy.cuda.Device().synchronize()
        return result
    return waited_for


def _runner(case, backend, arrays):
    """A call of the case on one backend's own kernels (no fallback to numpy)."""
    def kernel(op):
        fn = registry.implementation(op, backend)
        if fn is None:
            raise KeyError(op)
        return fn
    def call():
        return case.step(kernel, arrays)
    return call if backend != "cupy" else _synchronized(call, arrays)


def run(backends=None, repeats=20, peer=None, progress=print, only=None):
    """Time every case on ``backends`` (default: all available). ``peer`` is an optional
    (name, make) pair: ``make(case)`` returns a callable doing the case's work in another
    library, or None (bench/kernels.py passes PyTorch's). It runs in the same blocks.
    ``only``: names of cases to time (their first word: "conv3", "hinge"), default all.
    Returns the result dict (rows, goals, machine)."""
    backends = list(backends or registry.available())
    for name in backends:
        registry.check_available(name)
    chosen = cases(gpu="cupy" in backends)
    if only is not None:
        names = {case.name.split()[0] for case in chosen}
        unknown = sorted(set(only) - names)
        if unknown:
            raise ValueError(f"only: no case named {', '.join(unknown)}; the cases are "
                             f"{', '.join(sorted(names))}")
        chosen = [case for case in chosen if case.name.split()[0] in only]
    peer_name, make_peer = peer or ("", lambda case: None)
    rows = []
    for case in chosen:
        runners, skipped = {}, []
        gpu_arrays = _on_gpu(case.arrays) if "cupy" in backends else None
        for backend in backends:
            if case.gpu_only and backend != "cupy":
                skipped.append(f"{backend}: a GPU-scale case, timed on cupy alone")
                continue
            arrays = gpu_arrays if backend == "cupy" else case.arrays
            try:
                _runner(case, backend, arrays)()  # also checks every op is implemented
            except KeyError as missing:
                skipped.append(f"{backend} lacks {missing.args[0]}")
                continue
            runners[backend] = _runner(case, backend, arrays)
        if case.gpu_only and "cupy" not in runners:
            rows.extend({"case": case.name, "runner": s, "skipped": True} for s in skipped)
            continue
        if case.gpu_only and case.floor is not None:  # the floor on the GPU too
            runners["floor"] = _synchronized(lambda case=case, a=gpu_arrays: case.floor(a),
                                          gpu_arrays)
        elif case.floor is not None:
            runners["floor"] = lambda case=case: case.floor(case.arrays)
        peer_call = None if case.gpu_only else make_peer(case)
        if peer_call is not None:
            runners["peer"] = peer_call
        if progress:
            progress(f"timing {case.name}: {', '.join(runners)}")
        faults = {}
        times = time_blocks(runners, repeats, faults=faults)
        median = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            if name == "floor":
                label = f"floor ({case.floor_name})"
            elif name == "peer":
                label = peer_name
            else:
                label = name
            rows.append({
                "case": case.name, "runner": label, "median_ms": median[name] * 1e3,
                "spread": spread(t), "rate": case.amount / median[name] / 1e9,
                "unit": case.unit,
                "x_numpy": median["numpy"] / median[name] if "numpy" in median else None,
                "x_floor": median["floor"] / median[name] if "floor" in median else None,
                "x_peer": median["peer"] / median[name] if "peer" in median else None,
                "minor_faults_per_call": (None if None in faults[name]
                                          else statistics.median(faults[name])),
                "is_backend": name in backends})
        rows.extend({"case": case.name, "runner": s, "skipped": True} for s in skipped)
    return {"benchmark": "kernels", "repeats": repeats, "block": BLOCK, "pause_s": PAUSE,
            "peer": peer_name or None, "machine": machine(), "rows": rows,
            "goals": check_goals(rows, peer_name)}


def check_goals(rows, peer_name):
    """For each goal, the best CPU backend's value and whether it is met. A goal on
    the peer column is left out when no peer ran."""
    results = []
    for prefix, column, at_least in GOALS:
        if column == "x_peer" and not peer_name:
            continue
        candidates = [r for r in rows if r["case"].startswith(prefix) and r.get("is_backend")
                      and r["runner"] != "cupy" and r.get(column) is not None]
        if not candidates:
            continue
        best = max(candidates, key=lambda r: r[column])
        results.append({"case": best["case"], "column": column, "at_least": at_least,
                         "best_backend": best["runner"], "value": best[column],
                         "met": best[column] >= at_least})
    return results


def machine():
    info = {"platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
            "cpu_count": os.cpu_count(), "threads": threads.describe(),
            "load_average": os.getloadavg(), "gpu": None}
    info["blas"] = blas_description()
    info["native_route"] = kernels.native_route()
    if "cupy" in registry.available():
        cupy = array_module(to_device(np.zeros(1), "cuda"))
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
    return info


def format_table(result):
    """The result as text: one line per (case, runner), then the goals."""
    m = result["machine"]
    lines = [f"machine: {m['processor']}, {m['cpu_count']} cores, {m['platform']}",
             f"BLAS: {m['blas']}; GPU: {m['gpu'] or 'none'}"] + m["threads"]
    route = m.get("native_route")
    if route is not None:
        lines += [f"native route: {route['name'] or 'im2col and BLAS'}"] + route["lines"]
    lines.append(f"median of {result['repeats']} calls, float32; x columns are speed ratios "
                 "(above 1: faster than numpy / the floor / the peer)")
    peer = result["peer"] or "peer"
    lines.append(f"{'case':<30}{'runner':<22}{'median ms':>10}{'spread':>8}{'rate':>16}"
                 f"{'x numpy':>9}{'x floor':>9}{'x ' + peer:>10}")

    def ratio(value):
        return "-" if value is None else f"{value:.2f}"
    for r in result["rows"]:
        if r.get("skipped"):
            lines.append(f"{r['case']:<30}{r['runner']}")
            continue
        rate = f"{r['rate']:.1f} {r['unit']}"
        lines.append(f"{r['case']:<30}{r['runner']:<22}{r['median_ms']:>10.3f}"
                     f"{r['spread']:>8.2f}{rate:>16}{ratio(r['x_numpy']):>9}"
                     f"{ratio(r['x_floor']):>9}{ratio(r['x_peer']):>10}")
    for g in result["goals"]:
        column = {"x_floor": "x floor", "x_peer": f"x {peer}"}[g["column"]]
        lines.append(f"goal {g['case']}: {column} >= {g['at_least']:.2f}: best "
                     f"{g['best_backend']} {g['value']:.2f} -> "
                     + ("met" if g["met"] else "NOT met"))
    noisy = sorted({r["case"] for r in result["rows"] if r.get("spread", 0) > NOISY})
    if noisy:
        lines.append(f"warning: noisy timings (spread > {NOISY}) at " + ", ".join(noisy)
                     + "; rerun on a quiet machine before trusting the ratios")
    return "\n".join(lines)
