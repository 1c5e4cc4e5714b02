"""layer-transfer: which layers to copy, and whether to freeze them, by the amount of data.

The lecture's two rules of layer transfer, on the shipped 8x8 digits:

1. Which layers. Images: copy the first layers, they are generic (Yosinski, Clune,
   Bengio & Lipson, "How transferable are features in deep neural networks?", NeurIPS
   2014). Speech: copy the last layers, because the input side changes from speaker to
   speaker while the words stay. ``--case`` picks one:

   * ``images``: task A is digits 0-4 (all their training images), task B digits 5-9.
   * ``speaker``: the task stays and the input changes. Task A is the ten digits on half
     of the training images; task B is the same ten digits written by a "new speaker":
     the 64 pixels shuffled by one fixed permutation (drawn from the seed), labelled
     images taken from the other half. A digit's pixels keep their values; only where
     they sit changes, so a new first layer can undo it and the upper layers can stay.

2. How much data. With few target labels, freeze the copied layers (fine-tuning them
   overfits); with more, fine-tune them. ``--shots`` is a comma-separated sweep of
   labelled task-B images per class; each count gives its own metric
   ``target_acc_{K}shot``, the accuracy on the held-out task-B test images, and with
   ``--train-acc 1`` also ``train_acc_{K}shot``, the accuracy on the K labelled images
   themselves (to tell a network that overfits them from one that cannot fit them).

The network is an MLP with two hidden layers, 64 -> h -> h -> classes: three layers.
Methods (the paper's AnB and AnB+):

* ``scratch``: the network trained on B alone.
* ``frozen-...``: n layers copied from the A network and frozen, the others trained on B
  from a fresh start.
* ``tuned-...``: n layers copied, then the whole network trained on B.

The images case copies the first layers only, so its methods keep the paper's names
(``frozen-1``, ``tuned-2``: the first n). The speaker case copies either end, and its
names say which (``frozen-first-2``, ``tuned-last-1``).

The claims: Yosinski et al.'s two findings at 3 shots (images); the lecture's "copy the
last layers" at 3 shots (speaker); and the lecture's data rule on n = 2 in each case,
frozen ahead at the fewest default shots, fine-tuned ahead at the most. These choices
(two hidden layers, n = 2, half of the training images for task A in the speaker case,
the shot counts) were fixed before any run of this experiment; the training settings
are the earlier images-only experiment's. docs/layer-transfer.md shows what held.
"""

import functools

import numpy as np

from tlcore import nn, ops, optim
from tlcore.datasets import per_class, train_test_split
from tlcore.experiments.digits_cnn import split_digits
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.finetune import train_full_batch
from tlcore.experiments.self_taught import parse_shots
from tlcore.experiments.training import accuracy, fit
from tlcore.random import manual_seed
from tlcore.transfer.finetune import copy_layers

CASES = ("images", "speaker")
METHODS = {
    "images": ("scratch", "frozen-1", "frozen-2", "tuned-1", "tuned-2"),
    "speaker": ("scratch", "frozen-first-1", "frozen-first-2", "tuned-first-1",
                "tuned-first-2", "frozen-last-1", "frozen-last-2", "tuned-last-1",
                "tuned-last-2"),
}
DEFAULT_SHOTS = "1,3,10,30,60"


def make_mlp2(hidden=64, classes=5):
    """Three layers (two hidden), so that there is a first and a second layer to copy."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def parse_method(method):
    """What ``method`` copies: (frozen, layers) with layers as ``copy_layers`` takes an
    int (n: the first n, -n: the last n; 0 for scratch, nothing copied).
    'frozen-2' -> (True, 2), 'tuned-last-1' -> (False, -1)."""
    if method == "scratch":
        return False, 0
    kind, *side, n = method.split("-")
    return kind == "frozen", -int(n) if side == ["last"] else int(n)


def new_speaker(X, permutation):
    """The images ``X`` (N, 1, 8, 8) with their 64 pixels moved by ``permutation``."""
    return X.reshape(len(X), -1)[:, permutation].reshape(X.shape)


def tasks(case, seed):
    """(X_a, y_a, X_pool, y_pool, X_test, y_test, classes): task A's training images,
    task B's labelled pool to draw the shots from, and task B's test images."""
    X_train, X_test, y_train, y_test = split_digits(seed)
    if case == "images":
        a, b, test = y_train < 5, y_train >= 5, y_test >= 5
        return (X_train[a], y_train[a], X_train[b], y_train[b] - 5,
                X_test[test], y_test[test] - 5, 5)
    X_a, X_pool, y_a, y_pool = train_test_split(X_train, y_train, test_size=0.5, seed=seed,
                                                stratify=True)
    permutation = np.random.default_rng(seed).permutation(64)
    return (X_a, y_a, new_speaker(X_pool, permutation), y_pool,
            new_speaker(X_test, permutation), y_test, 10)


@functools.lru_cache(maxsize=None)
def most_shots(case):
    """The largest shot count the case's labelled pool allows: its smallest class (the
    split is stratified, so every seed gives the same counts)."""
    y_pool = tasks(case, 0)[3]
    return int(np.bincount(y_pool).min())


def run_seed(seed, options, progress=None):
    """Train net A once, then every method of the case at every shot count."""
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
    manual_seed(seed)
    case = options["case"]
    X_a, y_a, X_pool, y_pool, X_test, y_test, classes = tasks(case, seed)
    net_a = make_mlp2(options["hidden"], classes)
    fit(net_a, X_a, y_a, optim.Adam(net_a.parameters(), lr=2e-3), options["source_epochs"],
        progress=progress, task="task A epoch")

    rows = []
    shot_counts = parse_shots(options["shots"])
    for shots in shot_counts:
        X_b, y_b = per_class(X_pool, y_pool, shots, seed=seed)
        fitted = []  # rows of the accuracy on the network's own training images
        for method in METHODS[case]:
            # the same fresh weights for every method and sweep: methods differ only in
            # what they copy and freeze, and a shot count's numbers do not depend on
            # which other counts --shots names
            manual_seed(1000 * seed + shots)
            net = make_mlp2(options["hidden"], classes)
            frozen, layers = parse_method(method)
            if layers:
                copy_layers(net_a, net, layers, freeze=frozen)
            trainable = [p for p in net.parameters() if p.requires_grad]
            opt = optim.Adam(trainable, lr=options["lr"])
            train_full_batch(opt, lambda net=net: ops.cross_entropy(net(X_b), y_b),
                             options["steps"])
            rows.append((method, f"target_acc_{shots}shot", accuracy(net, X_test, y_test)))
            fitted.append((method, f"train_acc_{shots}shot", accuracy(net, X_b, y_b)))
        if options["train_acc"]:
            rows += fitted
        if progress is not None:
            progress.update("shots", shots, shot_counts[-1])
    return rows


def check_options(options):
    """Every shot count fits the case's labelled pool."""
    case, shots = options["case"], parse_shots(options["shots"])
    if shots[-1] > most_shots(case):
        raise ValueError(f"option 'shots' (--shots) must be at most {most_shots(case)} with "
                         f"--case {case} (the smallest class of task B's labelled pool has "
                         f"{most_shots(case)} images); got {shots[-1]}")


def notes(options):
    if options["case"] == "images":
        return ["images: task A = digits 0-4, task B = digits 5-9 (chance 0.2); "
                "frozen-n / tuned-n copy the first n layers"]
    return ["speaker: task A = digits 0-9 on half the training images, task B = the same "
            "digits with their pixels permuted, shots from the other half (chance 0.1)"]


def figures(result, directory):
    """The two figures of layer_transfer_plot, titled with the command that drew them."""
    from tlcore.experiments.layer_transfer_plot import plot_layers, plot_shots
    command = EXPERIMENT.command_line(result["options"], result["seeds"])
    return [plot_layers(result, directory, command), plot_shots(result, directory, command)]


# The lecture's data rule, checked in each case on the layers the case copies (n = 2:
# two of the three layers, the most that leaves a layer to train): frozen at the fewest
# default shots, tuned at the most.
FEWEST = f"target_acc_{parse_shots(DEFAULT_SHOTS)[0]}shot"
MOST = f"target_acc_{parse_shots(DEFAULT_SHOTS)[-1]}shot"

EXPERIMENT = Experiment(
    name="layer-transfer",
    section="layer transfer",
    summary="which layers to copy (--case images: the first; speaker: the last) and, "
            "over --shots, whether to freeze or fine-tune them",
    run_seed=run_seed,
    options=(
        Option("case", str, "images", "images (digits 0-4 -> 5-9) or speaker (the ten "
               "digits -> the same digits with permuted pixels)", choices=CASES),
        Option("shots", str, DEFAULT_SHOTS, "labelled task-B images per class, "
               "comma-separated: one row of results each"),
        Option("hidden", int, 64, "units of each hidden layer", minimum=1),
        Option("source_epochs", int, 20, "epochs of task-A training", minimum=1),
        Option("steps", int, 100, "full-batch steps of task-B training", minimum=1),
        Option("lr", float, 1e-2, "Adam learning rate on task B", minimum=0),
        Option("train_acc", int, 0, "1: also report train_acc_{K}shot, the accuracy on "
               "the labelled task-B images themselves (1.0: they are fitted)",
               choices=(0, 1)),
        Option("plot", str, "", "write the figures (accuracy against copied layers and "
               "against shots) to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    # each case's method names are its own, so a run checks only its case's claims
    claims=(
        # --case images
        Claim("frozen-1", "target_acc_3shot", at_least=0.0, baseline="frozen-2",
              source="Yosinski et al. 2014"),
        Claim("tuned-2", "target_acc_3shot", at_least=0.0, baseline="frozen-2",
              source="Yosinski et al. 2014"),
        Claim("frozen-2", FEWEST, at_least=0.0, baseline="tuned-2", source="lecture"),
        Claim("tuned-2", MOST, at_least=0.0, baseline="frozen-2", source="lecture"),
        # --case speaker
        Claim("frozen-last-2", "target_acc_3shot", at_least=0.0, baseline="frozen-first-2",
              source="lecture"),
        Claim("tuned-last-2", "target_acc_3shot", at_least=0.0, baseline="tuned-first-2",
              source="lecture"),
        Claim("frozen-last-2", "target_acc_3shot", at_least=0.0, baseline="scratch",
              source="lecture"),
        Claim("frozen-last-2", FEWEST, at_least=0.0, baseline="tuned-last-2",
              source="lecture"),
        Claim("tuned-last-2", MOST, at_least=0.0, baseline="frozen-last-2",
              source="lecture"),
    ),
    quick=dict(source_epochs=10, steps=60, shots="1,10"),
    check=check_options,
    notes=notes,
    figures=figures,
)
