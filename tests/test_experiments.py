"""The experiment contract (tlcore.experiments) and the digits-cnn experiment."""

import numpy as np
import pytest

from tlcore import experiments
from tlcore.experiments.experiment import Experiment, Option


def _toy(seed, options, progress):
    return [("a", "score", seed * options["scale"]), ("b", "score", 1.0)]


TOY = Experiment("toy", "none", "a toy", _toy, options=(Option("scale", float, 2.0, "scale"),))


def test_result_rows_gather_one_value_per_seed():
    result = TOY.run(seeds=(1, 2, 3))
    assert set(result) == {"experiment", "options", "seeds", "seconds", "rows"}
    assert result["options"] == {"scale": 2.0} and result["seeds"] == [1, 2, 3]
    a, b = result["rows"]
    assert (a["method"], a["metric"], a["values"]) == ("a", "score", [2.0, 4.0, 6.0])
    assert a["mean"] == pytest.approx(4.0) and a["std"] == pytest.approx(2.0)  # sample std
    assert b["std"] == 0.0


def test_options_are_checked_and_converted():
    assert TOY.run(seeds=(1,), scale="3")["rows"][0]["values"] == [3.0]
    with pytest.raises(ValueError, match="option 'scale' must be a float"):
        TOY.run(seeds=(1,), scale="big")
    with pytest.raises(ValueError, match="has no option 'shift'"):
        TOY.run(seeds=(1,), shift=1)
    with pytest.raises(ValueError, match="seeds must be"):
        TOY.run(seeds=())


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
