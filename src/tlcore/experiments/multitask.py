"""multitask: few digit labels, helped by coarse labels on every image (Caruana 1997).

The target task is digit identity with ``--shots`` labels per class. Two coarse tasks
have a label on every training image: parity (odd or even) and size (digit >= 5).
Both methods use the same MLP trunk and digit head (tlcore.transfer.MultiTaskModel):

- ``single-task``: trunk and digit head trained on the few digit labels alone;
- ``multi-task``: the trunk shared by three heads (digit, parity, size), trained on
  every training image with one mask per task: the digit loss sees only the images
  that have a digit label, the coarse losses see all of them.

Metric ``target_acc``: digit accuracy on the held-out quarter (stratified split).
"""

import numpy as np

from tlcore import manual_seed, nn, optim
from tlcore.datasets import per_class
from tlcore.experiments.digits_cnn import split_digits
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import fit
from tlcore.transfer.multitask import MultiTaskModel, multitask_loss, task_accuracies

UNLABELLED = -1  # the placeholder label of an image without a digit label


def make_model(tasks, hidden):
    trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                          nn.Linear(hidden, hidden), nn.ReLU())
    return MultiTaskModel(trunk, {task: nn.Linear(hidden, classes)
                                  for task, classes in tasks.items()})


def train(model, X, targets, masks, weights, epochs, options, progress, task):
    """fit() over sample indices: each batch's loss picks its rows of every task's
    labels and masks, so masked samples and empty tasks add nothing."""
    def loss_fn(outputs, rows):
        return multitask_loss(outputs, {t: y[rows] for t, y in targets.items()},
                              masks={t: m[rows] for t, m in masks.items()}, weights=weights)

    optimizer = optim.Adam(model.parameters(), lr=options["lr"],
                           weight_decay=options["weight_decay"])
    fit(model, X, np.arange(len(X)), optimizer, epochs, options["batch_size"], loss_fn,
        progress=progress, task=task)


def run_seed(seed, options, progress=None):
    manual_seed(seed)
    X_train, X_test, y_train, y_test = split_digits(seed)
    index, _ = per_class(np.arange(len(y_train)), y_train, options["shots"], seed=seed)
    has_digit = np.zeros(len(y_train), dtype=bool)
    has_digit[index] = True
    digit = np.where(has_digit, y_train, UNLABELLED)
    hidden, rows = options["hidden"], []

    single = make_model({"digit": 10}, hidden)
    train(single, X_train[has_digit], {"digit": digit[has_digit]}, {}, {},
          options["single_epochs"], options, progress, "single-task epoch")
    rows.append(("single-task", "target_acc",
                 task_accuracies(single, X_test, {"digit": y_test})["digit"]))

    multi = make_model({"digit": 10, "parity": 2, "size": 2}, hidden)
    targets = {"digit": digit, "parity": y_train % 2, "size": (y_train >= 5).astype(int)}
    weights = {"parity": options["coarse_weight"], "size": options["coarse_weight"]}
    train(multi, X_train, targets, {"digit": has_digit}, weights, options["multi_epochs"],
          options, progress, "multi-task epoch")
    rows.append(("multi-task", "target_acc",
                 task_accuracies(multi, X_test, {"digit": y_test})["digit"]))
    return rows


EXPERIMENT = Experiment(
    name="multitask",
    section="multi-task learning",
    summary="digits with few labels per class plus parity and >= 5 labels on every "
            "image: one task alone against a shared trunk with three heads",
    run_seed=run_seed,
    options=(
        Option("shots", int, 3, "digit labels per class", minimum=1),
        Option("hidden", int, 64, "units per hidden layer of the trunk", minimum=1),
        Option("single_epochs", int, 300, "epochs of single-task (over the few digit "
                                          "labels: one step each)", minimum=1),
        Option("multi_epochs", int, 30, "epochs of multi-task (over every training image)",
               minimum=1),
        Option("coarse_weight", float, 1.0, "loss weight of each coarse task (digit: 1)",
               minimum=0),
        Option("batch_size", int, 32, "minibatch size", minimum=1),
        Option("lr", float, 2e-3, "Adam learning rate", minimum=0),
        Option("weight_decay", float, 1e-4, "Adam weight decay (L2)", minimum=0),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(Claim("multi-task", "target_acc", at_least=0.04, baseline="single-task"),),
    quick=dict(single_epochs=150, multi_epochs=15),
)
