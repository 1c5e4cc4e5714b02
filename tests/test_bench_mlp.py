"""bench/mlp.py with one timed round: its agreement check passes, it times every
implementation in the same run, writes its table's numbers to JSON, and with --no-torch
runs without PyTorch in the process. No timing is asserted."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "mlp.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_mlp_benchmark_without_torch_times_numpy_and_tlcore(tmp_path):
    path = tmp_path / "mlp.json"
    done = run("--repeats", "1", "--no-torch", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "torch: left out (--no-torch), not imported" in done.stdout
    result = json.loads(path.read_text())
    assert result["settings"]["torch_in_process"] is False
    rows = {row["implementation"]: row for row in result["rows"]}
    assert set(rows) == {"numpy", "tlcore"}
    assert rows["numpy"]["ratio_vs_numpy"] == 1.0
    assert rows["tlcore"]["max_weight_diff_vs_numpy"] <= result["settings"]["tolerance"]
    assert len(rows["tlcore"]["epoch_ms"]) == 1
    assert result["goal"]["tlcore_vs_numpy"] == rows["tlcore"]["ratio_vs_numpy"]


def test_numpy_baseline_computes_what_tlcore_computes():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import mlp
    finally:
        sys.path.remove(str(ROOT / "bench"))
    X, y = mlp.make_data()
    batches = mlp.make_batches(X, y)[:3] + mlp.make_batches(X, y)[-1:]  # both batch sizes
    params = mlp.init_params()
    numpy_model, tlcore_model = mlp.NumpyMLP(params), mlp.TlcoreMLP(params)
    mlp.epoch(numpy_model, batches)
    mlp.epoch(tlcore_model, mlp.TlcoreMLP.wrap(batches))
    for a, b in zip(numpy_model.weights(), tlcore_model.weights()):
        assert abs(a - b).max() <= 1e-6
