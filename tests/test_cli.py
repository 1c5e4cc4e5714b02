"""The tlcore command."""

import pytest

from tlcore import cli, kernels


def test_info_names_version_blas_and_every_backend(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tlcore ")
    assert "BLAS:" in out
    for name in kernels.BACKENDS:
        assert f"  {name} " in out
    for name, reason in kernels.unavailable().items():
        assert reason in out


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_run_list_names_every_experiment(capsys):
    from tlcore import experiments
    assert cli.main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    for name in experiments.names():
        assert name in out


def test_run_unknown_experiment_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "no-such-experiment"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no-such-experiment'" in err and "digits-cnn" in err


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "many"], "invalid int value"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--no-such-flag", "1"], "unrecognized arguments"),
])
def test_run_bad_option_is_a_usage_error(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "digits-cnn"] + flags)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_prints_the_table_and_writes_json(tmp_path, capsys):
    import json
    path = tmp_path / "result.json"
    status = cli.main(["run", "digits-cnn", "--seeds", "0", "--epochs", "1", "--quiet",
                       "--json", str(path)])
    out = capsys.readouterr().out
    result = json.loads(path.read_text())
    assert status == (0 if all(claim["holds"] for claim in result["claims"]) else 1)
    assert result["experiment"] == "digits-cnn" and result["seeds"] == [0]
    assert result["options"]["epochs"] == 1
    assert [(r["method"], r["metric"]) for r in result["rows"]] == [("cnn", "test_acc"),
                                                                     ("mlp", "test_acc")]
    for row in result["rows"]:
        assert f"{row['mean']:.4f}" in out
        assert 0.0 <= row["mean"] <= 1.0 and row["values"] == [row["mean"]]


def _register(monkeypatch, run_seed, claims=()):
    from tlcore import experiments
    from tlcore.experiments.experiment import Experiment
    toy = Experiment("toy", "none", "a toy", run_seed, claims=claims)
    monkeypatch.setitem(experiments.REGISTRY, "toy", toy)


def test_run_exits_1_when_a_claim_does_not_hold(monkeypatch, capsys):
    from tlcore.experiments.experiment import Claim
    _register(monkeypatch, lambda seed, options, progress: [("cnn", "test_acc", 0.5)],
              claims=(Claim("cnn", "test_acc", at_least=0.97),))
    assert cli.main(["run", "toy", "--seeds", "0", "--quiet"]) == 1
    assert "claim: cnn test_acc >= 0.97: 0.5000 (does not hold)" in capsys.readouterr().out
    _register(monkeypatch, lambda seed, options, progress: [("cnn", "test_acc", 0.99)],
              claims=(Claim("cnn", "test_acc", at_least=0.97),))
    assert cli.main(["run", "toy", "--seeds", "0", "--quiet"]) == 0


def test_an_error_inside_an_experiment_is_not_a_usage_error(monkeypatch):
    def broken(seed, options, progress):
        raise ValueError("a bug in the engine")
    _register(monkeypatch, broken)
    with pytest.raises(ValueError, match="a bug in the engine"):
        cli.main(["run", "toy", "--quiet"])


def test_json_into_a_missing_directory_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "digits-cnn", "--json", str(tmp_path / "no" / "r.json")])
    assert info.value.code == 2
    assert "the directory does not exist" in capsys.readouterr().err


def test_options_before_the_experiment_name_get_a_hint(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--epochs", "1", "digits-cnn"])
    assert info.value.code == 2
    assert "the experiment name goes first" in capsys.readouterr().err
