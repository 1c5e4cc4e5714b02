"""The kernel benchmark's harness (tlcore bench) on tiny cases: every backend found is
timed, the ratios and goals are computed from the same run, the table and JSON say so.
No timing is asserted."""

import json
import mmap

import pytest

from tlcore import cli, kernels
from tlcore import benchmark


@pytest.fixture
def tiny(monkeypatch):
    """The benchmark's cases at tiny shapes, without pauses."""
    monkeypatch.setattr(benchmark, "PAUSE", 0.0)
    monkeypatch.setattr(benchmark, "cases", lambda gpu=False: [
        benchmark._hinge_case(9, 4, 5), benchmark._paired_case(6, 3),
        benchmark._reverse_case((4, 3)), benchmark._maxpool_case((2, 3, 4, 4), 2),
        benchmark._conv_case("conv1", 2, 3, 5, 5, 4, 3, 1)])


def test_every_case_runs_on_every_backend_found(tiny):
    result = benchmark.run(repeats=2, progress=None)
    backends = kernels.available()
    timed = {(r["case"], r["runner"]) for r in result["rows"] if not r.get("skipped")}
    for case in benchmark.cases():
        for backend in backends:
            skipped = [r for r in result["rows"] if r.get("skipped")
                       and r["case"] == case.name and r["runner"].startswith(backend)]
            assert (case.name, backend) in timed or skipped
    for row in result["rows"]:
        if row.get("skipped"):
            continue
        assert row["median_ms"] > 0 and row["rate"] > 0
        assert benchmark.resource is None or row["minor_faults_per_call"] >= 0
        if row["runner"] == "numpy":
            assert row["x_numpy"] == 1.0
        if row["runner"].startswith("floor"):
            assert row["x_floor"] == 1.0
    assert result["machine"]["threads"][0].startswith("OpenMP wait policy")
    route = result["machine"]["native_route"]  # the route taken, by name, and why
    if "native" in backends:
        from tlcore.kernels.backends import routes
        assert route["key"] == (routes.ROUTE and routes.ROUTE["key"])
        assert route["lines"][0].startswith("conv2d float32: ")
        assert ("native route: " + (route["name"] or "im2col and BLAS")
                in benchmark.format_table(result))
    else:
        assert route is None


@pytest.mark.skipif(benchmark.resource is None,
                    reason="the resource module is missing: this system counts no page faults")
def test_each_timed_call_gets_its_page_faults():
    """A runner that maps fresh memory and touches each of its 64 pages takes a fault a
    page; the counts go to the JSON's rows."""
    def touch():
        memory = mmap.mmap(-1, 64 * mmap.PAGESIZE)
        for page in range(64):
            memory[page * mmap.PAGESIZE] = 1
        memory.close()
    faults = {}
    times = benchmark.time_blocks({"touch": touch, "idle": lambda: None}, 3, pause=0.0,
                                  faults=faults)
    assert [len(faults[name]) for name in times] == [3, 3]
    assert min(faults["touch"]) >= 64 > max(faults["idle"])


def test_a_peer_runs_in_the_same_blocks_and_gets_a_ratio(tiny):
    calls = []
    peer = ("fake", lambda case: (lambda: calls.append(1)) if case.kind == "paired" else None)
    result = benchmark.run(["numpy"], repeats=3, peer=peer, progress=None)
    rows = {(r["case"], r["runner"]): r for r in result["rows"]}
    assert rows[("paired scores N6 D3", "fake")]["x_peer"] == 1.0
    assert rows[("paired scores N6 D3", "numpy")]["x_peer"] > 0
    assert rows[("hinge N9 D4 C5", "numpy")]["x_peer"] is None
    assert len(calls) == 3 + 2 + 1  # timed, warm-up, one untimed call per block
    assert "x fake" in benchmark.format_table(result)


def test_only_the_named_cases_run_and_an_unknown_name_is_refused(tiny):
    result = benchmark.run(["numpy"], repeats=2, progress=None, only=["paired", "conv1"])
    assert {r["case"].split()[0] for r in result["rows"]} == {"paired", "conv1"}
    with pytest.raises(ValueError, match="no case named conv9; the cases are conv1, grad"):
        benchmark.run(["numpy"], repeats=2, progress=None, only=["conv9"])


def test_goals_take_the_best_cpu_backend():
    rows = [{"case": "conv2 N1", "runner": "numpy", "is_backend": True, "x_peer": 0.8,
             "x_floor": 0.5},
            {"case": "conv2 N1", "runner": "numba", "is_backend": True, "x_peer": 1.3,
             "x_floor": 0.9},
            {"case": "conv2 N1", "runner": "torch", "is_backend": False, "x_peer": 1.0,
             "x_floor": 0.95}]
    goals = {g["column"]: g for g in benchmark.check_goals(rows, "torch")}
    assert goals["x_peer"]["best_backend"] == "numba" and goals["x_peer"]["met"]
    assert goals["x_floor"]["value"] == 0.9 and goals["x_floor"]["met"]
    assert [g["column"] for g in benchmark.check_goals(rows, "")] == ["x_floor"]


def test_tlcore_bench_prints_the_table_and_writes_json(tiny, tmp_path, capsys):
    path = tmp_path / "kernels.json"
    assert cli.main(["bench", "--backends", "numpy", "--repeats", "1",
                     "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hinge N9 D4 C5" in out and "floor (score GEMM)" in out and "x numpy" in out
    result = json.loads(path.read_text())
    assert {r["runner"] for r in result["rows"]} >= {"numpy", "floor (copy)"}


@pytest.mark.parametrize("argv, message", [
    (["bench", "--backends", "nope"], "unknown kernel backend 'nope'"),
    (["bench", "--repeats", "0"], "expected a positive integer"),
    (["bench", "--json", "/no/such/dir/k.json"], "the directory does not exist"),
])
def test_bench_refuses_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_gpu_scale_cases_come_with_the_gpu_alone(monkeypatch):
    """cases() makes the GPU-scale hinge only when asked for (when cupy is timed): its
    arrays are made when the case is."""
    monkeypatch.setattr(benchmark, "GPU_HINGE_SHAPES", ((9, 4, 5),))
    plain, with_gpu = benchmark.cases(), benchmark.cases(gpu=True)
    assert not any(case.gpu_only for case in plain)
    assert [case.name for case in with_gpu] == [case.name for case in plain] + ["hinge N9 D4 C5"]
    assert with_gpu[-1].gpu_only and with_gpu[-1].arrays["f"].shape == (9, 4)


def test_a_gpu_scale_case_is_left_to_cupy(monkeypatch):
    """Without cupy among the backends timed, a GPU-scale case gets a skipped row per
    backend, no timed row and no floor; the other cases run as before."""
    monkeypatch.setattr(benchmark, "PAUSE", 0.0)
    monkeypatch.setattr(benchmark, "cases", lambda gpu=False: [
        benchmark._hinge_case(9, 4, 5), benchmark._hinge_case(7, 3, 4, gpu_only=True)])
    result = benchmark.run(["numpy"], repeats=2, progress=None)
    rows = [(r["case"], r["runner"], bool(r.get("skipped"))) for r in result["rows"]]
    assert rows == [("hinge N9 D4 C5", "numpy", False),
                    ("hinge N9 D4 C5", "floor (score GEMM)", False),
                    ("hinge N7 D3 C4", "numpy: a GPU-scale case, timed on cupy alone", True)]
