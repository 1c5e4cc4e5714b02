"""Self-taught learning and clustering: the autoencoder, its features, the unlabelled
source data, and the two experiments (tlcore.transfer.selftaught,
tlcore.experiments.self_taught, tlcore.experiments.self_taught_clustering)."""

import numpy as np
import pytest

from tlcore import experiments, manual_seed
from tlcore.random import get_rng_state
from tlcore.datasets import make_segment_patterns
from tlcore.datasets.segment_digits import SEGMENT_TABLE, other_patterns
from tlcore.experiments import self_taught
from tlcore.transfer.selftaught import (ConvAutoencoder, as_batch, encode_images,
                                        feature_extractor, reconstruction_error,
                                        train_autoencoder)


def _figures(n=60, seed=0):
    return make_segment_patterns(n, seed=seed, size=12, scale=0.7, shift=0.05)


def test_the_autoencoder_maps_an_image_to_a_quarter_sized_code_and_back():
    manual_seed(0)
    autoencoder = ConvAutoencoder((3, 5))
    batch = as_batch(_figures(4))
    code = autoencoder.encoder(batch)
    assert code.shape == (4, 5, 3, 3) and autoencoder.code_size(12, 12) == 45
    assert autoencoder(batch).shape == batch.shape
    with pytest.raises(ValueError, match="channels must be two positive ints"):
        ConvAutoencoder((8,))
    with pytest.raises(ValueError, match="H and W multiples of 4"):
        as_batch(np.zeros((2, 10, 12)))
    with pytest.raises(ValueError, match=r"must be \(N, H, W\)"):
        as_batch(np.zeros((2, 1, 12, 12)))


def test_training_by_reconstruction_beats_the_mean_image_on_held_out_figures():
    manual_seed(0)
    train, test = _figures(300), _figures(40, seed=1)
    autoencoder = ConvAutoencoder((8, 8))
    before = reconstruction_error(autoencoder, test)
    losses = train_autoencoder(autoencoder, train, epochs=8, batch_size=20, lr=3e-3)
    after = reconstruction_error(autoencoder, test)
    mean_image = float(np.mean((test - train.mean(axis=0)) ** 2))
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert after < mean_image < before


def test_a_feature_extractor_is_a_copy_frozen_or_not_and_the_autoencoder_is_untouched():
    manual_seed(0)
    autoencoder = ConvAutoencoder((3, 4))
    weights = {k: v.copy() for k, v in autoencoder.state_dict().items()}
    frozen, tuned = feature_extractor(autoencoder), feature_extractor(autoencoder, True)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad for p in tuned.parameters())
    images = _figures(5)
    features = encode_images(frozen, images)
    assert features.shape == (5, 4 * 3 * 3) and features.dtype == np.float32
    np.testing.assert_array_equal(features, encode_images(tuned, images))
    for p in tuned.parameters():  # changing the copy leaves the autoencoder as it was
        p.data[...] = 0
    for key, value in autoencoder.state_dict().items():
        np.testing.assert_array_equal(value, weights[key])


def test_the_source_figures_are_unlabelled_and_none_is_a_digit():
    table = other_patterns()
    digits = {tuple(row) for row in SEGMENT_TABLE.tolist()}
    assert table.shape == (110, 7) and table.sum(axis=1).min() >= 2
    assert not digits & {tuple(row) for row in table.tolist()}
    images = make_segment_patterns(7, seed=3, size=16, scale=0.6, shift=0.1)
    assert isinstance(images, np.ndarray)  # images alone: no labels come back
    assert images.shape == (7, 16, 16) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, make_segment_patterns(7, seed=3, size=16,
                                                                scale=0.6, shift=0.1))
    for bad, match in (({"n": 0}, "n must be an integer >= 1"),
                       ({"n": 2, "scale": 0}, "scale must be a number in"),
                       ({"n": 2, "shift": 0.5}, "shift must be a finite number")):
        with pytest.raises(ValueError, match=match):
            make_segment_patterns(**bad)


@pytest.mark.parametrize("data", ["segments", "digits"])
def test_no_source_label_reaches_the_training(monkeypatch, data):
    """The autoencoder is given the source images and nothing else: on the digits, the
    images of 0-4 (their labels dropped), never one of the target's 5-9."""
    given = []
    real = self_taught.train_autoencoder

    def recording(autoencoder, images, *args, **kwargs):
        given.append(images)
        return real(autoencoder, images, *args, **kwargs)
    monkeypatch.setattr(self_taught, "train_autoencoder", recording)
    manual_seed(0)
    source, images, labels = self_taught.source_and_target(data, 30)
    assert isinstance(source, np.ndarray) and source.ndim == 3
    self_taught.learn_features(source, {"epochs": 1, "channels": "2,2", "ae_batch_size": 25,
                                        "ae_lr": 3e-3})
    (seen,) = given
    assert isinstance(seen, np.ndarray) and seen.ndim == 3
    assert len(seen) == len(source) - len(source) // 10
    if data == "digits":  # every image the autoencoder saw is a source image
        from tlcore.datasets import digits_world
        world = digits_world()
        target_rows = {image.tobytes() for image in world.images[world.labels >= 5]}
        assert not any(image.tobytes() in target_rows for image in seen)
    assert set(np.unique(labels)) == set(range(10 if data == "segments" else 5))


TINY = dict(unlabelled=40, epochs=1, channels="2,4")


def test_self_taught_runs_every_method_at_every_shot_count_and_repeats():
    result = experiments.run("self-taught", seeds=(0,), shots="1,2", steps=3, **TINY)
    rows = {(row["method"], row["metric"]): row["values"][0] for row in result["rows"]}
    expected = {(m, f"target_acc_{k}shot") for m in self_taught.METHODS for k in (1, 2)}
    assert set(rows) == expected | {("autoencoder", "heldout_mse"), ("mean-image", "heldout_mse")}
    assert all(0 <= value <= 1 for (_, metric), value in rows.items() if "acc" in metric)
    assert len(result["claims"]) == 3  # all three are on the 1-shot accuracy
    again = experiments.run("self-taught", seeds=(0,), shots="1,2", steps=3, **TINY)
    assert [r["values"] for r in again["rows"]] == [r["values"] for r in result["rows"]]
    without_one = experiments.run("self-taught", seeds=(0,), shots="2", steps=3, **TINY)
    assert without_one["claims"] == []  # a claim on a metric not measured is left out


def test_self_taught_options_are_checked_before_training():
    experiment = experiments.get("self-taught")
    for given, match in (({"shots": "1,x"}, "option 'shots'"), ({"shots": "0"}, "option 'shots'"),
                         ({"shots": "51"}, "at most 50 with --data segments"),
                         ({"channels": "8"}, "option 'channels'"),
                         ({"channels": "8,32"}, "no larger than the image")):
        with pytest.raises(ValueError, match=match):
            experiment.resolve(given)
    assert experiment.resolve({"shots": "10,1,3,3"})["shots"] == "10,1,3,3"
    assert self_taught.parse_shots("10,1,3,3") == (1, 3, 10)
    assert experiments.run("self-taught", seeds=(0,), data="digits", shots="1", steps=2,
                           **TINY)["notes"][0].startswith("--data digits")


def test_self_taught_draws_its_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    experiments.run("self-taught", seeds=(0,), shots="1", steps=2, plot=str(tmp_path), **TINY)
    (path,) = tmp_path.iterdir()
    assert path.name == "self-taught-segments-autoencoder_seed0.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_self_taught_clustering_scores_three_spaces_against_the_hidden_labels():
    result = experiments.run("self-taught-clustering", seeds=(0,), per_class=4, restarts=2,
                             **TINY)
    rows = {(row["method"], row["metric"]): row["values"][0] for row in result["rows"]}
    for space in ("raw-pixels", "random-features", "self-taught"):
        assert 0 <= rows[(space, "nmi")] <= 1 and 0.1 <= rows[(space, "purity")] <= 1
    assert len(result["claims"]) == 2 and result["claims"][1]["source"] == "tlcore"
    with pytest.raises(ValueError, match="at most 100 with --data segments"):
        experiments.get("self-taught-clustering").resolve({"per_class": 101})


def test_self_taught_clustering_draws_each_space(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    plain = experiments.run("self-taught-clustering", seeds=(0,), per_class=3, restarts=1,
                            **TINY)
    drawn = experiments.run("self-taught-clustering", seeds=(0,), per_class=3, restarts=1,
                            plot=str(tmp_path), **TINY)
    assert [r["values"] for r in drawn["rows"]] == [r["values"] for r in plain["rows"]]
    (path,) = tmp_path.iterdir()
    assert path.name == "self-taught-clustering-segments_seed0.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_second_self_taught_experiment_copies_the_first_ones_autoencoder(monkeypatch):
    """In one process both experiments learn the same autoencoder for a seed and options:
    the second copies the first's (self_taught._LEARNED), with tlcore's generator put back
    where the training left it, and its results are the same, bit for bit, as training
    again. Each caller gets its own copy."""
    monkeypatch.setattr(self_taught, "_LEARNED", {})
    clustering = dict(seeds=(0,), per_class=4, restarts=2, **TINY)
    trained_again = experiments.run("self-taught-clustering", **clustering)
    trainings = []
    real = self_taught.train_autoencoder

    def counted(*args, **kwargs):
        trainings.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(self_taught, "train_autoencoder", counted)
    monkeypatch.setattr(self_taught, "_LEARNED", {})
    experiments.run("self-taught", seeds=(0,), shots="1", steps=3, **TINY)
    copied = experiments.run("self-taught-clustering", **clustering)
    assert trainings == [1]
    assert [row["values"] for row in copied["rows"]] == \
        [row["values"] for row in trained_again["rows"]]
    options = experiments.get("self-taught").resolve(dict(TINY))
    manual_seed(0)  # what begin_seed does when it trains, step by step
    source = self_taught.source_and_target(options["data"], options["unlabelled"])[0]
    self_taught.learn_features(source, options)
    after_training = get_rng_state()
    monkeypatch.setattr(self_taught, "_LEARNED", {})
    del trainings[:]
    first = self_taught.begin_seed(0, options, None)[2]  # trained
    assert get_rng_state() == after_training
    second = self_taught.begin_seed(0, options, None)[2]  # copied
    assert get_rng_state() == after_training and trainings == [1]
    assert first is not second
    for a, b in zip(first.parameters(), second.parameters()):
        assert a.data is not b.data and np.array_equal(a.data, b.data)
    monkeypatch.setattr(self_taught, "_LEARNED_MOST", 1)  # the newest alone is kept
    self_taught.begin_seed(1, options, None)
    assert [key[0] for key in self_taught._LEARNED] == [1]
