"""The figures of ``tlcore run dann-moons --plot DIR`` and ``tlcore run dann-digits
--plot DIR``, one set per seed.

- ``dann-moons_seed{seed}.png``, the picture of the DANN slide. Top row: the decision
  boundary of the source-only model and of DANN over the plane, with the labelled source
  points (circles) and the target points (crosses, coloured by their true class, which
  training never saw). Bottom row: each model's hidden features of source and target
  points, projected on their first two principal components and coloured by domain: two
  separate clouds before adaptation, one mixed cloud after.
- ``dann-digits-features_seed{seed}.png``: that bottom row for the digits.
- ``dann-{moons,digits}-training_seed{seed}.png``: the adversarial game over training,
  epoch by epoch: the domain classifier's accuracy on its training batches (left) and
  lambda_p, the weight of the reversed gradient (right), for both methods.

matplotlib is imported only when a figure is asked for (``figures.new_figure``).
"""

import numpy as np

from tlcore.autograd import no_grad
from tlcore.experiments.figures import new_figure, pca_2d, save_figure
from tlcore.transfer.dann import features

CLASS_COLOURS = ("tab:red", "tab:blue")  # moons class 0, class 1
# domain -> (marker, size, what its points are)
DOMAIN_MARKERS = {"source": ("o", 14, "source (labelled)"),
                  "target": ("x", 16, "target (label unseen in training)")}
DOMAIN_COLOURS = {"source": "tab:green", "target": "tab:purple"}
METHOD_COLOURS = {"source-only": "tab:orange", "dann": "tab:blue"}
METHOD_TITLES = {"source-only": "source only", "dann": "DANN"}


def class_one_probability(model, grid):
    """p(class 1 | x) of ``model`` at each row of ``grid``."""
    model.eval()
    with no_grad():
        logits = model(grid.astype(np.float32)).numpy().astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs[:, 1] / probs.sum(axis=1)


def domain_accuracy(model, points, n_source):
    """How often the model's domain classifier tells the domain of ``points`` (the first
    ``n_source`` from the source, the rest from the target): 0.5 is chance."""
    model.eval()
    with no_grad():
        says_target = model.domain_logit(points.astype(np.float32)).numpy() > 0
    return float(np.mean(says_target == (np.arange(len(points)) >= n_source)))


def scatter_by_class(axis, points, labels, domain):
    """The points of one domain, one scatter per class so that each legend entry has the
    colour and the marker of its points."""
    marker, size, what = DOMAIN_MARKERS[domain]
    for label, colour in enumerate(CLASS_COLOURS):
        chosen = points[labels == label]
        if marker == "x":  # a line marker: it has no face, its colour is its edge
            axis.scatter(*chosen.T, s=size, marker=marker, c=colour, linewidths=0.8,
                         label=f"{what}, class {label}")
        else:
            axis.scatter(*chosen.T, s=size, marker=marker, c=colour, edgecolors="none",
                         label=f"{what}, class {label}")


def draw_features_by_domain(axis, model, X_source, X_target, title):
    """The model's hidden features of both domains on their first two principal
    components, coloured by domain, titled with the domain classifier's accuracy on them."""
    both = np.concatenate([X_source, X_target])
    n = len(X_source)
    projected = pca_2d(features(model, both).reshape(len(both), -1).astype(np.float64))
    axis.scatter(*projected[:n].T, s=10, c=DOMAIN_COLOURS["source"], alpha=0.6,
                 label="source")
    axis.scatter(*projected[n:].T, s=10, c=DOMAIN_COLOURS["target"], alpha=0.6,
                 label="target")
    axis.set_title(f"{title}: hidden features (2-D PCA) by domain\n"
                   f"domain classifier accuracy {domain_accuracy(model, both, n):.2f}",
                   fontsize=10)
    axis.legend(loc="best", fontsize=8)


def draw_moons(models, data, options, seed, command):
    """The figure of ``plot_moons``, not saved (tests read its legends)."""
    (X_source, y_source), (X_target, y_target) = data["source"], data["target"]
    both = np.concatenate([X_source, X_target])
    low, high = both.min(axis=0) - 0.5, both.max(axis=0) + 0.5
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)

    figure = new_figure(11, 10.5)
    axes = figure.subplots(2, 2)
    for column, method in enumerate(("source-only", "dann")):
        model, title = models[method], METHOD_TITLES[method]
        top = axes[0, column]
        p = class_one_probability(model, grid).reshape(xs.shape)
        top.contourf(xs, ys, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.35)
        top.contour(xs, ys, p, levels=[0.5], colors="k", linewidths=1.5)
        scatter_by_class(top, X_source, y_source, "source")
        scatter_by_class(top, X_target, y_target, "target")
        target_acc = float(np.mean((class_one_probability(model, X_target) > 0.5) == y_target))
        top.set_title(f"{title}: decision boundary (black)\n"
                      f"accuracy on these target points {target_acc:.2f}", fontsize=10)
        top.legend(loc="lower left", fontsize=7, markerscale=1.5)
        top.set_aspect("equal")
        draw_features_by_domain(axes[1, column], model, X_source, X_target, title)
    figure.suptitle(f"dann-moons, seed {seed}: decision boundaries (top) and hidden features "
                    f"by domain (bottom), target turned {options['angle']:g} degrees, "
                    f"{options['arch']} network\n{command}", fontsize=11)
    return figure


def plot_moons(models, data, options, seed, command):
    """Write ``dann-moons_seed{seed}.png`` in ``options["plot"]``; return its path.

    ``models``: {"source-only": model, "dann": model}; ``data``: moons_domains' dict;
    ``command``: the command line, for the title.
    """
    figure = draw_moons(models, data, options, seed, command)
    return save_figure(figure, options["plot"], f"dann-moons_seed{seed}.png")


def plot_features(name, models, data, options, seed, command):
    """Write ``{name}-features_seed{seed}.png``: each model's hidden features of the
    source and target training points by domain; return its path."""
    (X_source, _), (X_target, _) = data["source"], data["target"]
    figure = new_figure(11, 5.5)
    for axis, method in zip(figure.subplots(1, 2), ("source-only", "dann")):
        draw_features_by_domain(axis, models[method], X_source, X_target,
                                METHOD_TITLES[method])
    figure.suptitle(f"{name}, seed {seed}: hidden features of source and target by domain, "
                    f"before (source only) and after (DANN) adaptation\n{command}",
                    fontsize=11)
    return save_figure(figure, options["plot"], f"{name}-features_seed{seed}.png")


def draw_training(histories, options, seed, name, command):
    """The figure of ``plot_training``, not saved."""
    figure = new_figure(11, 4.8)
    accuracy_axis, lambda_axis = figure.subplots(1, 2, sharex=True)
    accuracy_axis.axhline(0.5, color="black", linestyle=":", linewidth=1,
                          label="chance: the domains cannot be told apart")
    for method, history in histories.items():
        epochs = np.arange(1, len(history) + 1)
        colour, title = METHOD_COLOURS[method], METHOD_TITLES[method]
        accuracy_axis.plot(epochs, [h["domain_acc"] for h in history], color=colour,
                           linewidth=1.6, label=title)
        lambda_axis.plot(epochs, [h["lambda"] for h in history], color=colour,
                         linewidth=1.6, label=title + (" (no reversal: 0)"
                                                       if method == "source-only" else ""))
    accuracy_axis.set_title("domain classifier's accuracy on its training batches\n"
                            "(mean over each epoch)", fontsize=10)
    accuracy_axis.set_ylabel("domain accuracy")
    accuracy_axis.set_ylim(0, 1.02)
    lambda_axis.set_title(f"lambda_p = {options['lambda_max']:g} * (2 / (1 + exp(-10 p)) - 1): "
                          f"the reversed\ngradient's weight (at each epoch's last step)",
                          fontsize=10)
    lambda_axis.set_ylabel("lambda_p")
    total = len(next(iter(histories.values())))  # epochs
    for axis in (accuracy_axis, lambda_axis):
        axis.set_xlabel("epoch")
        top = axis.secondary_xaxis("top", functions=(lambda e: e / total, lambda p: p * total))
        top.set_xlabel("training progress p", fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=8)
    figure.suptitle(f"{name}, seed {seed}: the domain classifier against the features over "
                    f"training\n{command}", fontsize=11)
    return figure


def plot_training(histories, options, seed, name, command):
    """Write ``{name}-training_seed{seed}.png`` in ``options["plot"]``; return its path.

    ``histories``: {"source-only": train_dann's history, "dann": its history}.
    """
    figure = draw_training(histories, options, seed, name, command)
    return save_figure(figure, options["plot"], f"{name}-training_seed{seed}.png")
