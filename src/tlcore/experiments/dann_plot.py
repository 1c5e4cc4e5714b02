"""The picture of the DANN slide, for ``tlcore run dann-moons --plot DIR``.

Top row: the decision boundary of the source-only model and of DANN over the plane,
with the labelled source points (circles) and the target points (crosses, coloured by
their true class, which training never saw). Bottom row: each model's hidden features
of source and target points, projected on their first two principal components and
coloured by domain: two separate clouds before adaptation, one mixed cloud after.

matplotlib is imported only when a figure is asked for (``figures.require_matplotlib``).
"""

import os

import numpy as np

from tlcore import no_grad
from tlcore.experiments.figures import pca_2d, require_matplotlib
from tlcore.transfer.dann import features

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


def plot_moons(models, data, options, seed):
    """Write ``dann-moons_seed{seed}.png`` in ``options["plot"]``; return its path.

    ``models``: {"source-only": model, "dann": model}; ``data``: moons_domains' dict.
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    directory = options["plot"]
    os.makedirs(directory, exist_ok=True)
    (X_source, y_source), (X_target, y_target) = data["source"], data["target"]
    both = np.concatenate([X_source, X_target])
    low, high = both.min(axis=0) - 0.5, both.max(axis=0) + 0.5
    xs, ys = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    class_colours = np.array(["tab:red", "tab:blue"])
    n = len(X_source)

    figure = Figure(figsize=(11, 10), layout="constrained")
    axes = figure.subplots(2, 2)
    for column, (method, title) in enumerate((("source-only", "source only"),
                                              ("dann", "DANN"))):
        model = models[method]
        top = axes[0, column]
        p = class_one_probability(model, grid).reshape(xs.shape)
        top.contourf(xs, ys, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.35)
        top.contour(xs, ys, p, levels=[0.5], colors="k", linewidths=1.5)
        top.scatter(*X_source.T, c=class_colours[y_source], s=14, marker="o",
                    edgecolors="none", label="source (labelled)")
        top.scatter(*X_target.T, c=class_colours[y_target], s=16, marker="x", linewidths=0.8,
                    label="target (unlabelled in training)")
        target_acc = float(np.mean((class_one_probability(model, X_target) > 0.5) == y_target))
        top.set_title(f"{title}: decision boundary\n"
                      f"accuracy on these target points {target_acc:.2f}")
        top.legend(loc="lower left", fontsize=8)
        top.set_aspect("equal")

        bottom = axes[1, column]
        hidden = features(model, both)
        projected = pca_2d(hidden.astype(np.float64))
        bottom.scatter(*projected[:n].T, s=10, c="tab:green", alpha=0.6, label="source")
        bottom.scatter(*projected[n:].T, s=10, c="tab:purple", alpha=0.6, label="target")
        bottom.set_title(f"{title}: hidden features (2-D PCA) by domain\n"
                         f"domain classifier accuracy {domain_accuracy(model, both, n):.2f}")
        bottom.legend(loc="best", fontsize=8)
    figure.suptitle(f"dann-moons, seed {seed}: target turned {options['angle']:g} degrees, "
                    f"{options['arch']} network")
    path = os.path.join(directory, f"dann-moons_seed{seed}.png")
    figure.savefig(path, dpi=100)
    return path
