"""The picture of ``tlcore run self-taught --plot DIR``: what the autoencoder learned.

``self-taught-{data}-autoencoder_seed{seed}.png``:

- top: held-out source images (figures that are not digits) and, under them, their
  reconstructions; then target digits, which the autoencoder never saw, and theirs.
  The code keeps what makes a figure (which strokes, where) and drops the pixel noise.
- bottom: the first layer's 5x5 filters, learned from the source, over the random
  filters the same layer starts from (``random-frozen`` and ``scratch`` start there).
"""

import numpy as np

from tlcore import no_grad
from tlcore.experiments.figures import new_figure, save_figure
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


def plot_autoencoder(autoencoder, untrained, source, target, directory, data, seed, count=8):
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
    return save_figure(figure, directory, f"self-taught-{data}-autoencoder_seed{seed}.png")
