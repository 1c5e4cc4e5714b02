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
    (["--seeds", "0,,1"], "no empty entries"),
    (["--seeds", "1,1"], "--seeds names a seed twice"),
    (["--seeds", "-1"], "--seeds needs non-negative integers"),
    (["--no-such-flag", "1"], "unrecognized arguments"),
    (["--epochs", "0"], "option 'epochs' (--epochs) must be >= 1, got 0"),
    (["--lr", "nan"], "option 'lr' (--lr) must be a finite number"),
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
                       "--strict", "--json", str(path)])
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


def test_a_claim_that_does_not_hold_is_reported_and_exits_1_only_with_strict(monkeypatch,
                                                                            capsys):
    from tlcore.experiments.experiment import Claim
    _register(monkeypatch, lambda seed, options, progress: [("cnn", "test_acc", 0.5)],
              claims=(Claim("cnn", "test_acc", at_least=0.97, source="lecture"),))
    assert cli.main(["run", "toy", "--seeds", "0", "--quiet"]) == 0
    assert "claim: cnn test_acc >= 0.97: 0.5000 (does not hold)" in capsys.readouterr().out
    assert cli.main(["run", "toy", "--seeds", "0", "--quiet", "--strict"]) == 1
    _register(monkeypatch, lambda seed, options, progress: [("cnn", "test_acc", 0.99)],
              claims=(Claim("cnn", "test_acc", at_least=0.97, source="lecture"),))
    assert cli.main(["run", "toy", "--seeds", "0", "--quiet", "--strict"]) == 0


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


# ------------------------------------------------------------------------ run all, --quick


def _lecture(monkeypatch):
    """A registry of two toy experiments in place of the real ones: 'good' (its claim
    holds at any setting) and 'steps' (which records the seeds and options it ran with;
    its claim needs 10 steps, its --quick value is 2, and it has a plot option)."""
    from tlcore import experiments
    from tlcore.experiments.experiment import Claim, Experiment, Option
    calls = []

    def steps(seed, options, progress):
        calls.append((seed, dict(options)))
        return [("trained", "acc", options["steps"] / 10), ("untrained", "acc", 0.5)]
    registry = {
        "good": Experiment("good", "section one", "always holds",
                           lambda seed, options, progress: [("m", "acc", 1.0)],
                           claims=(Claim("m", "acc", at_least=0.9, source="lecture"),)),
        "steps": Experiment("steps", "section two", "needs training", steps,
                            options=(Option("steps", int, 10, "training steps"),
                                     Option("plot", str, "", "figures")),
                            default_seeds=(3, 4), quick=dict(steps=2),
                            claims=(Claim("trained", "acc", 0.4, baseline="untrained",
                                          source="Someone et al. 2020"),))}
    monkeypatch.setattr(experiments, "REGISTRY", registry)
    return calls


def test_run_all_prints_each_table_then_the_summary_and_writes_json(monkeypatch, tmp_path,
                                                                     capsys):
    import json
    calls = _lecture(monkeypatch)
    path = tmp_path / "all.json"
    assert cli.main(["run", "all", "--quiet", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.index("good: seeds") < out.index("steps: seeds") < out.index("experiment    ")
    assert [seed for seed, _ in calls] == [3, 4]  # each experiment's own default seeds
    summary = out[out.index("experiment    "):]  # the summary table's header, to the end
    assert "[the engine]" in summary  # neither toy experiment is in a cell of the map
    assert "untrained 0.500 +- 0.000" in summary and "--quick" not in summary
    assert "Someone et al. 2020" in summary and "lecture" in summary
    assert ("2 of 2 claims held (the lecture's 1 of 1, the papers' 1 of 1)" in summary)
    result = json.loads(path.read_text())
    assert [r["experiment"] for r in result["experiments"]] == ["good", "steps"]
    row = result["summary"][1]
    assert (row["section"], row["method"], row["baseline"][0], row["holds"], row["source"]) \
        == ("section two", "trained", "untrained", True, "Someone et al. 2020")
    assert row["result"] == [1.0, 0.0] and row["seeds"] == 2 and row["at_least"] == 0.4


def test_run_all_quick_runs_one_seed_with_the_quick_options(monkeypatch, capsys):
    calls = _lecture(monkeypatch)
    assert cli.main(["run", "all", "--quick", "--quiet"]) == 0
    assert calls == [(3, {"steps": 2, "plot": ""})]
    out = capsys.readouterr().out
    assert "1 of 2 claims held" in out
    assert "(--quick: one seed and shorter training; the claims are written for" in out
    assert "did not hold: steps: trained acc - untrained >= 0.4: -0.3000" in out
    assert cli.main(["run", "all", "--quick", "--quiet", "--strict"]) == 1


def test_run_all_seeds_and_plot_reach_the_experiments(monkeypatch, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    calls = _lecture(monkeypatch)
    assert cli.main(["run", "all", "--seeds", "7", "--plot", str(tmp_path), "--quiet"]) == 0
    assert calls == [(7, {"steps": 10, "plot": str(tmp_path)})]


def test_run_all_plot_without_matplotlib_says_how_to_install_it(monkeypatch, tmp_path,
                                                                capsys):
    import sys
    calls = _lecture(monkeypatch)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "all", "--plot", str(tmp_path), "--quiet"])
    assert info.value.code == 2
    assert "pip install" in capsys.readouterr().err and calls == []


@pytest.mark.parametrize("command", [["run", "all"], ["run", "steps"]])
def test_a_json_path_that_cannot_be_written_is_a_usage_error_before_any_work(
        monkeypatch, tmp_path, capsys, command):
    import os
    calls = _lecture(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only = tmp_path / "read-only.json"
    read_only.write_text("{}")
    os.chmod(locked, 0o500)
    os.chmod(read_only, 0o400)
    bad = [(str(tmp_path), "that is a directory"),
           (str(tmp_path / "missing" / "out.json"), "the directory does not exist")]
    if not os.access(locked, os.W_OK):  # root writes anywhere: these two hold for users
        bad += [(str(locked / "out.json"), "cannot write in"),
                (str(read_only), "the file is not writable")]
    for path, message in bad:
        with pytest.raises(SystemExit) as info:
            cli.main(command + ["--json", path, "--quiet"])
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert calls == []


@pytest.mark.parametrize("command", [["run", "all"], ["run", "steps"]])
def test_a_plot_path_that_cannot_take_figures_is_a_usage_error_before_any_work(
        monkeypatch, tmp_path, capsys, command):
    import os
    calls = _lecture(monkeypatch)
    a_file = tmp_path / "figures.png"
    a_file.write_bytes(b"")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    bad = [(str(a_file), "is a file, not a directory"),
           (str(a_file / "below"), "is not a directory this user can write to")]
    if not os.access(locked, os.W_OK):  # root writes anywhere: no locked directory then
        bad.append((str(locked / "new"), "is not a directory this user can write to"))
    for path, message in bad:
        with pytest.raises(SystemExit) as info:
            cli.main(command + ["--plot", path, "--quiet"])
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert calls == []


def test_run_one_experiment_quick_uses_its_first_seed_and_quick_options(monkeypatch, capsys):
    calls = _lecture(monkeypatch)
    assert cli.main(["run", "steps", "--quick", "--quiet", "--strict"]) == 1
    assert cli.main(["run", "steps", "--quick", "--steps", "9", "--quiet", "--strict"]) == 0
    assert calls == [(3, {"steps": 2, "plot": ""}), (3, {"steps": 9, "plot": ""})]
    with pytest.raises(SystemExit) as info:  # no abbreviations: --quic is not --quick
        cli.main(["run", "steps", "--quic", "--quiet"])
    assert info.value.code == 2 and len(calls) == 2


def test_run_all_rejects_an_experiment_option(monkeypatch, capsys):
    _lecture(monkeypatch)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "all", "--steps", "3"])
    assert info.value.code == 2
    assert "unrecognized arguments: --steps 3" in capsys.readouterr().err


def test_run_list_and_unknown_name_mention_all(capsys):
    assert cli.main(["run", "--list"]) == 0
    assert "\nall " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["run", "alll"])
    assert ", or all" in capsys.readouterr().err


@pytest.mark.parametrize("value, message", [
    ("bogus", "unknown kernel backend 'bogus'; choose one of"),
    ("cupy", "kernel backend 'cupy' is not available"),
])
def test_a_bad_tlcore_kernels_is_a_usage_error(monkeypatch, capsys, value, message):
    # as on a machine without cupy, whether or not this one has it
    monkeypatch.setitem(kernels.registry._loaded, "cupy", "cupy is not installed")
    monkeypatch.setenv("TLCORE_KERNELS", value)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--list"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"TLCORE_KERNELS={value}: " in err and message in err


def test_run_all_progress_shows_the_experiment_number_before_each_stage(monkeypatch):
    import io
    from tlcore.experiments.progress import Progress
    from tlcore.experiments.suite import run_all
    _lecture(monkeypatch)
    from tlcore import experiments
    stream = io.StringIO()
    run_all(experiments.REGISTRY, quick=True, progress=Progress(stream))
    assert stream.getvalue().splitlines() == [
        "[1/2] good: section one", "[1/2] good seed 0 (1/1)",
        "[2/2] steps: section two", "[2/2] steps seed 3 (1/1)"]
