"""The lecture's map of transfer learning: two questions, four cells.

The lecture sorts its methods by what the data carries. Is the source data (plentiful,
not the task) labelled? Is the target data (the task, usually scarce) labelled?

                         source labelled                  source unlabelled
    target labelled      fine-tuning, multi-task          self-taught learning
    target unlabelled    domain-adversarial, zero-shot    self-taught clustering

Each ``Cell`` names its methods, each with its guide page and the experiments that
show it. ``tlcore run all`` groups its summary by these cells, and
``tlcore.experiments.map_plot`` draws them as the figure that opens docs/README.md.
The engine's own check (``digits-cnn``) sits outside the map.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One method of the lecture: its name, its page in docs/, its experiments."""
    name: str
    page: str
    experiments: tuple


@dataclass(frozen=True)
class Cell:
    """One cell of the map: whether the source and the target data are labelled, and the
    lecture's methods for that case."""
    source_labelled: bool
    target_labelled: bool
    methods: tuple

    @property
    def title(self):
        """'source labelled, target unlabelled' and so on."""
        def word(labelled):
            return "labelled" if labelled else "unlabelled"
        return f"source {word(self.source_labelled)}, target {word(self.target_labelled)}"

    @property
    def experiments(self):
        return tuple(name for method in self.methods for name in method.experiments)


MAP = (
    Cell(True, True, (
        Method("fine-tuning (conservative training)", "fine-tuning.md", ("finetune",)),
        Method("layer transfer", "layer-transfer.md", ("layer-transfer",)),
        Method("multi-task learning", "multi-task.md", ("multitask",)),
        Method("progressive neural networks", "progressive.md", ("progressive",)),
    )),
    Cell(True, False, (
        Method("domain-adversarial training", "domain-adversarial.md",
               ("dann-moons", "dann-digits")),
        Method("zero-shot learning", "zero-shot-attributes.md", ("zero-shot",)),
        Method("convex combination of semantic embeddings", "convex-combination.md",
               ("zero-shot",)),
    )),
    Cell(False, True, (
        Method("self-taught learning", "self-taught.md", ("self-taught",)),
    )),
    Cell(False, False, (
        Method("self-taught clustering", "self-taught.md", ("self-taught-clustering",)),
    )),
)

OUTSIDE_THE_MAP = "the engine"  # the group of an experiment no cell names


def cell_of(experiment):
    """The cell whose methods include the experiment named ``experiment``, or None."""
    for cell in MAP:
        if experiment in cell.experiments:
            return cell
    return None


def group_of(experiment):
    """The heading ``tlcore run all`` files the experiment under: its cell's title, or
    OUTSIDE_THE_MAP."""
    cell = cell_of(experiment)
    return OUTSIDE_THE_MAP if cell is None else cell.title
