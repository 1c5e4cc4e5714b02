"""Benchmark: every kernel on every backend found, beside PyTorch CPU.

The table of ``tlcore bench`` (src/tlcore/benchmark.py: the cases, the floors,
the goals, how the timing works) with one more runner per case: PyTorch doing the same
work the way a PyTorch user would write it, timed in the same blocks. PyTorch is the
peer a user would pick instead; the package itself never imports it.

    python bench/kernels.py                          # writes bench/results/kernels.json
    python bench/kernels.py --backends numpy,numba --repeats 40

The hinge-max peer is PyTorch's composition: the score matmul, gather of the true
score, the max over the other classes (true class masked to -inf), clamp, mean, and
autograd's backward. The others are F.max_pool2d and F.conv2d forward + backward, and
the reversal's multiply.
"""

import sys

from common import argument_parser, machine_info, optional_torch, write_json

from tlcore import benchmark

torch = optional_torch()  # PyTorch is optional: the benchmark runs without it


def torch_peer(case):
    """A callable doing ``case``'s work in PyTorch on the same arrays, or None."""
    a = {k: torch.from_numpy(v) for k, v in case.arrays.items()}
    F = torch.nn.functional
    if case.kind == "hinge":
        def hinge():
            f, g = a["f"].clone().requires_grad_(), a["g"].clone().requires_grad_()
            target = a["target"][:, None]
            scores = f @ g.T
            true = scores.gather(1, target)[:, 0]
            others = scores.scatter(1, target, float("-inf")).max(dim=1).values
            loss = (case.settings["margin"] - true + others).clamp(min=0).mean()
            loss.backward()
        return hinge
    if case.kind == "paired":
        return lambda: (a["f"] * a["g"]).sum(dim=1)
    if case.kind == "grad_reverse":
        return lambda: torch.mul(a["grad"], -case.settings["lambda_"])
    if case.kind == "maxpool":
        def pool():
            x = a["x"].clone().requires_grad_()
            F.max_pool2d(x, case.settings["kernel"]).backward(a["grad_out"])
        return pool
    if case.kind == "conv":
        def conv():
            x, w = a["x"].clone().requires_grad_(), a["w"].clone().requires_grad_()
            F.conv2d(x, w, padding=case.settings["padding"]).backward(a["grad_out"])
        return conv
    return None


def main(argv=None):
    parser = argument_parser(__doc__, "kernels", "calls per runner and case")
    parser.set_defaults(repeats=20)
    parser.add_argument("--backends", help="comma-separated backends (default: all found)")
    parser.add_argument("--cases", help="comma-separated cases, by their first word "
                        "(conv3, hinge, ...; default: all)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",") if args.backends else None
    only = args.cases.split(",") if args.cases else None
    peer = ("torch", torch_peer) if torch is not None else None
    if torch is None:
        print("PyTorch is not installed: no peer column", file=sys.stderr)
    try:
        result = benchmark.run(backends, args.repeats, peer=peer, only=only)
    except ValueError as bad:  # an unknown case
        parser.error(f"--cases: {bad}")
    result["machine"]["bench"] = machine_info()
    result["machine"]["torch_threads"] = torch.get_num_threads() if torch else None
    # the code PyTorch's own kernels run (ATEN_CPU_CAPABILITY; see bench/narrow.py)
    result["machine"]["torch_cpu_capability"] = (torch.backends.cpu.get_cpu_capability()
                                                 if torch else None)
    switches = result["machine"]["bench"]["cpu_switches"]
    if switches:
        print("every library narrowed (bench/narrow.py): "
              + " ".join(f"{k}={v}" for k, v in switches.items()))
    if torch:
        print(f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, its kernels "
              f"on {result['machine']['torch_cpu_capability']}")
    print(benchmark.format_table(result))
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
