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
    assert cli.main(["run", "digits-cnn", "--seeds", "0", "--epochs", "1", "--quiet",
                     "--json", str(path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(path.read_text())
    assert result["experiment"] == "digits-cnn" and result["seeds"] == [0]
    assert result["options"]["epochs"] == 1
    assert [(r["method"], r["metric"]) for r in result["rows"]] == [("cnn", "test_acc"),
                                                                     ("mlp", "test_acc")]
    for row in result["rows"]:
        assert f"{row['mean']:.4f}" in out
        assert 0.0 <= row["mean"] <= 1.0 and row["values"] == [row["mean"]]
