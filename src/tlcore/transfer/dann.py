"""Domain-adversarial training (DANN; Ganin et al., "Domain-adversarial training of
neural networks", JMLR 2016).

Three parts share one feature extractor G_f:

    x -> G_f -> features h -> G_y (label predictor)       -> class logits
                          \\-> GRL -> G_d (domain classifier) -> domain logit

Labelled source samples train G_y; source and (unlabelled) target samples train G_d to
tell the domains apart. The gradient reversal layer (GRL) is the identity forward and
multiplies the gradient by -lambda on the way back, so one backward pass of

    L = L_y(source) + w * L_d(source and target)

moves G_y and G_d down their own losses (dL_y/d theta_y, w dL_d/d theta_d) while G_f
follows dL_y/d theta_f - lambda w dL_d/d theta_f: the features become good for the labels
and bad for telling the domains apart, and a classifier trained on source features then
works on target features too.

Section 5.2.2 of the paper: lambda grows over training as ``grl_lambda(p)`` (p the
progress from 0 to 1), so the noisy domain signal of the first steps does not disturb the
features, and the learning rate decays as ``annealed_lr(p, lr0)``; the domain-loss weight
w stays 1. The source-only baseline is the same model and loop with the adversarial term
off (lambda 0): the domain classifier still learns, as a probe of how well the features
tell the domains apart, but nothing flows back from it into the features.
"""

import math
import numbers

import numpy as np

from tlcore import nn, ops
from tlcore.autograd import Tensor, no_grad
from tlcore.random import generator


def _check_progress(p):
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ValueError(f"p (the training progress) must be a number in [0, 1], got {p!r}")
    return float(p)


def grl_lambda(p, gamma=10.0):
    """lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at the start (p = 0), near 1 at the end.

    p = 0.1 gives 0.462, p = 0.5 gives 0.987 (gamma 10, the paper's value). Multiply by a
    lambda_max to end elsewhere than 1.
    """
    p = _check_progress(p)
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 < gamma < math.inf:
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p, lr0, alpha=10.0, beta=0.75):
    """mu_p = lr0 / (1 + alpha p)^beta: lr0 at the start, lr0 / 11^0.75 (about lr0 / 6)
    at the end with the paper's alpha 10, beta 0.75."""
    p = _check_progress(p)
    for name, value in (("lr0", lr0), ("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not 0 <= value < math.inf:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return lr0 / (1.0 + alpha * p) ** beta


class DANN(nn.Module):
    """feature_extractor G_f, label_predictor G_y (class logits) and domain_classifier G_d
    (one logit per sample: > 0 says "target"), with a GradientReversal between G_f and G_d.

    ``model(x)`` gives the class logits, so a trained DANN predicts like any classifier;
    ``model.domain_logit(x)`` goes through the reversal to the domain classifier. Set
    ``model.grl.lambda_`` (or pass ``lambda_`` to ``training_step``) between steps.
    """

    def __init__(self, feature_extractor, label_predictor, domain_classifier, lambda_=1.0):
        super().__init__()
        for name, module in (("feature_extractor", feature_extractor),
                             ("label_predictor", label_predictor),
                             ("domain_classifier", domain_classifier)):
            if not isinstance(module, nn.Module):
                raise TypeError(f"{name} must be an nn.Module, got {type(module).__name__}")
        self.feature_extractor = feature_extractor
        self.label_predictor = label_predictor
        self.grl = nn.GradientReversal(lambda_)
        self.domain_classifier = domain_classifier

    def forward(self, x):
        return self.label_predictor(self.feature_extractor(x))

    def domain_logit(self, x):
        """G_d(GRL(G_f(x))) as a vector: one logit per sample."""
        return self._domain_logit(self.feature_extractor(x))

    def _domain_logit(self, features):
        logit = self.domain_classifier(self.grl(features))
        if logit.ndim != 2 or logit.shape[1] != 1:
            raise ValueError(f"domain_classifier must return one logit per sample, shape "
                             f"(N, 1), got shape {logit.shape}")
        return logit.reshape(-1)

    def losses(self, x_source, y_source, x_target=None):
        """(label loss on the source, domain loss on source and target or None, domain
        accuracy or None): the two terms of the objective, as tensors with a graph.

        The domain loss is the mean binary cross-entropy over the source (domain 0) and
        target (domain 1) samples together; without ``x_target`` there is none.
        """
        features_source = self.feature_extractor(x_source)
        label_loss = ops.cross_entropy(self.label_predictor(features_source), y_source)
        if x_target is None:
            return label_loss, None, None
        features_target = self.feature_extractor(x_target)
        logit = self._domain_logit(ops.concat([features_source, features_target], axis=0))
        n_source = features_source.shape[0]
        domain = np.zeros(logit.shape, dtype=logit.dtype)
        domain[n_source:] = 1.0
        domain_loss = ops.binary_cross_entropy_with_logits(logit, domain)
        domain_acc = float(np.mean((logit.data > 0) == (domain > 0.5)))
        return label_loss, domain_loss, domain_acc

    def training_step(self, optimizer, x_source, y_source, x_target, lambda_=None,
                      domain_weight=1.0, adversarial=True):
        """One update on a labelled source batch and an unlabelled target batch.

        Minimises L_y + domain_weight * L_d in one backward pass; the GRL turns the
        domain term's gradient into -lambda_ * domain_weight * dL_d for the features.
        ``lambda_`` (None: keep ``self.grl.lambda_``) is set on the GRL before the step.
        ``adversarial=False`` is the source-only baseline: lambda 0 for this step only (the
        GRL's lambda is as it was afterwards), so the features and the label predictor
        learn from the source labels alone, whatever the target batch (the domain
        classifier still learns, as a probe). Returns the step's diagnostics
        {"label_loss", "domain_loss", "domain_acc", "lambda"}.
        """
        if not isinstance(domain_weight, numbers.Real) or not domain_weight >= 0:
            raise ValueError(f"domain_weight must be a number >= 0, got {domain_weight!r}")
        if lambda_ is not None:
            self.grl.lambda_ = lambda_
        kept = self.grl.lambda_
        step_lambda = kept if adversarial else 0.0
        self.grl.lambda_ = step_lambda
        try:
            self.train()
            label_loss, domain_loss, domain_acc = self.losses(x_source, y_source, x_target)
            loss = label_loss + domain_loss * float(domain_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        finally:
            self.grl.lambda_ = kept
        return {"label_loss": float(label_loss.data), "domain_loss": float(domain_loss.data),
                "domain_acc": domain_acc, "lambda": step_lambda}


def _as_array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def train_dann(model, optimizer, X_source, y_source, X_target, epochs, batch_size=32,
               lambda_max=1.0, gamma=10.0, domain_weight=1.0, adversarial=True,
               anneal_lr=True, progress=None, task="epoch"):
    """The DANN training loop; returns one dict of diagnostics per epoch.

    Each epoch visits the labelled source once, ``batch_size`` at a time, in a fresh
    random order (tlcore's generator); each source batch is paired with a batch of as
    many target samples, drawn without replacement in a random order that restarts when
    the target runs out. At step k of K, p = k / K; lambda = lambda_max * grl_lambda(p,
    gamma), and with ``anneal_lr`` every param group's lr is annealed_lr(p, lr0) with lr0
    that group's lr at the start (so per-group rates keep their ratios).
    ``adversarial=False`` is the source-only baseline on the very same loop.

    Each epoch's dict holds the means over its steps of "label_loss", "domain_loss",
    "domain_acc" (of the domain classifier on its training batches: about 0.5 when the
    features no longer tell the domains apart) and the last step's "lambda" and "lr".
    """
    X_source, y_source, X_target = _as_array(X_source), _as_array(y_source), _as_array(X_target)
    if len(X_source) != len(y_source):
        raise ValueError(f"X_source and y_source must hold as many samples, got "
                         f"{len(X_source)} and {len(y_source)}")
    if len(X_source) == 0 or len(X_target) == 0:
        raise ValueError("X_source and X_target must each hold at least one sample")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    start_lrs = [group["lr"] for group in optimizer.param_groups]
    rng = generator()
    steps_per_epoch = math.ceil(len(X_source) / batch_size)
    total_steps = epochs * steps_per_epoch
    target_order = np.empty(0, dtype=np.intp)
    history, step = [], 0
    for epoch in range(epochs):
        source_order = rng.permutation(len(X_source))
        sums = {"label_loss": 0.0, "domain_loss": 0.0, "domain_acc": 0.0}
        for start in range(0, len(X_source), batch_size):
            index = source_order[start:start + batch_size]
            while len(target_order) < len(index):
                target_order = np.concatenate([target_order, rng.permutation(len(X_target))])
            target_index, target_order = target_order[:len(index)], target_order[len(index):]
            p = step / total_steps
            if anneal_lr:
                for group, lr0 in zip(optimizer.param_groups, start_lrs):
                    group["lr"] = annealed_lr(p, lr0)
            stats = model.training_step(optimizer, X_source[index], y_source[index],
                                        X_target[target_index],
                                        lambda_=lambda_max * grl_lambda(p, gamma),
                                        domain_weight=domain_weight, adversarial=adversarial)
            for key in sums:
                sums[key] += stats[key]
            step += 1
        history.append({**{key: value / steps_per_epoch for key, value in sums.items()},
                        "lambda": stats["lambda"], "lr": optimizer.param_groups[0]["lr"]})
        if progress is not None:
            progress.update(task, epoch + 1, epochs)
    return history


def features(model, X, batch_size=1024):
    """G_f(X) as an array, in evaluation mode without a graph (for plots and probes)."""
    model.eval()
    X = _as_array(X)
    with no_grad():
        return np.concatenate([model.feature_extractor(X[i:i + batch_size]).numpy()
                               for i in range(0, len(X), batch_size)])
