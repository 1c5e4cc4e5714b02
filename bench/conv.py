"""Benchmark: conv2d and max pooling, forward + backward, tlcore against PyTorch on the CPU.

What it measures
----------------
The median time of one forward and backward pass (gradients of the input and the
weight, no bias), float32, NCHW, at three convolution shapes of a small CNN on 28x28
images and one pooling shape:

    conv1  N64, C1,  28x28 -> 32 channels, kernel 3, padding 1
    conv2  N64, C32, 14x14 -> 64 channels, kernel 3, padding 1
    conv3  N32, C64, 8x8   -> 128 channels, kernel 3, padding 1
    pool   N64, C32, 28x28, 2x2 max pooling (tlcore.ops.max_pool2d(x, 2))

tlcore runs its default kernels (the numpy backend: im2col + GEMM through numpy's
BLAS) at numpy's default threads; PyTorch runs at its default threads (oneDNN). Both in
one run, on the same arrays, with the same upstream gradient.

The GEMM floor of a convolution is the time its three GEMMs (forward, input gradient,
weight gradient; 2*N*Ho*Wo*C_out*C_in/G*kh*kw FLOPs each) would take at the float32 BLAS
rate measured in the same run on the shape's own forward GEMM: what an im2col + GEMM
implementation costs with every copy around the GEMMs free. The goal set by the issue:
tlcore within 1.5x of PyTorch at every shape.

How it works
------------
1. Check first: tlcore's output and gradients must match PyTorch's to within
   TOLERANCE (max |difference| over max |value|), or the script stops.
2. Time in blocks: a short pause, one untimed call, then BLOCK timed calls of one
   library; then the other (starting with a different one each round), until each has
   ``--repeats`` calls. Not one call each in turn: OpenBLAS's and PyTorch's OpenMP
   threads keep spinning for a while after their work, and calls interleaved one by one
   make each library wait for the other's spinning threads (measured here: PyTorch's
   conv1 went from 4 ms to 11 ms). Within a block, calls follow each other as they do
   in training.
3. Print a table and write a JSON file with the numbers, the settings and the machine.

Run it from the repository root::

    python bench/conv.py                     # 30 calls each, writes bench/results/conv.json
    python bench/conv.py --repeats 60 --json /tmp/conv.json
"""

import os
import statistics
import time

import numpy as np
from common import (argument_parser, blas_threads, machine_info, noise_warning, optional_torch,
                    spread, write_json)

import tlcore
from tlcore import ops
from tlcore.benchmark import BLOCK, PAUSE, time_blocks

torch = optional_torch()  # without PyTorch, tlcore is still timed, with its GEMM floor

# ----------------------------------------------------------------------------- settings

CONV_SHAPES = {  # name: (N, C_in, H, W, C_out, kernel, padding)
    "conv1": (64, 1, 28, 28, 32, 3, 1),
    "conv2": (64, 32, 14, 14, 64, 3, 1),
    "conv3": (32, 64, 8, 8, 128, 3, 1),
}
POOL_SHAPE = ("pool", (64, 32, 28, 28), 2)  # name, x shape, kernel (= stride)
TOLERANCE = 1e-4    # max |tlcore - torch| / max |torch|, float32
SEED = 0
DTYPE = np.float32


# ----------------------------------------------------------------------------- cases


class Case:
    """One shape: the arrays, and one forward + backward pass in each library."""

    def __init__(self, name, x_shape, w_shape=None, padding=0, pool=None):
        rng = np.random.default_rng(SEED)
        self.name, self.padding, self.pool = name, padding, pool
        self.x = rng.standard_normal(x_shape).astype(DTYPE)
        self.w = None if w_shape is None else \
            (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(DTYPE)
        self.g = rng.standard_normal(self.tlcore_pass()[0].shape).astype(DTYPE)

    @property
    def is_conv(self):
        return self.w is not None

    def gemm_flops(self):
        """2 * N * Ho * Wo * C_out * C_in/G * kh * kw: one of the three GEMMs."""
        n, c_in, height, width = self.x.shape
        c_out, _, kh, kw = self.w.shape
        out_h, out_w = height + 2 * self.padding - kh + 1, width + 2 * self.padding - kw + 1
        return 2 * n * out_h * out_w * c_out * c_in * kh * kw

    def tlcore_pass(self, g=None):
        """Forward and, given the upstream gradient g, backward; returns the raw arrays."""
        x = tlcore.tensor(self.x, requires_grad=True)
        w = tlcore.tensor(self.w, requires_grad=True) if self.is_conv else None
        out = ops.conv2d(x, w, padding=self.padding) if self.is_conv else \
            ops.max_pool2d(x, self.pool)
        if g is None:
            return (out.data,)
        out.backward(g)
        return (out.data, x.grad) + ((w.grad,) if self.is_conv else ())

    def torch_pass(self, g):
        F = torch.nn.functional
        x = torch.from_numpy(self.x).requires_grad_()
        w = torch.from_numpy(self.w).requires_grad_() if self.is_conv else None
        out = F.conv2d(x, w, padding=self.padding) if self.is_conv else \
            F.max_pool2d(x, self.pool)
        out.backward(torch.from_numpy(g))
        results = (out, x.grad) + ((w.grad,) if self.is_conv else ())
        return tuple(r.detach().numpy() for r in results)


def make_cases():
    cases = [Case(name, (n, c, h, w), (c_out, c, k, k), padding)
             for name, (n, c, h, w, c_out, k, padding) in CONV_SHAPES.items()]
    name, x_shape, kernel = POOL_SHAPE
    return cases + [Case(name, x_shape, pool=kernel)]


# ----------------------------------------------------------------------------- harness


def check_agreement(case):
    """max |tlcore - torch| / max |torch| over the output and each gradient."""
    ours, theirs = case.tlcore_pass(case.g), case.torch_pass(case.g)
    worst = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
                for a, b in zip(ours, theirs))
    if not worst <= TOLERANCE:
        raise SystemExit(f"FAILED: {case.name}: tlcore and torch differ by {worst:.1e} "
                         f"(relative), more than {TOLERANCE:.0e}: the timings would not "
                         "compare the same computation")
    return worst


def blas_rate(case, repeats):
    """float32 FLOP/s of numpy's BLAS on the case's forward GEMM,
    (C_out, C_in*kh*kw) @ (C_in*kh*kw, N*Ho*Wo), median of ``repeats`` calls."""
    c_out, c_in, kh, kw = case.w.shape
    pixels = case.gemm_flops() // (2 * c_out * c_in * kh * kw)
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((c_out, c_in * kh * kw)).astype(DTYPE)
    b = rng.standard_normal((c_in * kh * kw, pixels)).astype(DTYPE)
    time.sleep(PAUSE)
    seconds = time_blocks({"gemm": lambda: a @ b}, repeats)["gemm"]
    return case.gemm_flops() / statistics.median(seconds)


def main(argv=None):
    parser = argument_parser(__doc__, "conv", "calls per library and shape")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    threads = blas_threads()
    torch_threads = torch.get_num_threads() if torch is not None else None
    print(f"conv2d and max_pool2d, forward + backward (input and weight gradients), float32; "
          f"median of {args.repeats} calls, timed in blocks of {BLOCK}")
    print(f"BLAS threads (tlcore): {threads}; torch: "
          + (f"{torch_threads} threads (its default)" if torch is not None else "not installed"))

    rows = []
    for case in make_cases():
        runners = {"tlcore": lambda case=case: case.tlcore_pass(case.g)}
        worst = None
        if torch is not None:
            worst = check_agreement(case)
            runners["torch"] = lambda case=case: case.torch_pass(case.g)
        times = time_blocks(runners, args.repeats)
        row = {"shape": case.name, "x": list(case.x.shape),
               "weight": list(case.w.shape) if case.is_conv else None,
               "padding": case.padding, "pool_kernel": case.pool,
               "max_relative_diff_vs_torch": worst}
        for name, t in times.items():
            row[f"{name}_median_ms"] = statistics.median(t) * 1e3
            row[f"{name}_spread"] = spread(t)
            row[f"{name}_ms"] = [s * 1e3 for s in t]
        row["ratio_tlcore_vs_torch"] = (row["tlcore_median_ms"] / row["torch_median_ms"]
                                        if torch is not None else None)
        if case.is_conv:
            rate = blas_rate(case, args.repeats)
            row["gemm_flops_each"] = case.gemm_flops()
            row["blas_gflops"] = rate / 1e9
            row["gemm_floor_ms"] = 3 * case.gemm_flops() / rate * 1e3
        rows.append(row)

    print()
    print(f"{'shape':<7}{'tlcore ms':>11}{'torch ms':>10}{'tlcore/torch':>14}"
          f"{'GEMM floor ms':>15}{'BLAS GFLOP/s':>14}")
    for row in rows:
        torch_ms = f"{row['torch_median_ms']:.2f}" if torch is not None else "-"
        ratio = f"{row['ratio_tlcore_vs_torch']:.2f}x" if torch is not None else "-"
        floor = f"{row['gemm_floor_ms']:.2f}" if "gemm_floor_ms" in row else "-"
        rate = f"{row['blas_gflops']:.0f}" if "blas_gflops" in row else "-"
        print(f"{row['shape']:<7}{row['tlcore_median_ms']:>11.2f}{torch_ms:>10}{ratio:>14}"
              f"{floor:>15}{rate:>14}")
    goal = None
    if torch is not None:
        missed = [row["shape"] for row in rows if row["ratio_tlcore_vs_torch"] > 1.5]
        goal = {"tlcore_vs_torch_max": 1.5, "met": not missed, "missed_at": missed}
        print("\ngoal: tlcore within 1.5x of torch at every shape -> "
              + ("met" if not missed else f"not met at {', '.join(missed)}"))
    warning = noise_warning({f"{row['shape']} {name}": row[f"{name}_spread"] for row in rows
                             for name in ("tlcore", "torch") if f"{name}_spread" in row},
                            load_before)
    if warning:
        print(warning)

    result = {
        "benchmark": "conv",
        "settings": {"conv_shapes": {k: list(v) for k, v in CONV_SHAPES.items()},
                     "pool_shape": {"x": list(POOL_SHAPE[1]), "kernel": POOL_SHAPE[2]},
                     "dtype": "float32", "seed": SEED, "repeats": args.repeats,
                     "block": BLOCK, "pause_s": PAUSE, "tolerance": TOLERANCE,
                     "blas_threads": threads, "torch_threads": torch_threads,
                     "tlcore_kernels": "default (" + ", ".join(tlcore.kernels.available())
                                       + " available)"},
        "machine": dict(machine_info(), load_average_before=load_before,
                        load_average_after=os.getloadavg()),
        "rows": rows,
        "goal": goal,
    }
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
