"""Domain-adversarial training (tlcore.transfer.dann): the gradient through the reversal
layer, the schedules, the training step, and the dann-moons and dann-digits experiments."""

import builtins

import numpy as np
import pytest

import tlcore
from tlcore import cli, experiments, nn, no_grad, optim
from tlcore.experiments.experiment import MissingExtra
from tlcore.transfer.dann import DANN, annealed_lr, grl_lambda, train_dann

MATPLOTLIB = "the figures need matplotlib (pip install 'tlcore[plot]')"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_dann(seed=0, dtype=np.float64):
    """G_f: 3 -> 4 tanh (smooth: no kink for finite differences to straddle), G_y: 4 -> 3
    classes, G_d: 4 -> 1 domain logit."""
    tlcore.manual_seed(seed)
    model = DANN(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), nn.Linear(4, 3), nn.Linear(4, 1))
    return model.to(dtype)


def batches(seed=1, n_source=5, n_target=4):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_source, 3)), rng.integers(0, 3, n_source),
            rng.standard_normal((n_target, 3)))


def finite_difference(objective, params, eps=1e-6):
    """Central differences of the scalar ``objective()`` with respect to each element of
    each parameter, in float64, perturbing the parameters in place."""
    grads = []
    for param in params:
        grad = np.zeros(param.shape)
        for index in np.ndindex(param.shape):
            saved = param.data[index]
            param.data[index] = saved + eps
            up = objective()
            param.data[index] = saved - eps
            down = objective()
            param.data[index] = saved
            grad[index] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("lambda_, weight", [(1.0, 1.0), (0.37, 1.0), (2.0, 0.6), (0.0, 1.0)])
def test_gradient_through_the_reversal_is_the_adversarial_objective(lambda_, weight):
    """One backward pass of L_y + w L_d through the GRL gives the feature extractor the
    gradient of L_y - lambda w L_d, the domain classifier that of +w L_d and the label
    predictor that of L_y: each checked against finite differences of that objective."""
    model = small_dann()
    x_source, y_source, x_target = batches()
    model.grl.lambda_ = lambda_
    label_loss, domain_loss, _ = model.losses(x_source, y_source, x_target)
    model.zero_grad()
    (label_loss + domain_loss * weight).backward()

    def terms():
        with no_grad():
            label, domain, _ = model.losses(x_source, y_source, x_target)
        return float(label.data), float(domain.data)

    def feature_objective():
        label, domain = terms()
        return label - lambda_ * weight * domain

    def domain_objective():
        return weight * terms()[1]

    def label_objective():
        return terms()[0]

    for part, objective in ((model.feature_extractor, feature_objective),
                            (model.domain_classifier, domain_objective),
                            (model.label_predictor, label_objective)):
        params = list(part.parameters())
        expected = finite_difference(objective, params)
        for param, grad in zip(params, expected):
            np.testing.assert_allclose(param.grad, grad, rtol=1e-5, atol=1e-8)


def test_the_reversal_is_not_the_plain_gradient():
    """The feature gradient is NOT that of the loss the forward computes (L_y + L_d):
    the reversal flips the domain term's part of it."""
    model = small_dann()
    x_source, y_source, x_target = batches()
    label_loss, domain_loss, _ = model.losses(x_source, y_source, x_target)
    (label_loss + domain_loss).backward()
    reversed_grad = model.feature_extractor[0].weight.grad.copy()
    model.grl.lambda_ = -1.0  # a reversal by -1 is the plain gradient
    model.zero_grad()
    label_loss, domain_loss, _ = model.losses(x_source, y_source, x_target)
    (label_loss + domain_loss).backward()
    assert not np.allclose(reversed_grad, model.feature_extractor[0].weight.grad)


def test_grl_lambda_schedule_at_known_values():
    assert grl_lambda(0.0) == 0.0
    assert grl_lambda(0.1) == pytest.approx(0.462, abs=5e-4)
    assert grl_lambda(0.5) == pytest.approx(0.987, abs=5e-4)
    assert grl_lambda(1.0) == pytest.approx(2 / (1 + np.exp(-10)) - 1)
    assert grl_lambda(0.1, gamma=5) == pytest.approx(2 / (1 + np.exp(-0.5)) - 1)
    values = [grl_lambda(p) for p in np.linspace(0, 1, 11)]
    assert values == sorted(values)  # it only grows


def test_annealed_lr_schedule_at_known_values():
    assert annealed_lr(0.0, 0.01) == 0.01
    assert annealed_lr(1.0, 0.01) == pytest.approx(0.01 / 11 ** 0.75)
    assert annealed_lr(0.5, 0.01) == pytest.approx(0.01 / 6 ** 0.75)
    assert annealed_lr(0.5, 0.1, alpha=2, beta=1) == pytest.approx(0.05)


@pytest.mark.parametrize("call, message", [
    (lambda: grl_lambda(1.5), "p .* must be a number in \\[0, 1\\]"),
    (lambda: grl_lambda(-0.1), "p .* must be a number in \\[0, 1\\]"),
    (lambda: grl_lambda(0.5, gamma=0), "gamma must be a finite number > 0"),
    (lambda: grl_lambda(0.5, gamma=True), "gamma must be a finite number > 0"),
    (lambda: annealed_lr("half", 0.01), "p .* must be a number"),
    (lambda: annealed_lr(0.5, -1.0), "lr0 must be a finite number >= 0"),
    (lambda: annealed_lr(0.5, float("inf")), "lr0 must be a finite number >= 0"),
    (lambda: annealed_lr(0.5, 0.01, beta=True), "beta must be a finite number >= 0"),
])
def test_schedules_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_lambda_changes_between_steps_without_rebuilding():
    """The domain term's gradient to the features scales with -lambda, whatever lambda
    the model was built with; the domain classifier's own gradient does not change."""
    model = small_dann()
    x_source, y_source, x_target = batches()

    def domain_gradients(lambda_):
        model.grl.lambda_ = lambda_
        model.zero_grad()
        model.losses(x_source, y_source, x_target)[1].backward()
        return (model.feature_extractor[0].weight.grad.copy(),
                model.domain_classifier.weight.grad.copy())

    plain_features, plain_domain = domain_gradients(-1.0)  # -(-1) g: the plain gradient
    for lambda_ in (1.0, 0.25, 0.0, 3.0):
        features_grad, domain_grad = domain_gradients(lambda_)
        np.testing.assert_allclose(features_grad, -lambda_ * plain_features, rtol=1e-10,
                                   atol=1e-15)
        np.testing.assert_array_equal(domain_grad, plain_domain)
    with pytest.raises(ValueError, match="lambda_ must be a finite number"):
        model.grl.lambda_ = float("nan")
    with pytest.raises(ValueError, match="lambda_ must be a finite number"):
        nn.GradientReversal("one")
    assert model.grl.lambda_ == 3.0  # a refused value leaves the last one


def test_training_step_sets_lambda_and_reports_diagnostics():
    model = small_dann()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    stats = model.training_step(optimizer, *batches(), lambda_=0.3)
    assert model.grl.lambda_ == 0.3 and stats["lambda"] == 0.3
    assert set(stats) == {"label_loss", "domain_loss", "domain_acc", "lambda"}
    assert np.isfinite(stats["label_loss"]) and np.isfinite(stats["domain_loss"])
    assert 0.0 <= stats["domain_acc"] <= 1.0
    assert model.training_step(optimizer, *batches(), adversarial=False)["lambda"] == 0.0
    assert model.grl.lambda_ == 0.3  # the source-only step leaves the GRL as it found it


def test_source_only_step_ignores_the_target():
    """With the adversarial term off, the features and the label predictor learn from the
    source labels alone: two different target batches give the same parameters. (The
    domain classifier, a probe, does see them.) With it on, the target matters."""
    x_source, y_source, x_target = batches()
    other_target = batches(seed=9)[2]

    def after_step(target, adversarial):
        model = small_dann()
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            model.training_step(optimizer, x_source, y_source, target, lambda_=1.0,
                                adversarial=adversarial)
        return model

    a, b = after_step(x_target, False), after_step(other_target, False)
    for part in ("feature_extractor", "label_predictor"):
        for p, q in zip(getattr(a, part).parameters(), getattr(b, part).parameters()):
            np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.domain_classifier.weight.data, b.domain_classifier.weight.data)
    c, d = after_step(x_target, True), after_step(other_target, True)
    assert not np.array_equal(c.feature_extractor[0].weight.data,
                              d.feature_extractor[0].weight.data)


def test_domain_weight_scales_the_domain_term():
    """domain_weight 0 leaves only the label loss: the domain classifier gets no update."""
    model = small_dann()
    before = model.domain_classifier.weight.data.copy()
    model.training_step(optim.SGD(model.parameters(), lr=0.1), *batches(), domain_weight=0.0)
    np.testing.assert_array_equal(model.domain_classifier.weight.data, before)
    with pytest.raises(ValueError, match="domain_weight must be a number >= 0"):
        model.training_step(optim.SGD(model.parameters(), lr=0.1), *batches(),
                            domain_weight=-1)


def test_dann_checks_its_parts():
    with pytest.raises(TypeError, match="domain_classifier must be an nn.Module"):
        DANN(nn.Linear(3, 4), nn.Linear(4, 2), lambda h: h)
    model = DANN(nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(4, 2))  # two domain outputs
    with pytest.raises(ValueError, match="one logit per sample"):
        model.domain_logit(np.zeros((2, 3), np.float32))


def test_annealing_keeps_each_param_groups_own_rate():
    """Per-group rates (e.g. a smaller one for a pre-trained extractor) keep their ratio."""
    rng = np.random.default_rng(4)
    X_source = rng.standard_normal((16, 3)).astype(np.float32)
    y_source = (X_source[:, 0] > 0).astype(np.int64)
    model = small_dann(dtype=np.float32)
    features_ = list(model.feature_extractor.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in features_)]
    optimizer = optim.SGD([{"params": features_, "lr": 0.01}, {"params": rest, "lr": 0.1}])
    train_dann(model, optimizer, X_source, y_source, X_source + 1.0, epochs=2, batch_size=8)
    p = 3 / 4  # the last of 4 steps
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [annealed_lr(p, 0.01), annealed_lr(p, 0.1)])


def test_train_dann_follows_the_schedules_and_learns():
    """Epoch diagnostics, lambda and lr on their schedules, and a separable source learnt."""
    rng = np.random.default_rng(3)
    X_source = rng.standard_normal((40, 3)).astype(np.float32)
    y_source = (X_source[:, 0] > 0).astype(np.int64) + (X_source[:, 1] > 0.5)
    X_target = (rng.standard_normal((30, 3)) + 0.5).astype(np.float32)
    model = small_dann(dtype=np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train_dann(model, optimizer, X_source, y_source, X_target, epochs=15,
                         batch_size=8, lambda_max=0.5)
    assert len(history) == 15
    assert set(history[0]) == {"label_loss", "domain_loss", "domain_acc", "lambda", "lr"}
    total = 15 * 5  # steps; the last one is at p = 74 / 75
    assert history[-1]["lambda"] == pytest.approx(0.5 * grl_lambda((total - 1) / total))
    assert history[-1]["lr"] == pytest.approx(annealed_lr((total - 1) / total, 0.1))
    assert history[-1]["label_loss"] < history[0]["label_loss"]
    with pytest.raises(ValueError, match="X_source and y_source must hold as many samples"):
        train_dann(model, optimizer, X_source, y_source[:-1], X_target, epochs=1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train_dann(model, optimizer, X_source, y_source, X_target, epochs=0)


def test_dann_moons_runs_and_is_repeatable():
    first = experiments.run("dann-moons", seeds=(0,), epochs=3)
    again = experiments.run("dann-moons", seeds=(0,), epochs=3)
    assert [(r["method"], r["metric"]) for r in first["rows"]] == [
        (method, metric) for method in ("source-only", "dann")
        for metric in ("target_acc", "source_acc", "domain_acc")]
    assert [r["values"] for r in first["rows"]] == [r["values"] for r in again["rows"]]
    assert all(0.0 <= r["mean"] <= 1.0 for r in first["rows"])
    assert len(first["claims"]) == 2
    ganin = experiments.run("dann-moons", seeds=(1,), epochs=2, arch="ganin", angle=30,
                            center="mean")
    assert ganin["options"]["arch"] == "ganin" and len(ganin["rows"]) == 6


def test_dann_digits_runs():
    result = experiments.run("dann-digits", seeds=(0,), epochs=3, batch_size=128, lr=0.1)
    assert {(r["method"], r["metric"]) for r in result["rows"]} == {
        (m, k) for m in ("source-only", "dann")
        for k in ("target_acc", "source_acc", "domain_acc")}
    assert result["rows"][1]["mean"] > 0.3  # three epochs already beat chance (0.1)


def test_moons_target_is_the_rotated_sample():
    from tlcore.datasets import rotate
    from tlcore.experiments.dann_moons import moons_domains
    data = moons_domains(0, 35.0)
    unrotated = moons_domains(0, 0.0)
    np.testing.assert_allclose(data["target"][0], rotate(unrotated["target"][0], 35.0,
                                                         center=(0, 0)), atol=1e-6)
    np.testing.assert_array_equal(data["source"][0], unrotated["source"][0])


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(MissingExtra, match=r"pip install 'tlcore\[plot\]'"):
        experiments.run("dann-moons", seeds=(0,), epochs=1, plot=str(tmp_path / "figs"))
    assert not (tmp_path / "figs").exists()  # refused before training, nothing written
    # the command prints the message (exit status 2), not a traceback
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "dann-moons", "--seeds", "0", "--epochs", "1", "--quiet",
                  "--plot", str(tmp_path / "figs")])
    assert exit_.value.code == 2
    assert "pip install 'tlcore[plot]'" in capsys.readouterr().err


def test_pca_2d_keeps_the_two_main_directions():
    from tlcore.experiments.figures import pca_2d
    rng = np.random.default_rng(0)
    plane = rng.standard_normal((50, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.standard_normal((5, 2)))[0]  # a plane in 5-D
    projected = pca_2d(plane @ basis.T)
    # Distances within the plane survive the projection (PCA only rotates it).
    centred = plane - plane.mean(axis=0)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1),
                               np.linalg.norm(centred, axis=1), rtol=1e-10)
    assert projected[:, 0].var() > projected[:, 1].var()


def test_plot_writes_the_lecture_picture(tmp_path):
    """matplotlib is in the [dev] extra, so the drawing itself runs in the tests."""
    plotted = experiments.run("dann-moons", seeds=(0,), epochs=1, plot=str(tmp_path / "figs"))
    picture = tmp_path / "figs" / "dann-moons_seed0.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the training curves too, and the same numbers as without --plot
    training = tmp_path / "figs" / "dann-moons-training_seed0.png"
    assert training.read_bytes()[:8] == PNG_SIGNATURE
    assert plotted["rows"] == experiments.run("dann-moons", seeds=(0,), epochs=1)["rows"]


def shown_colours(collection):
    """The RGBA colours a scatter draws its markers with (face and edge)."""
    return {tuple(np.round(colour, 6)) for colour in
            list(collection.get_facecolor()) + list(collection.get_edgecolor())}


def test_moons_legend_shows_the_colour_and_marker_of_its_points():
    """Each legend entry of the boundary panels stands for one scatter: the points of one
    domain and one class, drawn in the entry's colour with the entry's marker."""
    pytest.importorskip("matplotlib", reason=MATPLOTLIB)
    from matplotlib.colors import to_rgba

    from tlcore.experiments import dann_moons, dann_plot
    data = dann_moons.moons_domains(0, 35.0)
    options = dann_moons.EXPERIMENT.resolve({"epochs": 1})
    tlcore.manual_seed(0)
    models = {method: dann_moons.make_relu_dann() for method in ("source-only", "dann")}
    figure = dann_plot.draw_moons(models, data, options, 0, "tlcore run dann-moons")
    for axis in figure.axes[:2]:  # the top row: source-only, DANN
        legend = axis.get_legend()
        labels = [text.get_text() for text in legend.get_texts()]
        assert len(labels) == 4
        scatters = {collection.get_label(): collection for collection in axis.collections}
        markers = {}
        for handle, label in zip(legend.legend_handles, labels):
            domain = "source" if label.startswith("source") else "target"
            class_ = int(label[-1])
            X, y = data[domain]
            points = scatters[label]
            np.testing.assert_allclose(points.get_offsets(), X[y == class_])
            expected = tuple(np.round(to_rgba(dann_plot.CLASS_COLOURS[class_]), 6))
            assert shown_colours(handle) == shown_colours(points) == {expected}
            np.testing.assert_allclose(handle.get_paths()[0].vertices,
                                       points.get_paths()[0].vertices)
            markers.setdefault(domain, handle.get_paths()[0].vertices)
        assert markers["source"].shape != markers["target"].shape  # circles vs crosses
    assert "tlcore run dann-moons" in figure.get_suptitle()


def test_training_figure_draws_the_history():
    """The training figure's lines are the history's domain_acc and lambda, epoch by epoch."""
    pytest.importorskip("matplotlib", reason=MATPLOTLIB)
    from tlcore.experiments import dann_plot
    histories = {"source-only": [{"domain_acc": a, "lambda": 0.0} for a in (0.9, 0.8, 0.85)],
                 "dann": [{"domain_acc": a, "lambda": grl_lambda(p)}
                          for a, p in ((0.9, 0.3), (0.6, 0.6), (0.5, 0.9))]}
    figure = dann_plot.draw_training(histories, {"lambda_max": 1.0}, 0, "dann-moons", "cmd")
    accuracy_axis, lambda_axis = figure.axes[:2]
    for axis, key in ((accuracy_axis, "domain_acc"), (lambda_axis, "lambda")):
        lines = {line.get_label(): line for line in axis.get_lines()}
        for method, title in (("source-only", "source only"), ("dann", "DANN")):
            line = next(line for label, line in lines.items() if label.startswith(title))
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
            np.testing.assert_allclose(line.get_ydata(), [h[key] for h in histories[method]])


def test_command_line_names_the_options_not_at_their_defaults():
    from tlcore.experiments import dann_digits, dann_moons
    options = dann_moons.EXPERIMENT.resolve({"angle": 30, "arch": "ganin", "plot": "figs"})
    assert dann_moons.EXPERIMENT.command_line(options, (2,)) == \
        "tlcore run dann-moons --seeds 2 --angle 30 --arch ganin --plot DIR"
    options = dann_digits.EXPERIMENT.resolve({"plot": "figs"})
    assert dann_digits.EXPERIMENT.command_line(options, (0,)) == \
        "tlcore run dann-digits --seeds 0 --plot DIR"


def test_dann_digits_plot_writes_its_figures_and_keeps_the_rows(tmp_path):
    pytest.importorskip("matplotlib", reason=MATPLOTLIB)
    options = dict(seeds=(0,), epochs=1, batch_size=512)
    plotted = experiments.run("dann-digits", plot=str(tmp_path), **options)
    assert plotted["rows"] == experiments.run("dann-digits", **options)["rows"]
    figures = ["dann-digits-features_seed0.png", "dann-digits-training_seed0.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == figures
    for figure in figures:
        assert (tmp_path / figure).read_bytes()[:8] == PNG_SIGNATURE
