"""The experiment contract (tlcore.experiments) and the digits-cnn experiment."""

import numpy as np
import pytest

from tlcore import experiments
from tlcore.experiments.experiment import Claim, Experiment, Option


def _toy(seed, options, progress):
    return [("a", "score", seed * options["scale"]), ("b", "score", 1.0)]


TOY = Experiment("toy", "none", "a toy", _toy, options=(Option("scale", float, 2.0, "scale"),))


def test_result_rows_gather_one_value_per_seed():
    result = TOY.run(seeds=(1, 2, 3))
    assert set(result) == {"experiment", "section", "options", "seeds", "notes", "seconds",
                           "rows", "claims"}
    assert result["notes"] == []
    assert result["section"] == "none"
    assert result["options"] == {"scale": 2.0} and result["seeds"] == [1, 2, 3]
    a, b = result["rows"]
    assert (a["method"], a["metric"], a["values"]) == ("a", "score", [2.0, 4.0, 6.0])
    assert a["mean"] == pytest.approx(4.0) and a["std"] == pytest.approx(2.0)  # sample std
    assert b["std"] == 0.0


def test_check_refuses_options_that_do_not_go_together_and_notes_are_kept():
    def check(options):
        if options["scale"] > 5 and options["name"] == "small":
            raise ValueError("a small toy cannot have a scale above 5")
    toy = Experiment("toy", "none", "a toy", _toy,
                     options=(Option("scale", float, 2.0, "s"), Option("name", str, "small", "n")),
                     check=check, notes=lambda options: [f"scale {options['scale']:g}"])
    assert toy.run(seeds=(1,), scale=3.0)["notes"] == ["scale 3"]
    assert toy.resolve({"scale": 6, "name": "big"})["scale"] == 6.0
    with pytest.raises(ValueError, match="cannot have a scale above 5"):
        toy.run(seeds=(1,), scale=6)


def test_quick_runs_the_first_default_seed_at_the_quick_values_unless_given():
    toy = Experiment("toy", "none", "a toy", _toy, options=(Option("scale", float, 2.0, "s"),),
                     default_seeds=(5, 6), quick=dict(scale=0.5))
    result = toy.run(quick=True)
    assert result["seeds"] == [5] and result["options"] == {"scale": 0.5}
    result = toy.run(seeds=(1, 2), quick=True, scale=3.0)
    assert result["seeds"] == [1, 2] and result["options"] == {"scale": 3.0}
    assert toy.run()["options"] == {"scale": 2.0}


def test_options_are_checked_and_converted():
    assert TOY.run(seeds=(1,), scale="3")["rows"][0]["values"] == [3.0]
    with pytest.raises(ValueError, match=r"option 'scale' \(--scale\) must be a float"):
        TOY.run(seeds=(1,), scale="big")
    with pytest.raises(ValueError, match="has no option 'shift'"):
        TOY.run(seeds=(1,), shift=1)
    with pytest.raises(ValueError, match="seeds must be"):
        TOY.run(seeds=())


def test_options_reject_values_below_their_minimum_and_non_finite_numbers():
    from tlcore.experiments.experiment import Option, positive
    epochs = Option("epochs", int, 5, "epochs", minimum=1)
    assert epochs.check("2") == 2
    with pytest.raises(ValueError, match=r"option 'epochs' \(--epochs\) must be >= 1, got 0"):
        epochs.check(0)
    rate = Option("learning_rate", float, 0.1, "rate", minimum=0)
    for bad in ("nan", "inf"):
        with pytest.raises(ValueError, match=r"\(--learning-rate\) must be a finite number"):
            rate.check(bad)
    temperature = Option("temperature", float, 2.0, "T", validate=positive("temperature"))
    assert temperature.check(0.5) == 0.5
    with pytest.raises(ValueError, match=r"option 'temperature' \(--temperature\) must be > 0"):
        temperature.check(0)


def test_unknown_experiment_names_the_known_ones():
    with pytest.raises(KeyError, match="digits-cnn"):
        experiments.get("nope")


def test_digits_cnn_is_deterministic_and_learns():
    first = experiments.run("digits-cnn", seeds=(0,), epochs=2)
    again = experiments.run("digits-cnn", seeds=(0,), epochs=2)
    assert [r["values"] for r in first["rows"]] == [r["values"] for r in again["rows"]]
    for row in first["rows"]:
        assert row["mean"] > 0.5, row  # two epochs already beat chance (0.1) by far
    assert np.isfinite(first["seconds"])


def test_digits_cnn_draws_its_training_and_mistakes(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    plain = experiments.run("digits-cnn", seeds=(0,), epochs=1)
    drawn = experiments.run("digits-cnn", seeds=(0,), epochs=1, plot=str(tmp_path))
    assert [r["values"] for r in drawn["rows"]] == [r["values"] for r in plain["rows"]]
    path = tmp_path / "digits-cnn_seed0.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {path}" in capsys.readouterr().out


def test_claims_compare_means_to_a_threshold_or_a_baseline():
    rows = [{"method": "new", "metric": "acc", "mean": 0.9},
            {"method": "old", "metric": "acc", "mean": 0.7}]
    assert Claim("new", "acc", at_least=0.85, source="lecture").check(rows)[0]
    assert not Claim("new", "acc", at_least=0.95, source="lecture").check(rows)[0]
    holds, text = Claim("new", "acc", 0.1, baseline="old", source="lecture").check(rows)
    assert holds and "new acc - old >= 0.1: +0.2000 (holds)" == text
    assert not Claim("new", "acc", 0.25, baseline="old", source="lecture").check(rows)[0]
    with pytest.raises(ValueError, match="needs a source"):
        Claim("new", "acc", 0.25, baseline="old")


def test_result_lists_each_claim_and_whether_it_held():
    toy = Experiment("toy", "none", "a toy", _toy, options=TOY.options,
                     claims=(Claim("a", "score", at_least=5.0, source="lecture"),
                             Claim("a", "score", at_least=1.0, baseline="b",
                                   source="engine check")))
    result = toy.run(seeds=(2,))  # a = 4.0, b = 1.0
    assert [c["holds"] for c in result["claims"]] == [False, True]


def test_progress_draws_a_bar_on_a_terminal_and_stage_lines_elsewhere():
    import io

    from tlcore.experiments.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log = io.StringIO()
    progress = Progress(log, width=4)
    progress.stage("digits-cnn seed 0 (1/1)")
    progress.update("cnn epoch", 1, 2)
    progress.close()
    assert log.getvalue() == "digits-cnn seed 0 (1/1)\n"  # no bar in a log

    screen = Terminal()
    progress = Progress(screen, width=4)
    progress.stage("digits-cnn seed 0 (1/1)")
    progress.update("cnn epoch", 1, 2)
    assert "\rdigits-cnn seed 0 (1/1)  cnn epoch [##..] 1/2" in screen.getvalue()
    progress.close()
    assert screen.getvalue().endswith("\r\x1b[K")


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_can_draw_its_figures(name):
    plot = [option for option in experiments.get(name).options if option.name == "plot"]
    assert plot and plot[0].default == "", f"{name} has no --plot DIR option"


@pytest.mark.parametrize("name", experiments.names())
def test_every_claim_names_its_source(name):
    from tlcore.experiments.experiment import CLAIM_SOURCES
    for claim in experiments.get(name).claims:
        assert claim.source in CLAIM_SOURCES or " et al. " in claim.source, claim


@pytest.mark.parametrize("name", experiments.names())
def test_quick_values_are_options_of_the_experiment(name):
    experiment = experiments.get(name)
    experiment.resolve(experiment.quick)  # an unknown name or a bad value: ValueError


UNBOUNDED = {"angle"}  # a rotation takes any sign


@pytest.mark.parametrize("name", experiments.names())
def test_every_numeric_option_refuses_a_negative_value_before_training(name):
    experiment = experiments.get(name)
    for option in experiment.options:
        if option.type not in (int, float) or option.name in UNBOUNDED:
            continue
        with pytest.raises(ValueError, match=option.name):
            experiment.resolve({option.name: -1})
