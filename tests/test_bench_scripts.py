"""The benchmark scripts of bench/ run at tiny sizes, one timed round or two: their
agreement checks pass, they write their tables' numbers to JSON, and they refuse bad
arguments. bench/mlp.py with --no-torch runs without PyTorch in the process; bench/ops.py
times both op-level cases against their floors and goals. No timing is asserted."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"


def run_bench(name, *args):
    """bench/NAME.py run with ``args`` from the repository root."""
    return subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args],
                          cwd=BENCH.parent, capture_output=True, text=True, timeout=300)


def test_mlp_benchmark_without_torch_times_numpy_and_tlcore(tmp_path):
    path = tmp_path / "mlp.json"
    done = run_bench("mlp", "--repeats", "1", "--no-torch", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "torch: left out (--no-torch), not imported" in done.stdout
    result = json.loads(path.read_text())
    assert result["settings"]["torch_in_process"] is False
    assert result["settings"]["engine"] in ("compiled", "python")
    rows = {row["implementation"]: row for row in result["rows"]}
    assert set(rows) == {"numpy", "ops, no graph", "bare engine", "tlcore"}
    assert rows["numpy"]["ratio_vs_numpy"] == 1.0
    for name in ("ops, no graph", "bare engine", "tlcore"):
        assert rows[name]["max_weight_diff_vs_numpy"] <= result["settings"]["tolerance"]
    parts = result["tlcore_overhead_parts_us_per_step"]
    assert sum(parts.values()) == pytest.approx(result["tlcore_overhead_us_per_step"])
    assert len(rows["tlcore"]["epoch_ms"]) == 1
    assert result["goal"]["tlcore_vs_numpy"] == rows["tlcore"]["ratio_vs_numpy"]
    engine = result["engine"]
    assert engine["nodes"] == 6 and engine["rounds"] == 1
    assert 0 < engine["copies_us"] < engine["forward_us"]
    assert engine["engine_us_per_op"] > 0


def test_numpy_baseline_computes_what_tlcore_computes():
    sys.path.insert(0, str(BENCH))
    try:
        import mlp
    finally:
        sys.path.remove(str(BENCH))
    X, y = mlp.make_data()
    batches = mlp.make_batches(X, y)[:3] + mlp.make_batches(X, y)[-1:]  # both batch sizes
    params = mlp.init_params()
    numpy_model, tlcore_model = mlp.NumpyMLP(params), mlp.TlcoreMLP(params)
    mlp.epoch(numpy_model, batches)
    mlp.epoch(tlcore_model, mlp.TlcoreMLP.wrap(batches))
    for a, b in zip(numpy_model.weights(), tlcore_model.weights()):
        assert abs(a - b).max() <= 1e-6


def test_ops_benchmark_writes_its_cases_their_floors_and_goals(tmp_path):
    path = tmp_path / "ops.json"
    done = run_bench("ops", "--reverse-shape", "6x5", "--hinge-shape", "9,4,5",
                     "--update-shape", "7x3", "--repeats", "2", "--json", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    assert result["benchmark"] == "ops"
    assert result["settings"]["reverse_shape"] == [6, 5]
    assert result["settings"]["hinge_shape"] == {"N": 9, "D": 4, "C": 5}
    assert result["settings"]["update_shape"] == [7, 3]
    rows = {(r["case"], r["runner"]): r for r in result["rows"]}
    torch = result["machine"]["torch"] is not None
    expected = {("grad_reverse", "floor: numpy g.copy()"), ("grad_reverse", "numpy -0.5 * g"),
                ("grad_reverse", "tlcore grad_reverse"), ("hinge", "floor: score GEMM f @ g.T"),
                ("hinge", "tlcore composition"), ("hinge", "tlcore fused"),
                ("update", "floor: np.add(p, g, out=p)"), ("update", "numpy p -= lr * g"),
                ("update", "tlcore p.add_(g, alpha=)"), ("update", "tlcore optim.SGD step")}
    if torch:
        expected |= {("grad_reverse", "torch GRL (view_as)"), ("hinge", "torch composition"),
                     ("update", "torch p.add_(g, alpha=)")}
    assert set(rows) == expected
    assert rows[("grad_reverse", "floor: numpy g.copy()")]["x_floor"] == 1.0
    assert rows[("hinge", "floor: score GEMM f @ g.T")]["x_floor"] == pytest.approx(1 / 3)
    for row in result["rows"]:
        assert row["median_ms"] > 0 and row["min_ms"] <= row["median_ms"]
        if row["max_diff_vs_tlcore"] is not None:  # every runner checked against tlcore's
            assert row["max_diff_vs_tlcore"] <= result["settings"]["tolerance"]
    assert rows[("hinge", "tlcore fused")]["max_diff_vs_tlcore"] is not None
    assert rows[("update", "tlcore optim.SGD step")]["max_diff_vs_tlcore"] is not None
    goals = {g["case"]: g for g in result["goals"]}
    assert goals["grad_reverse"]["runner"] == "tlcore grad_reverse"
    assert goals["grad_reverse"]["at_most"] == 1.5 and goals["hinge"]["at_most"] == 1.2
    assert goals["hinge"]["runner"] == "tlcore composition"
    assert goals["update"]["runner"] == "tlcore p.add_(g, alpha=)"
    assert goals["update"]["at_most"] == 1.2
    for goal in goals.values():
        row = rows[(goal["case"], goal["runner"])]
        assert goal["ratio"] == row["x_floor"]
        assert goal["met"] is row["passed"] is (row["x_floor"] <= goal["at_most"])
    out = done.stdout
    assert "x floor" in out and "pass" in out and "goal hinge:" in out and "goal update:" in out
    assert f"wrote {path}" in out


@pytest.mark.parametrize("args, message", [
    (["--hinge-shape", "9,4"], "--hinge-shape must be 3 positive integers"),
    (["--reverse-shape", "6x0"], "--reverse-shape must be 2 positive integers"),
    (["--update-shape", "6"], "--update-shape must be 2 positive integers"),
])
def test_ops_benchmark_refuses_bad_arguments(args, message):
    done = run_bench("ops", *args)
    assert done.returncode == 2
    assert message in done.stderr


def _no_route():
    from tlcore.kernels import native_route
    route = native_route()
    return None if route and route["key"] else "no compiled route runs here: no fused kernel"


@pytest.mark.skipif(_no_route() is not None, reason=str(_no_route()))
def test_hinge_fused_benchmark_writes_its_grid_both_ways(tmp_path):
    path = tmp_path / "hinge_fused.json"
    done = run_bench("hinge_fused", "--n", "5,40", "--d", "3", "--c", "2,33",
                     "--repeats", "1", "--json", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    assert result["benchmark"] == "hinge_fused"
    grid = {(r["timing"], r["n"], r["d"], r["c"]) for r in result["rows"]}
    assert grid == {(t, n, 3, c) for t in ("alternate", "blocks") for n in (5, 40)
                    for c in (2, 33)}
    assert all(r["ratio"] > 0 for r in result["rows"])


def test_team_stalls_benchmark_writes_a_row_per_kernel(tmp_path):
    from tlcore import kernels
    if "native" not in kernels.available():
        pytest.skip(f"the native backend is not built here: {kernels.unavailable()['native']}")
    path = tmp_path / "team_stalls.json"
    done = run_bench("team_stalls", "--scale", "8", "--repeats", "3", "--json", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(path.read_text())
    assert result["benchmark"] == "team_stalls"
    assert [row["kernel"] for row in result["rows"]] == [
        "max-pool forward 32x32 planes of 8x8", "max-pool forward N8 C32 28x28",
        "axpy 65536 float32", "fused hinge forward N128 D128 C200",
        "conv2d forward N8 32->64 14x14"]
    for row in result["rows"]:
        assert row["calls"] == 3 and 0 <= row["stalls"] <= 3
        assert 0 < row["median_ms"] <= row["p90_ms"] <= row["worst_ms"]
        assert row["ratio"] == pytest.approx(row["median_ms"] / row["alone_median_ms"])


def test_neighbours_benchmark_names_the_thread_settings_it_ran_under(tmp_path):
    """Both libraries in four processes, one round: the header and the JSON name the
    environment's thread settings, OpenBLAS's spin among them, and every task has its
    three configurations."""
    from strategies import torch_or_skip
    torch_or_skip()
    path = tmp_path / "neighbours.json"
    done = subprocess.run([sys.executable, str(BENCH / "neighbours.py"), "--repeats", "1",
                           "--pause", "0", "--json", str(path)], cwd=BENCH.parent,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OPENBLAS_THREAD_TIMEOUT": "4"})
    assert done.returncode == 0, done.stderr
    assert "OPENBLAS_THREAD_TIMEOUT=4" in done.stdout
    result = json.loads(path.read_text())
    assert result["environment"]["OPENBLAS_THREAD_TIMEOUT"] == "4"
    tasks = [row["task"] for row in result["rows"]]
    assert tasks[:2] == ["torch mlp epoch", "torch conv2 step"]
    assert "tlcore mlp epoch" in tasks and "tlcore hinge step" in tasks
    for row in result["rows"]:
        assert row["worst / alone"] == pytest.approx(
            max(row["tlcore first"], row["torch first"]) / row["alone"])


def test_narrow_runs_a_script_with_every_library_switched_to_the_route(tmp_path):
    script = tmp_path / "show.py"
    script.write_text("import os, sys\n"
                      "print(sys.argv[1:], os.environ['TLCORE_SIMD'],"
                      " os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['OPENBLAS_CORETYPE'])\n")
    done = run_bench("narrow", "avx2", str(script), "--flag")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['--flag']", "avx2", "AVX2", "Haswell"]


def test_narrow_runs_a_program_too():
    done = run_bench("narrow", "avx2", "env")
    assert done.returncode == 0, done.stderr
    assert "NUMBA_CPU_NAME=haswell" in done.stdout.splitlines()


@pytest.mark.parametrize("args, message", [
    (["avx3", "bench/kernels.py"], "route must be one of avx2, got 'avx3'"),
    (["avx2"], "usage: python bench/narrow.py ROUTE SCRIPT.py|PROGRAM"),
])
def test_narrow_refuses_an_unknown_route_or_no_script(args, message):
    done = run_bench("narrow", *args)
    assert done.returncode != 0
    assert message in done.stderr
