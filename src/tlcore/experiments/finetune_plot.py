"""The picture of ``tlcore run finetune --plot DIR``: forgetting as a curve.

``finetune-curves_seed{seed}.png``, two panels against the steps of target training,
one line per method:

- left: target accuracy (rotated held-out digits): what the few labels teach;
- right: source accuracy (clean held-out digits): what is kept of the source task. A
  line that falls is forgetting.

LwF's warm-up (only the new head trains) is drawn before step 0, so that its joint
training lines up with the other methods' steps. The dotted line is the source network
as it is (no-transfer), where fine-tune, L2-SP and LwF's source accuracy start. The
forgetting is a few points of accuracy, so an inset shows the source panel's top again,
magnified.
"""

import numpy as np

from tlcore.experiments.figures import new_figure, save_figure

# method -> (colour, what the line is)
LINES = {
    "scratch": ("tab:gray", "scratch: a fresh network on the target labels alone"),
    "fine-tune": ("tab:blue", "fine-tune: every layer copied, then trained"),
    "l2-sp": ("tab:orange", "L2-SP: fine-tune, pulled towards the source weights"),
    "lwf": ("tab:green", "LwF: new head (target), old head kept by distillation (source)"),
}
PANELS = (("target_acc", "target task: rotated digits"),
          ("source_acc", "source task: clean digits (falling = forgetting)"))


def draw_lines(axis, curves, metric, warmup):
    """One line per method of ``metric`` against the steps, over the no-transfer level."""
    start = curves["fine-tune"][metric][0]  # the copied source network, before any step
    axis.axhline(start, color="black", linestyle=":", linewidth=1,
                 label="no-transfer: the source network as it is")
    if warmup:
        axis.axvspan(-warmup, 0, color="tab:green", alpha=0.08, linewidth=0,
                     label="LwF warm-up: only the new head trains")
    for method, (colour, label) in LINES.items():
        values = curves[method][metric]
        first = -warmup if method == "lwf" else 0
        axis.plot(np.arange(first, first + len(values)), values, color=colour,
                  linewidth=1.6, label=label)
    axis.grid(alpha=0.3)


def magnify_the_top(axis, curves, warmup):
    """An inset of the source panel from just below the lowest transferred line
    (fine-tune, L2-SP, LwF) to just above the highest."""
    values = np.concatenate([curves[m]["source_acc"] for m in ("fine-tune", "l2-sp", "lwf")])
    margin = max(0.01, 0.1 * (values.max() - values.min()))
    inset = axis.inset_axes([0.3, 0.5, 0.67, 0.36])  # where scratch's line is not
    draw_lines(inset, curves, "source_acc", warmup)
    inset.set_ylim(values.min() - margin, values.max() + margin)
    inset.tick_params(labelsize=7)
    inset.set_title("magnified", fontsize=8, pad=2)
    axis.indicate_inset_zoom(inset, edgecolor="0.4")


def plot_curves(curves, options, seed):
    """Write ``finetune-curves_seed{seed}.png`` in ``options["plot"]``; return its path.

    ``curves``: {method: {"target_acc": [...], "source_acc": [...]}}, one value before
    training and one after each step; LwF's holds its warm-up steps first.
    """
    warmup = options["warmup"]
    figure = new_figure(11, 5)
    axes = figure.subplots(1, 2, sharex=True)
    for axis, (metric, title) in zip(axes, PANELS):
        draw_lines(axis, curves, metric, warmup)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("full-batch Adam steps on the labelled target images")
        axis.set_ylim(0, 1)
    magnify_the_top(axes[1], curves, warmup)
    axes[0].set_ylabel("accuracy on the held-out test images")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    from tlcore.experiments.finetune import EXPERIMENT
    images = 10 * options["shots"]
    figure.suptitle(f"finetune, seed {seed}: accuracy during target training on {images} "
                    f"labelled digits rotated {options['angle']:g} degrees\n"
                    f"{EXPERIMENT.command_line(options, (seed,))}", fontsize=10)
    return save_figure(figure, options["plot"], f"finetune-curves_seed{seed}.png")
