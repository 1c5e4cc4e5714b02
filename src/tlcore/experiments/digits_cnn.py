"""digits-cnn: a small CNN and an MLP trained on the shipped 8x8 digits.

The first experiment, before any transfer: it shows the engine trains a real network
(conv-relu-pool twice, then linear) to the accuracy the data allows. Rows: methods
``cnn`` and ``mlp``, metric ``test_acc`` (held-out quarter, stratified split).
"""

import numpy as np

from tlcore import nn, optim
from tlcore.datasets import load_digits, train_test_split
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import accuracy, fit, predict
from tlcore.random import manual_seed


def digits_as_images():
    """The digits as float32 (N, 1, 8, 8) in [0, 1], and their labels."""
    images, labels = load_digits()
    return (images / 16.0).astype(np.float32)[:, None], labels


def split_digits(seed):
    """``digits_as_images()`` split once per seed, stratified, a quarter held out for
    testing: (X_train, X_test, y_train, y_test)."""
    X, y = digits_as_images()
    return train_test_split(X, y, test_size=0.25, seed=seed, stratify=True)


def make_cnn(channels=(32, 64), classes=10):
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 8x8 -> 4x4
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
        nn.Flatten(), nn.Linear(c2 * 2 * 2, classes))


def make_mlp(hidden=128, classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                         nn.Linear(hidden, classes))


def run_seed(seed, options, progress=None):
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
    manual_seed(seed)
    X_train, X_test, y_train, y_test = split_digits(seed)
    rows, losses, models = [], {}, {}
    for method, model in (("cnn", make_cnn()), ("mlp", make_mlp())):
        optimizer = optim.Adam(model.parameters(), lr=options["lr"])
        losses[method] = fit(model, X_train, y_train, optimizer, options["epochs"],
                             options["batch_size"], progress=progress, task=f"{method} epoch")
        rows.append((method, "test_acc", accuracy(model, X_test, y_test)))
        models[method] = model
    if options["plot"]:
        from tlcore.experiments.digits_cnn_plot import plot_training
        print("wrote " + plot_training(losses, X_test, y_test, predict(models["cnn"], X_test),
                                       options["plot"], seed,
                                       EXPERIMENT.command_line(options, (seed,))))
    return rows


EXPERIMENT = Experiment(
    name="digits-cnn",
    section="engine",
    summary="a CNN and an MLP on the shipped digits (no transfer): test accuracy",
    run_seed=run_seed,
    options=(
        Option("epochs", int, 30, "training epochs per model", minimum=1),
        Option("batch_size", int, 32, "minibatch size", minimum=1),
        Option("lr", float, 2e-3, "Adam learning rate", minimum=0),
        Option("plot", str, "", "write the figure (training loss, the CNN's mistakes) to "
               "this directory"),
    ),
    claims=(Claim("cnn", "test_acc", at_least=0.97, source="engine check"),
            Claim("mlp", "test_acc", at_least=0.95, source="engine check")),
    quick=dict(epochs=15),
)
