"""The picture of ``tlcore run multitask --plot DIR``: each task's accuracy, every method.

``multitask-accuracy.png``: for each task and method, the mean over the seeds with an
error bar of one standard deviation, and beside it a small dot per seed.

- left, layout 1 (shared lower layers): the digit task with few labels, alone and
  sharing its trunk with the parity and size tasks;
- right, two microphones: each task alone, both sharing one trunk (layout 1), and
  each with its own input layer around a shared middle (layout 2).
"""

from tlcore.experiments.figures import new_figure, save_figure

METHODS = ("single-task", "multi-task", "multi-task-inputs")
LABELS = {"single-task": "single-task: each task alone",
          "multi-task": "multi-task: layout 1, one shared trunk",
          "multi-task-inputs": "multi-task-inputs: layout 2, own input layers"}
COLOURS = {"single-task": "#6b7280", "multi-task": "#2563eb", "multi-task-inputs": "#d97706"}


def _panel(axis, rows, tasks, title):
    """One panel: ``tasks`` is [(metric, the task's name under it)]."""
    step = 0.25
    for position, (metric, name) in enumerate(tasks):
        methods = [method for method in METHODS if (method, metric) in rows]
        for slot, method in enumerate(methods):
            row = rows[(method, metric)]
            x = position + (slot - (len(methods) - 1) / 2) * step
            axis.errorbar(x, row["mean"], yerr=row["std"], fmt="o", color=COLOURS[method],
                          capsize=4, markersize=6, label=LABELS[method])
            axis.plot([x + 0.06] * len(row["values"]), row["values"], ".",
                      color=COLOURS[method], markersize=3, alpha=0.6)
            axis.annotate(f"{row['mean']:.3f}", (x, row["mean"]), xytext=(-6, 0),
                          textcoords="offset points", ha="right", va="center", fontsize=7)
    axis.set_xticks(range(len(tasks)), [name for _, name in tasks], fontsize=8)
    axis.set_xlim(-0.6, len(tasks) - 0.4)
    axis.set_title(title, fontsize=9)
    axis.grid(axis="y", alpha=0.3)


def plot_accuracies(result, directory):
    """Draw the figure above from ``result`` (what ``Experiment.run`` returns) into
    ``directory``; the path."""
    rows = {(row["method"], row["metric"]): row for row in result["rows"]}
    options = result["options"]
    shots = options["shots"]
    figure = new_figure(9.0, 4.4)
    left, right = figure.subplots(1, 2, width_ratios=(1, 2), sharey=True)
    _panel(left, rows, [("target_acc", f"digit\n({shots} labels per class)")],
           "layout 1: digits, helped by parity\nand size labels on every image")
    _panel(right, rows, [("transformed_acc", f"transformed pixels ({options['transform']})"
                                             f"\n({shots} labels per class)"),
                         ("plain_acc", "plain pixels\n(every image of its half labelled)")],
           "two microphones: one task each, its own head")
    left.set_ylabel(f"digit accuracy on the held-out quarter ({options['held_out']})",
                    fontsize=8)
    handles, labels = right.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    figure.legend(unique.values(), unique.keys(), loc="outside lower center", ncols=3,
                  fontsize=8, frameon=False)
    from tlcore.experiments.multitask import EXPERIMENT
    seeds = ",".join(map(str, result["seeds"]))
    command = EXPERIMENT.command_line(result["options"], result["seeds"])
    figure.suptitle(f"multitask: each task's accuracy, mean +- std over seeds {seeds} "
                    f"(small dots: one seed each)\n{command}", fontsize=9)
    return save_figure(figure, directory, "multitask-accuracy.png")
