"""Multi-task learning with shared layers (Caruana 1997).

One trunk computes features that several task heads share; training on every task
at once makes the trunk's features serve all of them, so a task with few labels
borrows from tasks with many. The loss is a weighted sum over tasks,

    L = sum_t w_t * mean_{n in S_t} loss_t(head_t(trunk(x_n)), y_n^t),

where S_t is the set of samples that have a label for task t (a boolean mask per
task): the labels of different tasks may exist on different subsets of the data.
A sample without a label for t adds nothing to task t's term, and a task with no
labelled sample in a batch adds zero.
"""

import numbers

import numpy as np

from tlcore import no_grad, nn, ops


class MultiTaskModel(nn.Module):
    """``MultiTaskModel(trunk, heads)``: ``heads`` maps a task name to its head module
    (kept in an ``nn.ModuleDict``); ``model(x)`` returns ``{task: head(trunk(x))}``,
    the trunk computed once for all heads. ``model(x, tasks=[...])`` computes only
    those heads."""

    def __init__(self, trunk, heads):
        super().__init__()
        if not isinstance(trunk, nn.Module):
            raise TypeError(f"trunk must be a Module, got {type(trunk).__name__}")
        if not hasattr(heads, "items") or len(heads) == 0:
            raise ValueError(f"heads must be a non-empty dict {{task: Module}}, got {heads!r}")
        for task, head in heads.items():
            if not isinstance(head, nn.Module):
                raise TypeError(f"heads[{task!r}] must be a Module, got {type(head).__name__}")
        self.trunk = trunk
        self.heads = nn.ModuleDict(dict(heads.items()))

    @property
    def tasks(self):
        return list(self.heads)

    def forward(self, x, tasks=None):
        tasks = self.tasks if tasks is None else list(tasks)
        check_tasks("tasks", tasks, self.tasks)
        features = self.trunk(x)
        return {task: self.heads[task](features) for task in tasks}


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
    NaN for a task with no labelled sample. Evaluation mode, no graph."""
    masks = masks or {}
    check_tasks("targets", targets, model.tasks)
    check_tasks("masks", masks, targets)
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
