"""The pictures of ``tlcore run layer-transfer --plot DIR``, drawn from every seed's means.

- ``layer-transfer-{case}-layers.png``: task-B test accuracy against the number of copied
  layers n, frozen and fine-tuned, one panel per shot count: the figure of Yosinski et
  al. 2014 (AnB and AnB+ against n). n = 0 is scratch.
- ``layer-transfer-{case}-shots.png``: the same accuracies against the labelled images
  per class, one line per method (solid: two layers copied, dashed: one): where
  freezing and fine-tuning cross, if they do.

Error bars: one standard deviation over the seeds.
"""

import numpy as np

from tlcore.experiments.figures import new_figure, save_figure
from tlcore.experiments.layer_transfer import parse_method

# (frozen, copied end) -> (colour, what the line is)
LINES = {
    (True, "first"): ("tab:blue", "frozen, first layers copied"),
    (False, "first"): ("tab:orange", "fine-tuned, first layers copied"),
    (True, "last"): ("tab:green", "frozen, last layers copied"),
    (False, "last"): ("tab:red", "fine-tuned, last layers copied"),
}
CHANCE = {"images": 0.2, "speaker": 0.1}


def _table(result):
    """{(method, shots): (mean, std)} of the target accuracies, and the sorted shots."""
    table = {}
    for row in result["rows"]:
        metric = row["metric"]
        if metric.startswith("target_acc_") and metric.endswith("shot"):
            shots = int(metric[len("target_acc_"):-len("shot")])
            table[(row["method"], shots)] = (row["mean"], row["std"])
    return table, sorted({shots for _, shots in table})


def _copies(methods):
    """{(frozen, end): [(n, method), ...]}: the methods that copy layers, by line."""
    lines = {}
    for method in methods:
        frozen, layers = parse_method(method)
        if layers:
            lines.setdefault((frozen, "first" if layers > 0 else "last"), []).append(
                (abs(layers), method))
    return {key: sorted(found) for key, found in lines.items()}


def _title(result, what, command):
    seeds = len(result["seeds"])
    return (f"layer-transfer --case {result['options']['case']}: {what} (mean of "
            f"{seeds} seed{'s' if seeds > 1 else ''})\n{command}")


def plot_layers(result, directory, command):
    """Accuracy against the number of copied layers, a panel per shot count; the path."""
    table, all_shots = _table(result)
    methods = list(dict.fromkeys(method for method, _ in table))
    case = result["options"]["case"]
    figure = new_figure(2.6 * len(all_shots) + 1, 4.2)
    axes = np.atleast_1d(figure.subplots(1, len(all_shots), sharey=True))
    for axis, shots in zip(axes, all_shots):
        scratch = table[("scratch", shots)]
        for key, copies in _copies(methods).items():
            colour, label = LINES[key]
            n = [0] + [layers for layers, _ in copies]
            points = [scratch] + [table[(method, shots)] for _, method in copies]
            axis.errorbar(n, [p[0] for p in points], yerr=[p[1] for p in points],
                          color=colour, marker="o", capsize=2, linewidth=1.5, label=label)
        axis.axhline(CHANCE[case], color="gray", linestyle=":", linewidth=1, label="chance")
        axis.set_title(f"{shots} labelled image{'s' if shots > 1 else ''} per class",
                       fontsize=9)
        axis.set_xticks([0, 1, 2], ["0\n(scratch)", "1", "2"])
        axis.set_xlabel("layers copied from task A")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy on task B's test images")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=5, fontsize=8)
    figure.suptitle(_title(result, "accuracy against the number of copied layers",
                           command), fontsize=10)
    return save_figure(figure, directory, f"layer-transfer-{case}-layers.png")


def plot_shots(result, directory, command):
    """Accuracy against labelled images per class, a line per method; the path."""
    table, all_shots = _table(result)
    methods = list(dict.fromkeys(method for method, _ in table))
    case = result["options"]["case"]
    figure = new_figure(9, 6)
    axis = figure.subplots()
    lines = [("scratch", "black", "-", "scratch")]
    for key, copies in _copies(methods).items():
        colour = LINES[key][0]
        lines += [(method, colour, "-" if n == 2 else "--", method) for n, method in copies]
    for method, colour, style, label in lines:
        means = [table[(method, shots)][0] for shots in all_shots]
        stds = [table[(method, shots)][1] for shots in all_shots]
        axis.errorbar(all_shots, means, yerr=stds, color=colour, linestyle=style,
                      marker="o", markersize=3, capsize=2, linewidth=1.3, label=label)
    axis.axhline(CHANCE[case], color="gray", linestyle=":", linewidth=1, label="chance")
    axis.set_xscale("log")
    axis.minorticks_off()
    axis.set_xticks(all_shots, [str(shots) for shots in all_shots])
    axis.set_xlabel("labelled task-B images per class")
    axis.set_ylabel("accuracy on task B's test images")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=5, fontsize=8)
    figure.suptitle(_title(result, "accuracy against the labelled images per class",
                           command), fontsize=10)
    return save_figure(figure, directory, f"layer-transfer-{case}-shots.png")
