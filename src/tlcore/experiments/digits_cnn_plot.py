"""The picture of ``tlcore run digits-cnn --plot DIR``: the engine training and erring.

``digits-cnn_seed{seed}.png``: left, the mean training loss of every epoch for the CNN
and the MLP (the engine's backward and Adam at work: both fall steadily); right, the
held-out digits the CNN got wrong, each with the true and the predicted class.
"""

import numpy as np

from tlcore.experiments.figures import new_figure, save_figure


def plot_training(losses, X_test, y_test, predicted, directory, seed, command, shown=12):
    """``losses``: {method: [mean loss per epoch]}; ``predicted``: the CNN's classes of
    X_test (N, 1, 8, 8)."""
    wrong = np.flatnonzero(predicted != y_test)[:shown]
    figure = new_figure(9.0, 3.2)
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.2])
    axis = left.add_subplot(1, 1, 1)
    for method, curve in losses.items():
        axis.plot(np.arange(1, len(curve) + 1), curve, label=method)
    axis.set_yscale("log")
    axis.set_xlabel("epoch"), axis.set_ylabel("mean training loss (cross-entropy)")
    axis.legend()
    axis.set_title(f"training, seed {seed}", fontsize=9)
    right.suptitle(f"the CNN's {int(np.sum(predicted != y_test))} mistakes of "
                   f"{len(y_test)} held-out digits (true -> predicted)", fontsize=9)
    columns = 6
    for i, index in enumerate(wrong):
        cell = right.add_subplot(max(1, -(-len(wrong) // columns)), columns, i + 1)
        cell.imshow(X_test[index, 0], cmap="gray_r", vmin=0, vmax=1)
        cell.set_xticks([]), cell.set_yticks([])
        cell.set_title(f"{y_test[index]} -> {predicted[index]}", fontsize=8)
    figure.suptitle(f"digits-cnn: the engine trains a real network\n{command}", fontsize=10)
    return save_figure(figure, directory, f"digits-cnn_seed{seed}.png")
