"""dann-moons: domain-adversarial training on rotated two moons (after Ganin et al.,
JMLR 2016, section 5.1.1).

Source: 300 labelled points of two moons (noise 0.1). Target: a fresh sample of 300
points turned by ``--angle`` degrees, unlabelled. Both methods train the same network
with the same loop (``tlcore.transfer.dann.train_dann``): ``source-only`` with the
adversarial term off, ``dann`` with the gradient reversal on, lambda growing as
``lambda_max * grl_lambda(p)``. Rows: ``target_acc`` on a further rotated sample,
``source_acc`` on a further source sample, both of the model after the last epoch (no
model selection on the target), and the diagnostic ``domain_acc``: the domain
classifier's accuracy on its training batches over the last epoch, which a working DANN
drives toward 0.5 (for source-only it is a probe of how separable the domains stay).

The rotation turns the points about the origin (a plain rotation matrix; the paper
names no centre) by default; ``--center mean`` turns them about the source's mean instead, which
keeps the two domains' clouds on top of each other (a smaller shift: the source-only
model already does better there, and DANN gains less).

``--plot DIR`` also writes, for each seed, the lecture's picture: the decision
boundaries of both models over both domains, and their hidden features (2-D PCA)
coloured by domain; and the training curves: the domain classifier's accuracy and
lambda_p epoch by epoch (``dann_plot``; needs matplotlib: ``pip install 'tlcore[plot]'``).
"""

import numpy as np

from tlcore import nn, optim
from tlcore.datasets import make_moons, rotate
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.training import accuracy
from tlcore.random import manual_seed
from tlcore.transfer.dann import DANN, train_dann


def make_relu_dann(hidden=32):
    """Two ReLU hidden layers; the domain classifier is linear on the last one."""
    features = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return DANN(features, nn.Linear(hidden, 2), nn.Linear(hidden, 1))


def make_ganin_dann(hidden=15):
    """The paper's shallow network: one hidden layer of 15 sigmoid units, shared by the
    label predictor and the (linear) domain classifier."""
    return DANN(nn.Sequential(nn.Linear(2, hidden), nn.Sigmoid()),
                nn.Linear(hidden, 2), nn.Linear(hidden, 1))


# arch -> (model maker, initial SGD learning rate). The sigmoid network needs a ten times
# larger step to fit the source moons in 100 epochs (chosen on source accuracy alone).
ARCHS = {"relu": (make_relu_dann, 0.05), "ganin": (make_ganin_dann, 0.5)}


def moons_domains(seed, angle, center="origin", n=300, noise=0.1):
    """Source train/test and target train/test: four independent two-moons samples, the
    target ones turned by ``angle`` degrees about the origin or the source's mean."""
    rng = np.random.default_rng(seed)
    X_source, y_source = make_moons(n, noise, seed=rng)
    X_source_test, y_source_test = make_moons(n, noise, seed=rng)
    X_target, y_target = make_moons(n, noise, seed=rng)
    X_target_test, y_target_test = make_moons(n, noise, seed=rng)
    pivot = (0.0, 0.0) if center == "origin" else X_source.mean(axis=0)
    return {"source": (X_source, y_source), "source_test": (X_source_test, y_source_test),
            "target": (rotate(X_target, angle, center=pivot), y_target),
            "target_test": (rotate(X_target_test, angle, center=pivot), y_target_test)}


def train_moons(method, data, options, progress=None):
    """A model trained by ``method`` ("source-only" or "dann") on the source labels and the
    unlabelled target points; returns (model, per-epoch history)."""
    make_model, lr = ARCHS[options["arch"]]
    model = make_model()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    (X_source, y_source), (X_target, _) = data["source"], data["target"]
    history = train_dann(model, optimizer, X_source, y_source, X_target, options["epochs"],
                         options["batch_size"], lambda_max=options["lambda_max"],
                         adversarial=(method == "dann"), progress=progress,
                         task=f"{method} epoch")
    return model, history


def run_seed(seed, options, progress=None):
    if options["plot"]:
        from tlcore.experiments import figures
        figures.require_matplotlib()  # before training, not after
    data = moons_domains(seed, options["angle"], options["center"])
    rows, models, histories = [], {}, {}
    for method in ("source-only", "dann"):
        manual_seed(seed)  # both methods: the same initialisation and the same batches
        model, history = train_moons(method, data, options, progress)
        models[method], histories[method] = model, history
        rows.append((method, "target_acc", accuracy(model, *data["target_test"])))
        rows.append((method, "source_acc", accuracy(model, *data["source_test"])))
        rows.append((method, "domain_acc", history[-1]["domain_acc"]))
    if options["plot"]:
        from tlcore.experiments import dann_plot
        command = EXPERIMENT.command_line(options, (seed,))
        print("wrote " + dann_plot.plot_moons(models, data, options, seed, command))
        print("wrote " + dann_plot.plot_training(histories, options, seed, "dann-moons",
                                                 command))
    return rows


EXPERIMENT = Experiment(
    name="dann-moons",
    section="domain-adversarial training",
    summary="DANN vs source-only on two moons rotated by --angle: target and source accuracy",
    run_seed=run_seed,
    options=(
        Option("angle", float, 35.0, "rotation of the target domain, in degrees"),
        Option("arch", str, "relu", "network: two ReLU layers of 32, or the paper's 15 sigmoid "
               "units", choices=("relu", "ganin")),
        Option("center", str, "origin", "turn the target about the origin or the source mean",
               choices=("origin", "mean")),
        Option("epochs", int, 100, "training epochs per model", minimum=1),
        Option("batch_size", int, 32, "minibatch size (source and target alike)", minimum=1),
        Option("lambda_max", float, 1.0, "the GRL coefficient reached at the end of training",
               minimum=0),
        Option("plot", str, "", "write the decision-boundary, feature and training-curve "
               "figures to this directory (needs matplotlib)"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(Claim("dann", "target_acc", at_least=0.08, baseline="source-only",
                  source="lecture"),
            Claim("dann", "source_acc", at_least=0.97, source="engine check")),
    quick=dict(),  # already short: --quick runs it at one seed
)
