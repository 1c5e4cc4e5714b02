"""Multi-task learning with shared layers (Caruana 1997).

Layers that several tasks share compute features for all of them; training on every
task at once makes those features serve all of them, so a task with few labels borrows
from tasks with many. The lecture draws two layouts:

1. shared lower layers (the trunk ``phi``) and a head ``h_t`` per task:
   ``y_t = h_t(phi(x))``, every task reading the same input;
2. an input layer ``g_t`` per task, shared middle layers ``phi``, a head per task:
   ``y_t = h_t(phi(g_t(x_t)))``, for tasks whose inputs differ (its example:
   multilingual speech recognition, each language with its own input and output layers
   around shared hidden layers).

Either way the loss is a weighted sum over tasks,

    L = sum_t w_t * mean_{n in S_t} loss_t(y_t(x_n), y_n^t),

where S_t is the set of samples that have a label for task t (a boolean mask per
task): the labels of different tasks may exist on different subsets of the data.
A sample without a label for t adds nothing to task t's term, and a task with no
labelled sample in a batch adds zero.
"""

import numbers

import numpy as np

from tlcore import nn, ops
from tlcore.autograd import no_grad


class MultiTaskModel(nn.Module):
    """``MultiTaskModel(trunk, heads, inputs=None)``: ``heads`` maps a task name to its
    head module (kept in an ``nn.ModuleDict``).

    - ``inputs=None`` (layout 1): ``model(x)`` returns ``{task: head(trunk(x))}``, the
      trunk computed once for all heads.
    - ``inputs={task: Module}`` (layout 2), one for every task: ``model(x)`` returns
      ``{task: head(trunk(inputs[task](x)))}``; the trunk is the shared middle.

    ``model(x, tasks=[...])`` computes only those tasks. ``model({task: x_task})`` gives
    each task its own batch (tasks with different inputs, or the samples labelled for
    each task) and computes the tasks it names.
    """

    def __init__(self, trunk, heads, inputs=None):
        super().__init__()
        if not isinstance(trunk, nn.Module):
            raise TypeError(f"trunk must be a Module, got {type(trunk).__name__}")
        _check_modules("heads", heads)
        self.trunk = trunk
        self.heads = nn.ModuleDict(dict(heads.items()))
        self.inputs = None
        if inputs is not None:
            _check_modules("inputs", inputs)
            if set(inputs) != set(heads):
                raise ValueError(f"inputs must have one module for each task of heads "
                                 f"{list(heads)}, got {list(inputs)}")
            self.inputs = nn.ModuleDict({task: inputs[task] for task in heads})

    @property
    def tasks(self):
        return list(self.heads)

    def forward(self, x, tasks=None):
        if isinstance(x, dict):
            if tasks is not None:
                raise ValueError("give tasks or a dict {task: x}, not both: the dict's "
                                 "keys are the tasks")
            check_tasks("x", x, self.tasks)
            return {task: self._task(task, batch) for task, batch in x.items()}
        tasks = self.tasks if tasks is None else list(tasks)
        check_tasks("tasks", tasks, self.tasks)
        if self.inputs is None:
            features = self.trunk(x)
            return {task: self.heads[task](features) for task in tasks}
        return {task: self._task(task, x) for task in tasks}

    def _task(self, task, x):
        """Task ``task``'s output on its input ``x``: its own input layer (layout 2),
        the shared trunk, its head."""
        if self.inputs is not None:
            x = self.inputs[task](x)
        return self.heads[task](self.trunk(x))


def _check_modules(name, modules):
    """Raise unless ``modules`` is a non-empty dict of Modules."""
    if not hasattr(modules, "items") or len(modules) == 0:
        raise ValueError(f"{name} must be a non-empty dict {{task: Module}}, got {modules!r}")
    for task, module in modules.items():
        if not isinstance(module, nn.Module):
            raise TypeError(f"{name}[{task!r}] must be a Module, got {type(module).__name__}")


def check_tasks(name, given, known):
    """Raise a ValueError naming ``name`` if it holds a task that is not in ``known``."""
    unknown = [task for task in given if task not in known]
    if unknown:
        raise ValueError(f"{name} names unknown task {unknown[0]!r}; the tasks are {list(known)}")


def _labelled(task, target, mask, n):
    """The indices of the samples that have a label for ``task``, after checking the
    shapes of its target and mask against the n samples of the batch."""
    if len(target) != n:
        raise ValueError(f"targets[{task!r}] holds {len(target)} labels for {n} samples")
    if mask is None:
        return np.arange(n)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise ValueError(f"masks[{task!r}] must be a boolean array of shape ({n},), got "
                         f"dtype {mask.dtype} and shape {mask.shape}")
    return np.flatnonzero(mask)


def multitask_loss(outputs, targets, masks=None, weights=None, loss_fn=ops.cross_entropy):
    """The weighted sum over tasks of each task's mean loss on its labelled samples.

    outputs: ``{task: output}`` (what MultiTaskModel returns). targets: ``{task: labels}``
    for the tasks to train, one label per sample (a masked sample's label is never
    read, so any placeholder such as -1 will do). masks: ``{task: bool array}``, True
    where the sample has a label; a task left out is labelled everywhere. weights:
    ``{task: w_t >= 0}``, default 1. ``loss_fn(output_rows, labels)`` is a mean loss
    (cross-entropy by default).

    Returns a scalar tensor. When no task has a labelled sample it is a zero that
    still hangs on the graph, so ``backward()`` runs and gives zero gradients.
    """
    masks, weights = masks or {}, weights or {}
    check_tasks("targets", targets, outputs)
    check_tasks("masks", masks, targets)
    check_tasks("weights", weights, targets)
    total = None
    for task, target in targets.items():
        weight = weights.get(task, 1.0)
        if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
                or not np.isfinite(weight) or weight < 0):
            raise ValueError(f"weights[{task!r}] must be a finite number >= 0, got {weight!r}")
        output = outputs[task]
        target = np.asarray(target)
        rows = _labelled(task, target, masks.get(task), len(output))
        if rows.size == 0 or weight == 0:
            continue
        if rows.size < len(output):
            output, target = output[rows], target[rows]
        term = loss_fn(output, target) * weight
        total = term if total is None else total + term
    if total is None:
        total = ops.sum(next(iter(outputs.values()))) * 0.0
    return total


def task_accuracies(model, X, targets, masks=None, batch_size=1024):
    """``{task: accuracy}``: for each task in ``targets``, the fraction of its labelled
    samples (``masks``, as in ``multitask_loss``) whose arg-max prediction is the label;
    NaN for a task with no labelled sample. ``X``: the inputs of every task, or a dict
    ``{task: X_task}`` when each task has its own (layout 2 with different inputs).
    Evaluation mode, no graph."""
    masks = masks or {}
    check_tasks("targets", targets, model.tasks)
    check_tasks("masks", masks, targets)
    if isinstance(X, dict):
        check_tasks("X", X, model.tasks)
        missing = [task for task in targets if task not in X]
        if missing:
            raise ValueError(f"X has no inputs for task {missing[0]!r}")
        return {task: task_accuracies(model, X[task], {task: targets[task]},
                                      {task: masks[task]} if task in masks else None,
                                      batch_size)[task]
                for task in targets}
    tasks = list(targets)
    model.eval()
    with no_grad():
        predicted = {task: [] for task in tasks}
        for start in range(0, len(X), batch_size):
            outputs = model(X[start:start + batch_size], tasks=tasks)
            for task in tasks:
                predicted[task].append(outputs[task].numpy().argmax(axis=1))
    result = {}
    for task in tasks:
        target = np.asarray(targets[task])
        rows = _labelled(task, target, masks.get(task), len(X))
        guess = np.concatenate(predicted[task]) if predicted[task] else np.array([], int)
        result[task] = float(np.mean(guess[rows] == target[rows])) if rows.size else float("nan")
    return result
