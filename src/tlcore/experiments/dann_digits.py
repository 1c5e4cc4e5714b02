"""dann-digits: domain-adversarial training from the shipped digits to rotated digits.

Source: labelled digits. Target: other digits turned by ``--angle`` degrees (default 30),
unlabelled. The same network and loop for both methods (``train_dann``):
``source-only`` with the adversarial term off, ``dann`` with a small lambda_max (the
reversed gradient is scaled by at most ``--lambda-max``, default 0.1). Rows:
``target_acc`` on held-out rotated digits, ``source_acc`` on held-out upright digits,
both of the model after the last epoch, and the diagnostic ``domain_acc`` (the domain
classifier's accuracy on its training batches over the last epoch).

Settings: SGD with momentum 0.9 from the paper's mu_0 = 0.01, annealed; 60 epochs (the
source fit, ~0.94 on held-out upright digits, and the time budget). lambda_max 0.1 keeps
the domain classifier's accuracy on its training batches near 0.5 at the end of training;
at 0.3 it fell to ~0.3 (the features overshoot, flipping the domains rather than mixing
them), a sign read from the diagnostics, not from target labels.

The digits are split once per seed (stratified): a quarter held out for testing, and
the rest cut in two halves, one the labelled source, the other (turned) the unlabelled
target, so that no target image is a rotated copy of a source image.

``--plot DIR`` also writes, for each seed, the training curves (the domain classifier's
accuracy and lambda_p epoch by epoch) and both models' hidden features of source and
target in 2-D by PCA (``dann_plot``; needs matplotlib: ``pip install 'tlcore[plot]'``).
"""

import numpy as np

from tlcore import nn, optim
from tlcore.datasets import load_digits, rotate, train_test_split
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import accuracy
from tlcore.random import manual_seed
from tlcore.transfer.dann import DANN, train_dann


def make_digits_dann(hidden=128):
    """An MLP: 64 pixels -> 128 ReLU -> 128 ReLU features; linear heads for the ten
    classes and for the domain."""
    features = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                             nn.Linear(hidden, hidden), nn.ReLU())
    return DANN(features, nn.Linear(hidden, 10), nn.Linear(hidden, 1))


def digits_domains(seed, angle):
    """Source train/test (upright) and target train/test (turned by ``angle``), as float32
    (N, 8, 8) images in [0, 1]."""
    images, labels = load_digits()
    images = (images / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(images, labels, test_size=0.25,
                                                        seed=seed, stratify=True)
    X_source, X_target, y_source, y_target = train_test_split(X_train, y_train, test_size=0.5,
                                                              seed=seed + 1, stratify=True)
    return {"source": (X_source, y_source), "source_test": (X_test, y_test),
            "target": (rotate(X_target, angle), y_target),
            "target_test": (rotate(X_test, angle), y_test)}


def run_seed(seed, options, progress=None):
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
    data = digits_domains(seed, options["angle"])
    (X_source, y_source), (X_target, _) = data["source"], data["target"]
    rows, models, histories = [], {}, {}
    for method in ("source-only", "dann"):
        manual_seed(seed)  # both methods: the same initialisation and the same batches
        model = make_digits_dann()
        optimizer = optim.SGD(model.parameters(), lr=options["lr"], momentum=0.9)
        history = train_dann(model, optimizer, X_source, y_source, X_target,
                             options["epochs"], options["batch_size"],
                             lambda_max=options["lambda_max"], adversarial=(method == "dann"),
                             progress=progress, task=f"{method} epoch")
        rows.append((method, "target_acc", accuracy(model, *data["target_test"])))
        rows.append((method, "source_acc", accuracy(model, *data["source_test"])))
        rows.append((method, "domain_acc", history[-1]["domain_acc"]))  # a diagnostic
        models[method], histories[method] = model, history
    if options["plot"]:
        from tlcore.experiments import dann_plot
        command = EXPERIMENT.command_line(options, (seed,))
        print("wrote " + dann_plot.plot_training(histories, options, seed, "dann-digits",
                                                 command))
        print("wrote " + dann_plot.plot_features("dann-digits", models, data, options, seed,
                                                 command))
    return rows


EXPERIMENT = Experiment(
    name="dann-digits",
    section="domain-adversarial training",
    summary="DANN vs source-only from the digits to digits rotated by --angle",
    run_seed=run_seed,
    options=(
        Option("angle", float, 30.0, "rotation of the target digits, in degrees"),
        Option("epochs", int, 60, "training epochs per model", minimum=1),
        Option("batch_size", int, 32, "minibatch size (source and target alike)", minimum=1),
        Option("lr", float, 0.01, "initial SGD learning rate, annealed (the paper's mu_0)",
               minimum=0),
        Option("lambda_max", float, 0.1, "the GRL coefficient reached at the end of training",
               minimum=0),
        Option("plot", str, "", "write the training-curve and feature figures to this "
               "directory (needs matplotlib)"),
    ),
    default_seeds=(0, 1, 2),
    claims=(Claim("dann", "target_acc", at_least=0.05, baseline="source-only",
                  source="lecture"),),
    quick=dict(epochs=30),
)
