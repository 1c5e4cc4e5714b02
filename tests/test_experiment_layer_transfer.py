"""The layer-transfer experiment: both cases run at tiny options and repeat exactly, the
claims of the case that ran are the ones checked, bad options are refused before any
training, and --plot writes its two figures."""

import os

import numpy as np
import pytest

from tlcore import experiments
from tlcore.experiments.layer_transfer import (EXPERIMENT, METHODS, most_shots, new_speaker,
                                               parse_method)

TINY = dict(seeds=(0,), source_epochs=1, steps=2, shots="1,3")


def test_parse_method_says_what_is_copied_and_whether_it_is_frozen():
    assert parse_method("scratch") == (False, 0)
    assert parse_method("frozen-2") == (True, 2)
    assert parse_method("tuned-first-1") == (False, 1)
    assert parse_method("frozen-last-2") == (True, -2)


def test_a_new_speaker_moves_every_image_s_pixels_the_same_way():
    X = np.arange(2 * 64, dtype=np.float32).reshape(2, 1, 8, 8)
    permutation = np.random.default_rng(0).permutation(64)
    moved = new_speaker(X, permutation)
    assert moved.shape == X.shape
    np.testing.assert_array_equal(moved.reshape(2, 64), X.reshape(2, 64)[:, permutation])


@pytest.mark.parametrize("case", ["images", "speaker"])
def test_each_case_runs_every_method_at_every_shot_count_and_repeats_exactly(case):
    result = experiments.run("layer-transfer", case=case, **TINY)
    assert [(r["method"], r["metric"]) for r in result["rows"]] == \
        [(m, f"target_acc_{k}shot") for k in (1, 3) for m in METHODS[case]]
    assert all(0 <= r["mean"] <= 1 for r in result["rows"])
    again = experiments.run("layer-transfer", case=case, **TINY)
    assert [r["values"] for r in again["rows"]] == [r["values"] for r in result["rows"]]
    # the other case's claims, and the data rule at the most shots (60), are not measured
    checked = [(c["method"], c["metric"], c["baseline"]) for c in result["claims"]]
    if case == "images":
        assert checked == [("frozen-1", "target_acc_3shot", "frozen-2"),
                           ("tuned-2", "target_acc_3shot", "frozen-2"),
                           ("frozen-2", "target_acc_1shot", "tuned-2")]
    else:
        assert checked == [("frozen-last-2", "target_acc_3shot", "frozen-first-2"),
                           ("tuned-last-2", "target_acc_3shot", "tuned-first-2"),
                           ("frozen-last-2", "target_acc_3shot", "scratch"),
                           ("frozen-last-2", "target_acc_1shot", "tuned-last-2")]


def test_a_shot_count_gives_the_same_numbers_whatever_else_the_sweep_holds():
    alone = experiments.run("layer-transfer", case="speaker", **{**TINY, "shots": "3"})
    in_sweep = experiments.run("layer-transfer", case="speaker", **TINY)
    three = [r["values"] for r in in_sweep["rows"] if r["metric"] == "target_acc_3shot"]
    assert three == [r["values"] for r in alone["rows"]]


def test_train_acc_adds_the_accuracy_on_the_labelled_images():
    result = experiments.run("layer-transfer", train_acc=1, **{**TINY, "shots": "2"})
    assert [(r["method"], r["metric"]) for r in result["rows"]] == \
        [(m, "target_acc_2shot") for m in METHODS["images"]] + \
        [(m, "train_acc_2shot") for m in METHODS["images"]]


def test_the_default_shots_fit_both_cases_and_the_claims_name_measured_metrics():
    options = EXPERIMENT.resolve({})
    assert options["shots"] == "1,3,10,30,60" and options["case"] == "images"
    assert most_shots("images") >= 60 and most_shots("speaker") >= 60
    EXPERIMENT.resolve({"case": "speaker"})
    metrics = {f"target_acc_{k}shot" for k in (1, 3, 10, 30, 60)}
    assert {claim.metric for claim in EXPERIMENT.claims} <= metrics
    assert {claim.source for claim in EXPERIMENT.claims} == {"lecture", "Yosinski et al. 2014"}


@pytest.mark.parametrize("options, message", [
    (dict(case="audio"), "must be one of \\('images', 'speaker'\\)"),
    (dict(shots="0,3"), "positive integers separated by commas"),
    (dict(shots="three"), "positive integers separated by commas"),
    (dict(case="speaker", shots="1,100"), "at most 65 with --case speaker"),
    (dict(shots="200"), "at most 131 with --case images"),
    (dict(train_acc=2), "must be one of \\(0, 1\\)"),
    (dict(steps=0), "must be >= 1"),
    (dict(layers=2), "has no option 'layers'"),
])
def test_bad_options_are_refused_before_any_training(options, message):
    with pytest.raises(ValueError, match=message):
        EXPERIMENT.resolve(options)


def test_plot_writes_both_figures_under_300_kb(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (tlcore[plot])")
    experiments.run("layer-transfer", case="speaker", plot=str(tmp_path), **TINY)
    names = ["layer-transfer-speaker-layers.png", "layer-transfer-speaker-shots.png"]
    assert sorted(os.listdir(tmp_path)) == names
    printed = capsys.readouterr().out
    for name in names:
        assert 0 < os.path.getsize(tmp_path / name) < 300 * 1024
        assert f"wrote {tmp_path / name}" in printed
