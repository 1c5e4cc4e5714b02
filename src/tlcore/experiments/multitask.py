"""multitask: the lecture's two layouts of multi-task learning on digits (Caruana 1997).

Layout 1, shared lower layers and a head per task. The target task is digit identity
with ``--shots`` labels per class. Two coarse tasks have a label on every training
image: parity (odd or even) and size (digit >= 5). Both methods use the same MLP trunk
and digit head (tlcore.transfer.MultiTaskModel):

- ``single-task``: trunk and digit head trained on the few digit labels alone;
- ``multi-task``: the trunk shared by three heads (digit, parity, size), trained on
  every training image with one mask per task: the digit loss sees only the images
  that have a digit label, the coarse losses see all of them.

Metric ``target_acc``: digit accuracy on the held-out quarter (stratified split).

Layout 2, an input layer per task, shared middle layers, a head per task (the lecture's
multilingual speech: each language its own input and output layers). Two tasks read
different inputs, like two microphones: ``plain`` sees half of the training images as
they are, every one labelled; ``transformed`` sees the other half through a fixed
``--transform`` (inverted: 1 - x), with ``--shots`` labels per class. Both are digit
identity, each with its own head.

- ``single-task``: each task alone (trunk and head);
- ``multi-task``: layout 1, one trunk for both inputs, a head per task;
- ``multi-task-inputs``: layout 2, each task's input through its own input layer
  (``--input-layer``: a gain and an offset per pixel, or a Linear layer), then the
  shared middle, then its head.

Metrics ``plain_acc`` and ``transformed_acc``: digit accuracy of each task on the held-out
quarter, seen through that task's microphone.

``--held-out validation`` holds out a quarter of the training images instead of the
test quarter: the numbers on which this experiment's choices were made.
"""

import numpy as np

from tlcore import nn, optim
from tlcore.datasets import minibatches, per_class, train_test_split
from tlcore.experiments.digits_cnn import split_digits
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import fit
from tlcore.nn.parameter import Parameter
from tlcore.random import generator_for, manual_seed
from tlcore.transfer.multitask import MultiTaskModel, multitask_loss, task_accuracies

UNLABELLED = -1  # the placeholder label of an image without a digit label
PIXELS = 64      # an 8x8 digit


def make_trunk(hidden):
    """The MLP every method shares: 64 pixels -> hidden -> hidden, ReLU after each."""
    return nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU())


def make_model(tasks, hidden):
    """Layout 1: the trunk and a linear head per task (``tasks``: {task: classes})."""
    return MultiTaskModel(make_trunk(hidden), {task: nn.Linear(hidden, classes)
                                               for task, classes in tasks.items()})


class GainOffset(nn.Module):
    """``y = gain * x + offset``, one gain and one offset per pixel, starting as the
    identity (gain 1, offset 0): a microphone's calibration, 2 x 64 numbers that a task
    with 30 labels can learn."""

    def __init__(self, shape):
        super().__init__()
        self.gain = Parameter(np.ones(shape, np.float32))
        self.offset = Parameter(np.zeros(shape, np.float32))

    def forward(self, x):
        return x * self.gain + self.offset


def make_inputs_model(tasks, hidden, input_layer):
    """Layout 2: an input layer per task, a shared middle, a linear head per task. With
    ``gain-offset`` the middle is make_model's whole trunk; with ``linear`` each task's
    input layer is the trunk's first Linear and ReLU, and the middle the rest."""
    if input_layer == "gain-offset":
        inputs = {task: GainOffset((1, 8, 8)) for task in tasks}
        middle = make_trunk(hidden)
    else:
        inputs = {task: nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU())
                  for task in tasks}
        middle = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
    return MultiTaskModel(middle, {task: nn.Linear(hidden, classes)
                                   for task, classes in tasks.items()}, inputs=inputs)


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


def train_own_inputs(model, data, epochs, options, progress, task):
    """Minibatches drawn from the samples of every task together, each sample given to
    its own task: ``model({task: its images of the batch})`` (data: ``{task: (X, y)}``)."""
    tasks = list(data)
    owner = np.concatenate([np.full(len(y), number) for number, (_, y) in
                            enumerate(data.values())])
    position = np.concatenate([np.arange(len(y)) for _, y in data.values()])
    samples = np.arange(len(owner))
    optimizer = optim.Adam(model.parameters(), lr=options["lr"],
                           weight_decay=options["weight_decay"])
    for epoch in range(epochs):
        model.train()
        for rows, _ in minibatches(samples, samples, options["batch_size"]):
            batch = {}  # task -> where its samples of this batch sit in data[task]
            for number, t in enumerate(tasks):
                index = position[rows[owner[rows] == number]]
                if index.size:
                    batch[t] = index
            outputs = model({t: data[t][0][index] for t, index in batch.items()})
            loss = multitask_loss(outputs, {t: data[t][1][index] for t, index in batch.items()})
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if progress is not None:
            progress.update(task, epoch + 1, epochs)


def microphone(transform, seed):
    """The fixed transform through which the ``transformed`` task sees its images."""
    if transform == "invert":
        return lambda X: 1.0 - X
    order = generator_for(seed).permutation(PIXELS)  # one wiring per seed
    return lambda X: X.reshape(len(X), PIXELS)[:, order].reshape(X.shape)


def held_out_split(seed, held_out):
    """(X_train, X_held_out, y_train, y_held_out): the test quarter, or with
    ``validation`` a quarter of the training images (the test quarter unused)."""
    X_train, X_test, y_train, y_test = split_digits(seed)
    if held_out == "validation":
        return train_test_split(X_train, y_train, test_size=0.25, seed=seed, stratify=True)
    return X_train, X_test, y_train, y_test


def shared_trunk_rows(seed, X_train, X_test, y_train, y_test, options, progress):
    """Layout 1: the few-label digit task alone, then with parity and size."""
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


def own_inputs_rows(seed, X_train, X_test, y_train, y_test, options, progress):
    """Layout 2 against layout 1 and each task alone, on two microphones."""
    manual_seed(seed)
    X_plain, X_other, y_plain, y_other = train_test_split(X_train, y_train, test_size=0.5,
                                                          seed=seed, stratify=True)
    index, _ = per_class(np.arange(len(y_other)), y_other, options["shots"], seed=seed)
    hear = microphone(options["transform"], seed)
    data = {"plain": (X_plain, y_plain), "transformed": (hear(X_other[index]), y_other[index])}
    held_out = {"plain": X_test, "transformed": hear(X_test)}
    labels = {"plain": y_test, "transformed": y_test}
    tasks, hidden, accuracies = {"plain": 10, "transformed": 10}, options["hidden"], {}

    single = {}
    for task, epochs in (("transformed", options["single_epochs"]),
                         ("plain", options["multi_epochs"])):
        single[task] = make_model({task: 10}, hidden)
        train_own_inputs(single[task], {task: data[task]}, epochs, options, progress,
                         f"single-task {task} epoch")
    accuracies["single-task"] = {
        task: task_accuracies(model, held_out[task], {task: labels[task]})[task]
        for task, model in single.items()}
    for method, make in (("multi-task", lambda: make_model(tasks, hidden)),
                         ("multi-task-inputs",
                          lambda: make_inputs_model(tasks, hidden, options["input_layer"]))):
        model = make()  # built after multi-task has trained: --input-layer leaves it as it is
        train_own_inputs(model, data, options["multi_epochs"], options, progress,
                         f"{method} epoch")
        accuracies[method] = task_accuracies(model, held_out, labels)
    return [(method, f"{task}_acc", accuracy[task])
            for task in ("transformed", "plain") for method, accuracy in accuracies.items()]


def run_seed(seed, options, progress=None):
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
    manual_seed(seed)
    split = held_out_split(seed, options["held_out"])
    return (shared_trunk_rows(seed, *split, options, progress)
            + own_inputs_rows(seed, *split, options, progress))


def notes(options):
    if options["held_out"] == "validation":
        return ["held out: a quarter of the training images (validation); the test "
                "quarter is not used"]
    return []


def figures(result, directory):
    from tlcore.experiments.multitask_plot import plot_accuracies
    return [plot_accuracies(result, directory)]


EXPERIMENT = Experiment(
    name="multitask",
    section="multi-task learning",
    summary="layout 1: digits with few labels per class plus parity and >= 5 labels on "
            "every image, one task alone against a shared trunk with three heads; "
            "layout 2: two tasks that see the digits through different microphones, "
            "each with its own input layer around a shared middle",
    run_seed=run_seed,
    options=(
        Option("shots", int, 3, "digit labels per class of the few-label task", minimum=1),
        Option("hidden", int, 64, "units per hidden layer of the trunk", minimum=1),
        Option("single_epochs", int, 300, "epochs of single-task on the few labels (one "
                                          "step each)", minimum=1),
        Option("multi_epochs", int, 30, "epochs of multi-task (over every training image), "
                                        "and of single-task on the plain half", minimum=1),
        Option("coarse_weight", float, 1.0, "loss weight of each coarse task (digit: 1)",
               minimum=0),
        Option("batch_size", int, 32, "minibatch size", minimum=1),
        Option("lr", float, 2e-3, "Adam learning rate", minimum=0),
        Option("weight_decay", float, 1e-4, "Adam weight decay (L2)", minimum=0),
        Option("transform", str, "invert", "how the second microphone alters the pixels: "
               "invert (1 - x) or permute (one fixed order per seed)",
               choices=("invert", "permute")),
        Option("input_layer", str, "gain-offset", "each task's own input layer in layout "
               "2: a gain and an offset per pixel, or Linear(64, hidden) and ReLU",
               choices=("gain-offset", "linear")),
        Option("held_out", str, "test", "what the accuracies are measured on: the test "
               "quarter, or a quarter of the training images (validation)",
               choices=("test", "validation")),
        Option("plot", str, "", "write the figure (each task's accuracy, every method, "
               "mean and std over the seeds) to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(Claim("multi-task", "target_acc", at_least=0.04, baseline="single-task",
                  source="lecture"),
            Claim("multi-task-inputs", "transformed_acc", at_least=0.04,
                  baseline="single-task", source="lecture")),
    quick=dict(single_epochs=150, multi_epochs=15),
    notes=notes,
    figures=figures,
)
