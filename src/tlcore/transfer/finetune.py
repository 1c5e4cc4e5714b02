"""Model fine-tuning: layer transfer and conservative training.

A network trained on a source task with plenty of labels starts the target task, which
has few. Two ways to keep what the source taught:

Layer transfer copies some layers of the source network into the target network and
either freezes them (the target labels train the rest) or fine-tunes them at a smaller
learning rate than the new layers::

    names = copy_layers(source, target, 2)                # the first two layers, frozen
    names = copy_layers(source, target, 2, freeze=False)  # copied, trained as well
    opt = optim.Adam(param_groups(target, names, lr=1e-2, transferred_lr=1e-3))

Conservative training keeps the fine-tuned network close to the source one:

* in parameter space, L2-SP (Li, Grandvalet & Davoine, "Explicit inductive bias for
  transfer learning with convolutional networks", ICML 2018): the penalty
  Omega(w) = alpha/2 ||w_S - w_S^0||^2 + beta/2 ||w_new||^2 pulls the transferred weights
  w_S towards their pre-trained values w_S^0 instead of towards 0 (it replaces weight
  decay), and decays the new ones as usual;
* in output space, Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017):
  the source network's outputs on the target data are recorded before training, and a
  distillation loss keeps the old head giving them while a new head learns the target.
"""

import numbers

import numpy as np

from tlcore import nn, ops
from tlcore.autograd import Tensor, raw


# -- layer transfer ------------------------------------------------------------------------


def freeze(module):
    """Stop training ``module``: its parameters no longer require grad, so backward gives
    them no gradient and an optimizer skips them (no update, no weight decay, no state).
    A gradient left from before is dropped. Batch-norm running statistics still update in
    train mode: call ``module.eval()`` to fix those too. Returns ``module``."""
    _check_module("module", module)
    return _freeze(module)


def _freeze(module):
    for param in module.parameters():
        param.requires_grad_(False)
        param.grad = None
    return module


def unfreeze(module):
    """Train ``module`` again: every parameter requires grad. Returns ``module``."""
    _check_module("module", module)
    return module.requires_grad_(True)


def layers_of(model):
    """The layers of a Sequential-like model: its direct children that hold parameters,
    as (name, module) in order. ReLU, pooling and Flatten have nothing to transfer, so
    ``Sequential(Flatten(), Linear, ReLU(), Linear)`` has two layers, '1' and '3'."""
    _check_module("model", model)
    return [(name, child) for name, child in model.named_children()
            if next(iter(child.parameters()), None) is not None]


def copy_layers(source, target, layers, freeze=True):
    """Copy layers of the trained ``source`` network into ``target``; return the names of
    the target parameters that now hold source values (for ``L2SP`` and ``param_groups``).

    ``layers``: module names (``["0", "2"]``, dotted names such as ``"trunk.0"`` for a
    nested layer), or an int k: the first k layers (k > 0) or the last |k| (k < 0) of a
    Sequential-like model, counting only the children that hold parameters
    (``layers_of``). Which layers is a choice, not a constant:

    * images: copy the first layers. The first layers of a vision network detect edges,
      strokes and blobs, features that serve any image task; the last layers are specific
      to the source classes (Yosinski et al., "How transferable are features in deep
      neural networks?", NeurIPS 2014). Keep the generic front, retrain the specific end.
    * speech: copy the last layers. Speakers differ in their voices, i.e. in the acoustic
      input: the first layers map one speaker's sounds to pronunciation-like features,
      the last layers map those features to phonemes and words, which all speakers share.
      So a new speaker retrains the first layers and keeps the last ones.

    Parameters and buffers (batch-norm statistics) are copied as new arrays: training the
    target never changes the source. ``freeze=True`` freezes the copied layers in the
    target. Every name and shape is checked before anything is copied.
    """
    _check_module("source", source)
    _check_module("target", target)
    names = _layer_names(target, layers)
    source_modules = dict(source.named_modules())
    target_modules = dict(target.named_modules())
    states = {}
    for name in names:
        for side, modules, other in (("source", source_modules, source),
                                     ("target", target_modules, target)):
            if name not in modules:
                known = [n for n, _ in layers_of(other)] or ["none"]
                raise ValueError(f"layers: {side} has no module {name!r}; its layers: "
                                 f"{', '.join(known)}")
        state = source_modules[name].state_dict()
        have = target_modules[name].state_dict()
        if list(state) != list(have) or any(state[k].shape != have[k].shape for k in state):
            shapes = {k: v.shape for k, v in state.items()}
            wanted = {k: v.shape for k, v in have.items()}
            raise ValueError(f"layers: layer {name!r} does not fit: the source has "
                             f"{shapes}, the target {wanted}")
        states[name] = state
    copied = []
    for name in names:
        module = target_modules[name]
        module.load_state_dict(states[name])
        if freeze:
            _freeze(module)
        prefix = f"{name}." if name else ""
        copied += [prefix + param_name for param_name, _ in module.named_parameters()]
    return copied


def _layer_names(model, layers):
    """The module names ``layers`` stands for (see copy_layers)."""
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        found = [name for name, _ in layers_of(model)]
        k = int(layers)
        if k == 0 or abs(k) > len(found):
            raise ValueError(f"layers={k} is out of range: the model has {len(found)} layers "
                             f"with parameters ({', '.join(found) or 'none'}); use 1..{len(found)} "
                             f"for the first ones or -1..-{len(found)} for the last ones")
        return found[:k] if k > 0 else found[k:]
    if isinstance(layers, str) or not hasattr(layers, "__iter__"):
        raise TypeError(f"layers must be a list of module names or an int, got {layers!r}")
    names = list(layers)
    if not names:
        raise ValueError("layers is empty: name at least one layer to copy")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layers must hold module names (str), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"layers names a module twice: {names}")
    return names


def param_groups(model, transferred, lr, transferred_lr):
    """Optimizer param groups: the new parameters of ``model`` learn at ``lr``, the
    ``transferred`` ones (names, as copy_layers returns them) at ``transferred_lr``,
    usually smaller, so fine-tuning adjusts the copied layers without wiping them out.

    Frozen parameters are left out (the optimizer would skip them anyway); so is a group
    with no parameters. Pass the result to any optimizer: ``Adam(param_groups(...))``.
    """
    _check_module("model", model)
    named = dict(model.named_parameters())
    transferred = _check_names("transferred", transferred, named)
    new = [p for name, p in named.items() if name not in transferred and p.requires_grad]
    old = [named[name] for name in named if name in transferred and named[name].requires_grad]
    groups = [{"params": params, "lr": rate}
              for params, rate in ((new, lr), (old, transferred_lr)) if params]
    if not groups:
        raise ValueError("model has no parameter that requires grad: nothing to train")
    return groups


# -- conservative training -----------------------------------------------------------------


class L2SP(nn.Module):
    """The L2-SP penalty (Li et al. 2018):

        Omega(w) = alpha/2 sum_S ||w_S - w_S^0||^2 + beta/2 sum_new ||w_new||^2

    ``reference``: the pre-trained values w^0, a Module or a {name: array} state dict,
    keyed like the model the penalty is called on. The target model itself right after
    ``copy_layers`` will do: its transferred parameters then hold the source values.
    They are copied now (w^0 is a constant: no gradient reaches it, training never moves
    it). ``transferred``: the names of the parameters in S (copy_layers' return value);
    every other parameter of the model is new.

    ``penalty(model)`` (or a {name: tensor} dict) returns Omega as a 0-d tensor; add it to
    the task loss. Its gradient is alpha (w_S - w_S^0) and beta w_new. It replaces weight
    decay: train with the optimizer's weight_decay=0, or the transferred weights would
    also be pulled towards 0. Frozen parameters do not move, so their terms are constant
    and left out.
    """

    def __init__(self, reference, alpha, beta, transferred):
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta)):
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not 0 <= value < float("inf")):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if isinstance(reference, nn.Module):
            reference = reference.state_dict()
        if not isinstance(reference, dict):
            raise TypeError("reference must be a Module or a {name: array} state dict, got "
                            f"{type(reference).__name__}")
        self.alpha, self.beta = float(alpha), float(beta)
        names = _check_names("transferred", transferred, reference, what="reference")
        self.transferred = tuple(name for name in reference if name in names)
        self.reference = {name: np.array(raw(reference[name]), copy=True)
                          for name in self.transferred}

    def forward(self, model):
        if isinstance(model, nn.Module):
            named = dict(model.named_parameters())
        elif isinstance(model, dict):
            named = model
        else:
            raise TypeError("call L2SP with the model (a Module) or a {name: tensor} dict, got "
                            f"{type(model).__name__}")
        _check_names("transferred", self.transferred, named, what="the model")
        terms_s, terms_new = [], []
        for name, w in named.items():
            if not isinstance(w, Tensor):
                raise TypeError(f"parameter {name!r} must be a Tensor, got {type(w).__name__}")
            if not w.requires_grad:
                continue  # frozen: a constant
            if name in self.reference:
                w0 = self.reference[name]
                if w0.shape != w.shape:
                    raise ValueError(f"parameter {name!r} has shape {w.shape}, its reference "
                                     f"{w0.shape}")
                if self.alpha:
                    diff = w - w0
                    terms_s.append((diff * diff).sum())
            elif self.beta:
                terms_new.append((w * w).sum())
        parts = [(weight / 2) * sum(terms[1:], terms[0])
                 for weight, terms in ((self.alpha, terms_s), (self.beta, terms_new)) if terms]
        if not parts:  # nothing trainable, or alpha = beta = 0
            return Tensor(np.zeros((), dtype=np.float32))
        return sum(parts[1:], parts[0])

    def extra_repr(self):
        return f"alpha={self.alpha:g}, beta={self.beta:g}, transferred={len(self.transferred)}"


def distillation_loss(student_logits, teacher_logits, T=2.0):
    """The output-level conservation loss of Learning without Forgetting (Li & Hoiem):

        L = T^2 * (1/N) sum_n KL(softmax(teacher_n / T) || softmax(student_n / T))

    ``teacher_logits``: the old network's outputs on the new data, recorded before
    training (a constant: no gradient flows to it). ``student_logits``: the old head's
    outputs now, (N, C) like the teacher's. T > 1 softens both distributions, so the
    loss also keeps the old network's ranking of the wrong classes.

    KL rather than LwF's cross-entropy -sum p log q: they differ by the teacher's entropy,
    a constant, so the gradients are the same, and KL is 0 when the student matches.
    Gradient: dL/dz_n = T (softmax(z_n/T) - softmax(t_n/T)) / N, zero where they agree.

    Scaled by T^2 (Hinton, Vinyals & Dean 2015): without it the gradient shrinks as 1/T,
    so changing T would silently change the weight of the conservation term against the
    task loss. With it, that weight (lambda_o in LwF) means the same at any T. Li & Hoiem
    do not scale; their lambda_o = 1 at T = 2 is a weight of 1/4 here.
    """
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not 0 < T < float("inf"):
        raise ValueError(f"T (the temperature) must be a finite number > 0, got {T!r}")
    teacher = raw(teacher_logits)
    if not hasattr(teacher, "shape"):
        teacher = np.asarray(teacher)
    if np.shape(raw(student_logits)) != teacher.shape or teacher.ndim != 2:
        raise ValueError("student_logits and teacher_logits must both have shape (N, C), got "
                         f"{np.shape(raw(student_logits))} and {teacher.shape}")
    scaled = teacher / T
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    targets = np.exp(scaled)
    targets /= targets.sum(axis=1, keepdims=True)
    log_q = ops.log_softmax(student_logits / T, axis=1)
    return ops.kl_div(log_q, targets.astype(log_q.dtype), reduction="batchmean") * (T * T)


# -- checks --------------------------------------------------------------------------------


def _check_module(name, value):
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be an nn.Module, got {type(value).__name__}")


def _check_names(argument, names, known, what="model"):
    """``names`` as a set, after checking each is a str that ``known`` holds."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TypeError(f"{argument} must be a list of parameter names, got {names!r}")
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{argument} must hold parameter names (str), got {name!r}")
        if name not in known:
            raise ValueError(f"{argument}: {what} has no parameter {name!r}; it has: "
                             f"{', '.join(known) or 'none'}")
    return set(names)
