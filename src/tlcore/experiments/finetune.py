"""finetune: conservative training on the shipped digits (one label per class).

Source task: clean digits, an MLP trained on the training split. Target task: the same
digits rotated by ``--angle`` degrees, with ``--shots`` labelled images per class (drawn
from the rotated training split); both are tested on the held-out split, the target
rotated, the source clean. Methods, each starting from the same source network:

* ``no-transfer``: the source network as it is, on the target.
* ``scratch``: a fresh network trained on the target labels alone.
* ``fine-tune``: every layer copied (copy_layers) and trained on the target labels.
* ``l2-sp``: fine-tune + the L2-SP penalty (Li et al. 2018) towards the source weights.
* ``lwf``: Learning without Forgetting (Li & Hoiem 2016): the copied network keeps its
  old head, a new head learns the target; the old head's outputs on the target images
  are recorded first and kept by ``distillation_loss``. A warm-up trains only the new
  head (the rest frozen), then everything trains jointly.

Metrics: ``target_acc`` (rotated test images) and ``source_acc`` (clean test images
after adaptation: how much of the source task was forgotten). For lwf, source_acc is its
old head's, target_acc its new head's: keeping a head for the old task is the method.

All target training is full-batch Adam on the few labelled images, the new layers at
``--lr``, the copied ones at ``--transferred-lr`` (param_groups). The hyperparameters are
the papers' (alpha 0.1, beta 0.01; T 2) or set once in advance; none is chosen on the
test set. ``--lwf-weight`` weighs distillation_loss, which is scaled by T^2: Li & Hoiem's
lambda_o is this weight times T^2 (4 at T 2).

``--plot DIR``: both accuracies after every training step of every method, drawn by
finetune_plot as ``finetune-curves_seed{seed}.png``. Measuring them changes no result.
"""

from tlcore import nn, ops, optim
from tlcore.autograd import no_grad
from tlcore.datasets import per_class, rotate
from tlcore.experiments.digits_cnn import make_mlp, split_digits
from tlcore.experiments.experiment import Claim, Experiment, Option, positive
from tlcore.experiments.training import accuracy, fit
from tlcore.random import manual_seed
from tlcore.transfer.finetune import (L2SP, copy_layers, distillation_loss, freeze, layers_of,
                                      param_groups, unfreeze)


def rotated(images, degrees):
    """(N, 1, 8, 8) images turned by ``degrees`` counter-clockwise."""
    return rotate(images[:, 0], degrees)[:, None]


def train_full_batch(optimizer, loss_fn, steps, after_step=None):
    """``steps`` gradient steps on one fixed batch: ``loss_fn()`` builds the loss;
    ``after_step()``, if given, is called after each step."""
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()


def fine_tuned_copy(source, options):
    """A new network with every layer of ``source`` copied in, trainable; and the names
    of its copied parameters."""
    target = make_mlp(options["hidden"])
    copied = copy_layers(source, target, len(layers_of(source)), freeze=False)
    return target, copied


def run_seed(seed, options, progress=None):
    manual_seed(seed)
    X_train, X_test, y_train, y_test = split_digits(seed)
    X_few, y_few = per_class(rotated(X_train, options["angle"]), y_train, options["shots"],
                             seed=seed)
    X_target_test = rotated(X_test, options["angle"])

    def scores(method, target_model, source_model=None):
        return [(method, "target_acc", accuracy(target_model, X_target_test, y_test)),
                (method, "source_acc", accuracy(source_model or target_model, X_test, y_test))]

    curves = None  # with --plot: method -> {"target_acc": [...], "source_acc": [...]}
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()  # before training, not after
        curves = {}

    def recorder(method, target_model, source_model=None):
        """With --plot: a function that appends ``method``'s two accuracies to its curve,
        called once now (before training) and then after every step. Without: None."""
        if curves is None:
            return None
        curve = curves[method] = {"target_acc": [], "source_acc": []}

        def record():
            for _, metric, value in scores(method, target_model, source_model):
                curve[metric].append(value)
            for model in (target_model, source_model or target_model):
                model.train()  # accuracy() left it in eval mode; training goes on

        record()
        return record

    source = make_mlp(options["hidden"])
    fit(source, X_train, y_train, optim.Adam(source.parameters(), lr=2e-3),
        options["source_epochs"], progress=progress, task="source epoch")
    rows = scores("no-transfer", source)
    steps, lr, transferred_lr = options["steps"], options["lr"], options["transferred_lr"]

    scratch = make_mlp(options["hidden"])
    opt = optim.Adam(scratch.parameters(), lr=lr)
    train_full_batch(opt, lambda: ops.cross_entropy(scratch(X_few), y_few), steps,
                     recorder("scratch", scratch))
    rows += scores("scratch", scratch)

    for method in ("fine-tune", "l2-sp"):
        model, copied = fine_tuned_copy(source, options)
        penalty = L2SP(model, options["alpha"], options["beta"], copied) \
            if method == "l2-sp" else None  # w^0: the copied weights, before training
        opt = optim.Adam(param_groups(model, copied, lr, transferred_lr))

        def loss_fn(model=model, penalty=penalty):
            loss = ops.cross_entropy(model(X_few), y_few)
            return loss if penalty is None else loss + penalty(model)

        train_full_batch(opt, loss_fn, steps, recorder(method, model))
        rows += scores(method, model)

    # LwF: old network = trunk + old head (copied); the new head starts fresh.
    old, copied = fine_tuned_copy(source, options)
    trunk, old_head = old[:-1], old[-1]
    new_head = nn.Linear(options["hidden"], 10)
    new = nn.Sequential(*trunk, new_head)
    with no_grad():
        recorded = old(X_few)  # the old outputs on the new data, before training
    freeze(old)
    record_lwf = recorder("lwf", new, source_model=old)  # one curve: warm-up, then joint
    warmup = optim.Adam(new_head.parameters(), lr=lr)
    train_full_batch(warmup, lambda: ops.cross_entropy(new(X_few), y_few), options["warmup"],
                     record_lwf)
    unfreeze(old)

    def lwf_loss():
        features = trunk(X_few)
        return (ops.cross_entropy(new_head(features), y_few) + options["lwf_weight"]
                * distillation_loss(old_head(features), recorded, options["temperature"]))

    everything = nn.Sequential(old, new_head)  # one model for the names of param_groups
    opt = optim.Adam(param_groups(everything, [f"0.{name}" for name in copied], lr,
                                  transferred_lr))
    train_full_batch(opt, lwf_loss, steps, record_lwf)
    rows += scores("lwf", new, source_model=old)
    if curves is not None:
        from tlcore.experiments.finetune_plot import plot_curves
        print("wrote " + plot_curves(curves, options, seed))
    return rows


EXPERIMENT = Experiment(
    name="finetune",
    section="conservative training",
    summary="fine-tune, L2-SP and LwF from clean to rotated digits with one label per class",
    run_seed=run_seed,
    options=(
        Option("angle", float, 15.0, "rotation of the target digits, in degrees"),
        Option("shots", int, 1, "labelled target images per class", minimum=1),
        Option("hidden", int, 128, "hidden units of the MLP", minimum=1),
        Option("source_epochs", int, 20, "epochs of source training", minimum=1),
        Option("steps", int, 100, "full-batch steps of target training", minimum=1),
        Option("warmup", int, 50, "LwF: steps that train only the new head first", minimum=0),
        Option("lr", float, 1e-2, "Adam learning rate of new layers", minimum=0),
        Option("transferred_lr", float, 1e-3, "Adam learning rate of copied layers", minimum=0),
        Option("alpha", float, 0.1, "L2-SP weight of ||w_S - w_S^0||^2 / 2", minimum=0),
        Option("beta", float, 0.01, "L2-SP weight of ||w_new||^2 / 2", minimum=0),
        Option("temperature", float, 2.0, "LwF distillation temperature",
               validate=positive("temperature")),
        Option("lwf_weight", float, 1.0, "LwF weight of the T^2-scaled distillation loss "
               "(Li & Hoiem's lambda_o = this x T^2)", minimum=0),
        Option("plot", str, "", "write the figure (both accuracies over the training steps "
               "of each method) to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(
        Claim("fine-tune", "target_acc", at_least=0.10, baseline="scratch", source="lecture"),
        Claim("lwf", "source_acc", at_least=0.0, baseline="l2-sp", source="tlcore"),
        Claim("l2-sp", "source_acc", at_least=0.0, baseline="fine-tune", source="lecture"),
    ),
    quick=dict(source_epochs=10, steps=60, warmup=30),
)
