"""progressive: learn a second task without forgetting the first (Rusu et al. 2016).

Task 1: the shipped digits, all training images labelled. Task 2: the same digits
inverted (light ink on a dark page, tlcore.datasets.invert) with ``--shots`` labels
per class. One MLP column learns task 1; then, on task 2's few labels:

- ``scratch``: a fresh column of the same shape, task 2 only;
- ``fine-tune``: the task-1 column, every weight trained further on task 2;
- ``progressive``: the task-1 column frozen, a new column with lateral connections
  to it (``--lateral``: eq. 1 or the adapters of eq. 2) trained on task 2;
- ``random-column``: the control of Rusu et al.'s baseline 4, the same progressive net
  with a first column left at its random initialisation and frozen; only the second
  column and its laterals train. Same architecture, same trainable parameters as
  ``progressive``: what it lacks is the features learnt on task 1.

Metrics: ``task2_acc`` (inverted test images) and ``task1_acc`` (clean test images,
after learning task 2: for fine-tune the forgetting, for progressive the frozen
column, which the run checks is bit-identical and scores exactly as before; scratch
never learnt task 1, its task1_acc is what inverted-digit features give on clean
digits; random-column has no task-1 model, so no task1_acc). The test images are the
same held-out quarter in both tasks.

``--plot DIR`` writes the task accuracies of every method over the seeds
(``progressive-{lateral}-accuracy.png``) and, for each seed, a diagram of the trained
progressive net's columns and laterals (``progressive-{lateral}-columns_seed{seed}.png``);
see ``progressive_plot``.
"""

import numpy as np

from tlcore import nn, optim
from tlcore.datasets import invert, load_digits, per_class, train_test_split
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import accuracy, fit
from tlcore.random import manual_seed
from tlcore.transfer.progressive import LATERALS, ProgressiveNet


class OneColumn(nn.Module):
    """Column ``column`` of a ProgressiveNet as a model of its own (for accuracy)."""

    def __init__(self, net, column):
        super().__init__()
        self.net, self.column = net, column

    def forward(self, x):
        return self.net(x, column=self.column)


def _trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


def make_net(options):
    """One column of the options' shape: 64 -> hidden x depth -> 10."""
    return ProgressiveNet(64, (options["hidden"],) * options["depth"], 10,
                          lateral=options["lateral"])


def random_column_net(options):
    """Rusu et al.'s baseline 4: a progressive net whose first column is a random
    initialisation, frozen by ``add_column``; only column 1 and its laterals train."""
    net = make_net(options)
    net.add_column()
    return net


def _check_unchanged(before, column, what):
    """Raise AssertionError unless ``column``'s weights equal the ``before`` state dict."""
    for name, value in column.state_dict().items():
        if not np.array_equal(value, before[name]):
            raise AssertionError(f"{what} changed while learning task 2: {name}")


def _train(model, X, y, epochs, options, progress, task):
    optimizer = optim.Adam(_trainable(model), lr=options["lr"],
                           weight_decay=options["weight_decay"])
    fit(model, X, y, optimizer, epochs, options["batch_size"], progress=progress, task=task)


def run_seed(seed, options, progress=None):
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
    manual_seed(seed)
    images, labels = load_digits()
    clean = (images / 16.0).astype(np.float32)
    inverted = (invert(images) / 16.0).astype(np.float32)
    train, test, y_train, y_test = train_test_split(np.arange(len(labels)), labels,
                                                    test_size=0.25, seed=seed, stratify=True)
    few, y_few = per_class(train, y_train, options["shots"], seed=seed)
    task2_X, task1_test, task2_test = inverted[few], clean[test], inverted[test]

    net = make_net(options)  # column 0 learns task 1
    _train(net, clean[train], y_train, options["task1_epochs"], options, progress,
           "task 1 epoch")
    task1_before = accuracy(net, task1_test, y_test)
    column0 = net.columns[0].state_dict()

    tuned = make_net(options)  # the task-1 column, every weight trained further on task 2
    tuned.load_state_dict(net.state_dict())
    scratch = make_net(options)  # the same shape, task 2 only
    net.add_column()  # freezes column 0
    rows = []
    for method, model in (("scratch", scratch), ("fine-tune", tuned), ("progressive", net)):
        _train(model, task2_X, y_few, options["task2_epochs"], options, progress,
               f"{method} epoch")
        task1_model = OneColumn(net, 0) if method == "progressive" else model
        rows += [(method, "task2_acc", accuracy(model, task2_test, y_test)),
                 (method, "task1_acc", accuracy(task1_model, task1_test, y_test))]

    # The progressive promise, an invariant of the code rather than a result: the
    # task-1 column did not move by one bit, so it scores exactly as before.
    _check_unchanged(column0, net.columns[0], "progressive column 0")
    if rows[-1][2] != task1_before:
        raise AssertionError(f"progressive task1_acc moved from {task1_before} to {rows[-1][2]}")

    # Made after the others, so that their random draws are those of a run without it.
    control = random_column_net(options)
    random_column0 = control.columns[0].state_dict()
    _train(control, task2_X, y_few, options["task2_epochs"], options, progress,
           "random-column epoch")
    _check_unchanged(random_column0, control.columns[0], "random-column column 0")
    rows.append(("random-column", "task2_acc", accuracy(control, task2_test, y_test)))
    if options["plot"]:
        from tlcore.experiments.progressive_plot import plot_columns
        print("wrote " + plot_columns(net, options["plot"], seed,
                                            EXPERIMENT.command_line(options, (seed,))))
    return rows


def figures(result, directory):
    """The figure drawn from every seed's numbers: the task accuracies of each method."""
    from tlcore.experiments.progressive_plot import plot_accuracies
    return [plot_accuracies(result, directory,
                            EXPERIMENT.command_line(result["options"], result["seeds"]))]


EXPERIMENT = Experiment(
    name="progressive",
    section="progressive neural networks",
    summary="clean digits, then inverted digits with few labels: scratch, fine-tune, "
            "progressive columns, and progressive on a random first column (task 2 "
            "accuracy and the task 1 accuracy kept)",
    run_seed=run_seed,
    options=(
        Option("shots", int, 3, "labelled inverted images per class (task 2)", minimum=1),
        Option("hidden", int, 64, "units per hidden layer of a column", minimum=1),
        Option("depth", int, 2, "hidden layers per column", minimum=1),
        Option("lateral", str, "linear", "lateral connections: eq. 1 or eq. 2's adapters",
               choices=LATERALS),
        Option("task1_epochs", int, 20, "epochs on task 1 (all clean training images)", minimum=1),
        Option("task2_epochs", int, 300, "epochs on task 2 (the few inverted images; one "
               "step each: fine-tune needs about 300 to fit them)", minimum=1),
        Option("batch_size", int, 32, "minibatch size", minimum=1),
        Option("lr", float, 2e-3, "Adam learning rate", minimum=0),
        Option("weight_decay", float, 1e-4, "Adam weight decay (L2)", minimum=0),
        Option("plot", str, "", "write the figures (task accuracies of every method, a "
               "diagram of the columns and laterals) to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(
        Claim("progressive", "task2_acc", at_least=0.03, baseline="scratch",
              source="Rusu et al. 2016"),
        # Column 0 of progressive is the task-1 network before task 2 (the run checks
        # it is bit-identical), so this is fine-tune's drop in task-1 accuracy.
        Claim("progressive", "task1_acc", at_least=0.10, baseline="fine-tune",
              source="Rusu et al. 2016"),
        # Baseline 4: the same net with a random first column; what helps is what
        # column 0 learnt, not the extra capacity or the laterals themselves.
        Claim("progressive", "task2_acc", at_least=0.0, baseline="random-column",
              source="Rusu et al. 2016"),
    ),
    quick=dict(task1_epochs=10, task2_epochs=150),
    figures=figures,
)
