"""The pictures of ``tlcore run zero-shot --plot DIR``: the world, the shared space, the
mistakes.

1. ``zero-shot-{data}-examples.png``: a row of example images per class, its attributes
   written beside it, the unseen classes marked: what a learner of attributes is given.
2. ``zero-shot-{data}-space_seed{seed}.png``: the attribute embedding's shared space in
   2-D: f(x) of test images and g(description) of every class, unseen classes in colour,
   so an unseen class's description can be seen landing among its images (or not).
   Both are scaled to length 1 (the cosine's view) and projected on the first two
   principal components of all the points together.
3. ``zero-shot-{data}-confusion_seed{seed}.png``: for each method, how the unseen test
   images were labelled, with only the unseen classes as candidates.

matplotlib is imported only here, and only when a figure is asked for.
"""

import numpy as np

from tlcore.experiments.figures import new_figure, pca_2d, save_figure


def plot_examples(world, unseen, directory, command, per_class=6):
    """Figure 1: ``per_class`` images of every class, with its attributes."""
    classes = world.classes
    figure = new_figure(per_class * 0.55 + 3.6, classes * 0.55 + 0.5)
    axes = figure.subplots(classes, per_class + 1, squeeze=False,
                           gridspec_kw={"width_ratios": [1] * per_class + [6]})
    for c in range(classes):
        images = world.images[world.labels == c][:per_class]
        for k in range(per_class):
            axes[c, k].imshow(images[k], cmap="gray_r", vmin=0, vmax=1)
            axes[c, k].set_axis_off()
        lit = [name for name, on in zip(world.attribute_names, world.class_attributes[c]) if on]
        is_unseen = c in unseen
        text = axes[c, per_class]
        text.set_axis_off()
        text.text(0, 0.5, f"{world.class_names[c]}{'  (unseen)' if is_unseen else ''}\n"
                  + ", ".join(lit), va="center", fontsize=7,
                  color="tab:red" if is_unseen else "black",
                  fontweight="bold" if is_unseen else "normal")
    figure.suptitle(f"zero-shot, {world.name}: each class and its attributes "
                    f"(unseen classes in red: no training image)\n{command}", fontsize=9)
    return save_figure(figure, directory, f"zero-shot-{world.name}-examples.png")


def _unit(rows):
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def plot_space(world, embedding, descriptions, X_test, y_test, unseen, directory, seed,
               command):
    """Figure 2: the shared space of the trained attribute embedding."""
    from tlcore.transfer.zeroshot import _outputs
    inputs = _unit(_outputs(embedding, X_test).astype(np.float64))
    classes = _unit(embedding.embed_classes(descriptions).numpy().astype(np.float64))
    points = pca_2d(np.concatenate([inputs, classes]))
    image_points, class_points = points[:len(inputs)], points[len(inputs):]
    colours = {c: f"C{k}" for k, c in enumerate(unseen)}
    figure = new_figure(5.6, 4.6)
    axes = figure.subplots()
    seen_images = ~np.isin(y_test, unseen)
    axes.scatter(*image_points[seen_images].T, s=6, c="lightgrey", label="f(x), seen classes")
    for c in unseen:
        mine = y_test == c
        axes.scatter(*image_points[mine].T, s=8, c=colours[c], alpha=0.6,
                     label=f"f(x), unseen {world.class_names[c]}")
    for c in range(world.classes):
        x, y = class_points[c]
        unseen_class = c in colours
        axes.scatter([x], [y], marker="*", s=220 if unseen_class else 90,
                     c=colours.get(c, "dimgrey"), edgecolors="black", linewidths=0.6,
                     zorder=3)
        axes.annotate(world.class_names[c], (x, y), fontsize=7, xytext=(4, 4),
                      textcoords="offset points",
                      fontweight="bold" if unseen_class else "normal")
    axes.scatter([], [], marker="*", s=90, c="dimgrey", edgecolors="black",
                 label="g(description) of a class (unseen: large, coloured)")
    axes.legend(fontsize=6, loc="best")
    axes.set_xticks([])
    axes.set_yticks([])
    figure.suptitle(f"zero-shot, {world.name}, seed {seed}: f(x) of test images and g(y) "
                    f"of every class\n(both scaled to length 1, first two principal "
                    f"components)\n{command}", fontsize=9)
    return save_figure(figure, directory, f"zero-shot-{world.name}-space_seed{seed}.png")


def plot_confusion(world, models, X_unseen, y_unseen, unseen, directory, seed, command):
    """Figure 3: the unseen classes' confusion matrix of each method."""
    figure = new_figure(3.0 * len(models) + 0.4, 3.2)
    axes = figure.subplots(1, len(models), squeeze=False)[0]
    names = [world.class_names[c] for c in unseen]
    for axis, (method, (model, descriptions)) in zip(axes, models.items()):
        predicted = model.predict(X_unseen, unseen, descriptions[unseen])
        counts = np.array([[np.sum((y_unseen == true) & (predicted == guess))
                            for guess in unseen] for true in unseen])
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(unseen)):
            for j in range(len(unseen)):
                axis.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
        axis.set_xticks(range(len(unseen)), names, fontsize=6, rotation=30)
        axis.set_yticks(range(len(unseen)), names, fontsize=6)
        axis.set_xlabel("predicted", fontsize=7)
        axis.set_ylabel("true", fontsize=7)
        axis.set_title(f"{method}: {np.trace(counts) / counts.sum():.2f}", fontsize=8)
    figure.suptitle(f"zero-shot, {world.name}, seed {seed}: unseen test images, only the "
                    f"unseen classes as candidates (rows sum to 1)\n{command}", fontsize=9)
    return save_figure(figure, directory, f"zero-shot-{world.name}-confusion_seed{seed}.png")


def plot_all(world, models, unseen, X_unseen, y_unseen, X_seen_test, y_seen_test, options,
             seed):
    """Write the three figures into ``options["plot"]``; return their paths.
    ``models``: {method: (trained model, its description table)}."""
    from tlcore.experiments.zero_shot import EXPERIMENT
    directory = options["plot"]
    command = EXPERIMENT.command_line(options, (seed,))
    embedding, descriptions = models["embedding"]
    X_test = np.concatenate([X_unseen, X_seen_test])
    y_test = np.concatenate([y_unseen, y_seen_test])
    return [plot_examples(world, unseen, directory, command),
            plot_space(world, embedding, descriptions, X_test, y_test, unseen, directory,
                       seed, command),
            plot_confusion(world, models, X_unseen, y_unseen, unseen, directory, seed,
                           command)]
