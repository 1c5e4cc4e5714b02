"""The pictures of ``tlcore run progressive --plot DIR``.

1. ``progressive-{lateral}-accuracy.png``: the test accuracy of every method on task 2
   (inverted digits, few labels) and on task 1 (clean digits, after task 2 was learnt):
   the mean over the seeds as a bar, the sample standard deviation as an error bar,
   each seed as a dot. Drawn from the run's result, after every seed.
2. ``progressive-{lateral}-columns_seed{seed}.png``: the trained progressive net of one
   seed, drawn by walking its modules: each column's layers and widths, which columns
   are frozen, and every lateral connection with its shape (for adapters, the learnt
   alpha and V's width) and the parameters each column holds.

matplotlib is imported only here, and only when a figure is asked for.
"""

from tlcore.experiments.figures import new_figure, save_figure
from tlcore.transfer.progressive import Adapter

METRICS = (("task2_acc", "task 2: inverted digits"),
           ("task1_acc", "task 1: clean digits, after task 2"))
COLOURS = {"scratch": "tab:gray", "fine-tune": "tab:orange", "progressive": "tab:blue",
           "random-column": "tab:purple"}
FROZEN, TRAINED, LATERAL = "#d9d9d9", "#9ecae1", "tab:orange"


def plot_accuracies(result, directory, command):
    """Figure 1 for a result of the progressive experiment; ``command``: the command
    that made it, for the title."""
    options = result["options"]
    figure = new_figure(8.0, 3.6)
    axes = figure.subplots(1, len(METRICS), sharey=True)
    for axis, (metric, title) in zip(axes, METRICS):
        rows = [row for row in result["rows"] if row["metric"] == metric]
        for x, row in enumerate(rows):
            colour = COLOURS.get(row["method"], "tab:green")
            axis.bar(x, row["mean"], yerr=row["std"], capsize=4, color=colour, alpha=0.75)
            axis.scatter([x] * len(row["values"]), row["values"], s=9, color="black",
                         zorder=3)
            top = max([row["mean"] + row["std"]] + row["values"])
            axis.text(x, min(top, 1.0) + 0.02, f"{row['mean']:.3f}", ha="center", fontsize=8)
        axis.axhline(0.1, color="black", linestyle=":", linewidth=1)
        axis.text(len(rows) - 0.5, 0.11, "chance", ha="right", fontsize=7)
        axis.set_xticks(range(len(rows)), [row["method"] for row in rows], fontsize=8)
        axis.set_title(title, fontsize=9)
        axis.set_ylim(0, 1.08)
    axes[0].set_ylabel("test accuracy")
    figure.suptitle(f"progressive, {options['lateral']} laterals, {options['shots']} labels "
                    f"per class on task 2: mean ± std over seeds {result['seeds']} "
                    f"(dots: each seed)\n{command}", fontsize=9)
    return save_figure(figure, directory, f"progressive-{options['lateral']}-accuracy.png")


def _count(modules):
    return sum(p.size for module in modules for p in module.parameters())


def _lateral_label(lateral):
    """What a lateral term is, read from its weights."""
    if isinstance(lateral, Adapter):
        return (f"adapter: alpha={float(lateral.alpha.item()):.3f}, "
                f"V {lateral.V.in_features}→{lateral.V.out_features}, "
                f"U {lateral.U.in_features}→{lateral.U.out_features}")
    return ", ".join(f"U {U.in_features}→{U.out_features}" for U in lateral.U)


def plot_columns(net, directory, seed, command):
    """Figure 2 for a ProgressiveNet ``net``; ``command``: the command that made it."""
    from matplotlib.patches import FancyBboxPatch
    columns = list(net.columns)
    depth = len(columns[0].layers)
    step, box_w, box_h = 3.4, 1.7, 0.42  # column spacing, box size (data units)
    figure = new_figure(2.9 * len(columns) + 1.2, 0.95 * (depth + 2) + 1.6)
    axis = figure.subplots()
    axis.set_axis_off()

    def box(x, y, text, colour):
        axis.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                      boxstyle="round,pad=0.03", facecolor=colour,
                                      edgecolor="black", linewidth=0.8))
        axis.text(x, y, text, ha="center", va="center", fontsize=8)

    def arrow(start, end, colour="black", **style):
        axis.annotate("", xy=end, xytext=start, arrowprops=dict(
            arrowstyle="-|>", color=colour, linewidth=1.1, shrinkA=0, shrinkB=0, **style))

    middle = step * (len(columns) - 1) / 2
    box(middle, 0, f"x: {net.in_features} inputs", "white")  # h_0 = x for every column
    for c, column in enumerate(columns):
        x = step * c
        frozen = not any(p.requires_grad for p in column.parameters())
        colour = FROZEN if frozen else TRAINED
        arrow((middle, box_h / 2), (x, 1 - box_h / 2))
        for i in range(depth + 1):
            layer = column.layer(i)
            name = f"h{i + 1}: {layer.out_features} units" if i < depth else \
                f"head: {layer.out_features} logits"
            box(x, i + 1, name, colour)
            if i < depth:
                arrow((x, i + 1 + box_h / 2), (x, i + 2 - box_h / 2))
        for i, lateral in enumerate(column.laterals):  # layer i + 2 reads h_{i+1}
            for j in range(c):
                arrow((step * j + box_w / 2, i + 1), (x - box_w / 2, i + 2), LATERAL,
                      connectionstyle="arc3,rad=-0.1")
            axis.text(x - box_w / 2 - 0.1, i + 1.72, _lateral_label(lateral), ha="right",
                      va="center", fontsize=7, color="saddlebrown")
        lateral_count = _count(column.laterals)
        axis.text(x, -0.75, f"column {c} (task {c + 1}), {'frozen' if frozen else 'trained'}\n"
                  f"{_count([column]):,} parameters"
                  + (f"\n({lateral_count:,} in laterals)" if lateral_count else ""),
                  ha="center", va="top", fontsize=8)
    axis.set_xlim(-box_w / 2 - 0.3, step * (len(columns) - 1) + box_w / 2 + 0.3)
    axis.set_ylim(-1.55, depth + 1.5)
    figure.suptitle(f"progressive net of seed {seed}, read from the trained model: "
                    f"{len(columns)} columns, {net.lateral} laterals\n(grey: frozen; blue: "
                    f"trained; orange: lateral connections)\n{command}", fontsize=8)
    return save_figure(figure, directory, f"progressive-{net.lateral}-columns_seed{seed}.png")
