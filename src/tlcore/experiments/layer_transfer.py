"""layer-transfer: which layers of a trained network transfer (Yosinski et al. 2014).

Yosinski, Clune, Bengio & Lipson, "How transferable are features in deep neural
networks?" (NeurIPS 2014), on the shipped digits. Task A: digits 0-4, all their training
images. Task B: digits 5-9, 3 labelled images per class; both tested on the held-out
split. The network is an MLP with two hidden layers, 64 -> h -> h -> 5 (three layers).

Methods (the paper's AnB and AnB+ for n = 1, 2):

* ``scratch``: the network trained on B alone.
* ``frozen-n``: the first n layers copied from the A network and frozen, the rest
  trained on B from a fresh start.
* ``tuned-n``: the first n layers copied, then the whole network trained on B.

Metric ``target_acc``: accuracy on the B test images. The paper finds the frozen
accuracy falling as n grows (upper layers are specific to A, and cutting between
co-adapted layers hurts), while fine-tuning the copied layers recovers and even beats
training on B alone.
"""

from tlcore import manual_seed, nn, ops, optim
from tlcore.datasets import per_class
from tlcore.experiments.digits_cnn import split_digits
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.finetune import train_full_batch
from tlcore.experiments.training import accuracy, fit
from tlcore.transfer.finetune import copy_layers


def make_mlp2(hidden=64, classes=5):
    """Three layers (two hidden), so that there is a first and a second layer to copy."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def run_seed(seed, options, progress=None):
    manual_seed(seed)
    X_train, X_test, y_train, y_test = split_digits(seed)
    in_a, in_b, test_b = y_train < 5, y_train >= 5, y_test >= 5
    X_b, y_b = per_class(X_train[in_b], y_train[in_b] - 5, options["shots"], seed=seed)
    X_b_test, y_b_test = X_test[test_b], y_test[test_b] - 5

    net_a = make_mlp2(options["hidden"])
    fit(net_a, X_train[in_a], y_train[in_a], optim.Adam(net_a.parameters(), lr=2e-3),
        options["source_epochs"], progress=progress, task="task A epoch")

    rows = []
    for method in ("scratch", "frozen-1", "frozen-2", "tuned-1", "tuned-2"):
        net = make_mlp2(options["hidden"])
        if method != "scratch":
            kind, n = method.split("-")
            copy_layers(net_a, net, int(n), freeze=kind == "frozen")
        trainable = [p for p in net.parameters() if p.requires_grad]
        opt = optim.Adam(trainable, lr=options["lr"])
        train_full_batch(opt, lambda net=net: ops.cross_entropy(net(X_b), y_b),
                         options["steps"])
        rows.append((method, "target_acc", accuracy(net, X_b_test, y_b_test)))
    return rows


EXPERIMENT = Experiment(
    name="layer-transfer",
    section="layer transfer",
    summary="digits 0-4 -> 5-9 with 3 labels per class: first n layers frozen or fine-tuned",
    run_seed=run_seed,
    options=(
        Option("shots", int, 3, "labelled task-B images per class", minimum=1),
        Option("hidden", int, 64, "units of each hidden layer", minimum=1),
        Option("source_epochs", int, 20, "epochs of task-A training", minimum=1),
        Option("steps", int, 100, "full-batch steps of task-B training", minimum=1),
        Option("lr", float, 1e-2, "Adam learning rate on task B", minimum=0),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(
        Claim("frozen-1", "target_acc", at_least=0.0, baseline="frozen-2"),
        Claim("tuned-2", "target_acc", at_least=0.0, baseline="frozen-2"),
    ),
    quick=dict(source_epochs=10, steps=60),
)
