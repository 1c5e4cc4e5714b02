"""The pictures of ``tlcore run self-taught --plot DIR`` (what the autoencoder learned)
and ``tlcore run self-taught-clustering --plot DIR`` (the target set in each space).

``self-taught-{data}-autoencoder_seed{seed}.png``:

- top: held-out source images (figures that are not digits) and, under them, their
  reconstructions; then target digits, which the autoencoder never saw, and theirs.
  The code keeps what makes a figure (which strokes, where) and drops the pixel noise.
- bottom: the first layer's 5x5 filters, learned from the source, over the random
  filters the same layer starts from (``random-frozen`` and ``scratch`` start there).

``self-taught-clustering-{data}_seed{seed}.png``: the target images in each space that
k-means clustered (raw pixels, the random encoder's code, the learned code), on their
first two principal components, coloured by the hidden class that only scores them.
"""

import numpy as np

from tlcore.autograd import no_grad
from tlcore.experiments.figures import new_figure, pca_2d, save_figure
from tlcore.transfer.selftaught import as_batch


def reconstruct(autoencoder, images):
    """The autoencoder's reconstructions of ``images`` (N, H, W), clipped to [0, 1]."""
    autoencoder.eval()
    with no_grad():
        out = autoencoder(as_batch(images)).numpy()[:, 0]
    return np.clip(out, 0.0, 1.0)


def first_filters(autoencoder):
    """The first convolution's filters, (c1, k, k)."""
    return autoencoder.encoder[0].weight.numpy()[:, 0]


def plot_autoencoder(autoencoder, untrained, source, target, directory, data, seed, command,
                     count=8):
    """The figure above for ``count`` images of ``source`` and of ``target`` (N, H, W);
    ``untrained``: an autoencoder of the same channels at its random start."""
    source, target = source[:count], target[:count]
    rows = [("source", source), ("its reconstruction", reconstruct(autoencoder, source)),
            ("target", target), ("its reconstruction", reconstruct(autoencoder, target))]
    rows += [("learned filters", first_filters(autoencoder)),
             ("random filters", first_filters(untrained))]
    columns = max(count, len(rows[-1][1]))
    figure = new_figure(columns * 0.62 + 1.1, len(rows) * 0.66)
    for r, (title, pictures) in enumerate(rows):
        filters = title.endswith("filters")
        for c, picture in enumerate(pictures):
            axis = figure.add_subplot(len(rows), columns, r * columns + c + 1)
            if filters:  # weights: blue below zero, red above, white at zero
                limit = np.abs(picture).max()
                axis.imshow(picture, cmap="RdBu_r", vmin=-limit, vmax=limit)
            else:
                axis.imshow(picture, cmap="gray_r", vmin=0, vmax=1)
            axis.set_xticks([]), axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(title, fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(f"self-taught, {data}, seed {seed}: what the autoencoder learned from "
                    f"the source alone\n{command}", fontsize=8)
    return save_figure(figure, directory, f"self-taught-{data}-autoencoder_seed{seed}.png")


def plot_clusters(spaces, labels, nmi, directory, data, seed, command):
    """``spaces``: {name: features (N, D)} of the same N target images; ``labels``: their
    hidden classes; ``nmi``: {name: the k-means clusters' NMI in that space}."""
    figure = new_figure(3.2 * len(spaces), 3.4)
    for i, (name, features) in enumerate(spaces.items()):
        axis = figure.add_subplot(1, len(spaces), i + 1)
        points = pca_2d(features.astype(np.float64))
        for c in np.unique(labels):
            here = labels == c
            axis.scatter(points[here, 0], points[here, 1], s=8, label=str(c),
                         color=f"C{int(c) % 10}")  # matplotlib's ten-colour cycle
        axis.set_xticks([]), axis.set_yticks([])
        axis.set_title(f"{name}: k-means NMI {nmi[name]:.2f}", fontsize=9)
    figure.axes[-1].legend(title="hidden class", fontsize=7, title_fontsize=7,
                           loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.suptitle(f"self-taught clustering, {data}, seed {seed}: the target images on "
                    f"their first two principal components\n{command}", fontsize=9)
    return save_figure(figure, directory, f"self-taught-clustering-{data}_seed{seed}.png")
