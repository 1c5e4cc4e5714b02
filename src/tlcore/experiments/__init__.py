"""The experiments: one per lecture method, each trains on the shipped data and returns
a result dict (see experiment.py for the contract).

    from tlcore import experiments
    result = experiments.run("digits-cnn", seeds=(0,), epochs=5)
"""

from tlcore.experiments import (dann_digits, dann_moons, digits_cnn, finetune, layer_transfer,
                                multitask, progressive, self_taught,
                                self_taught_clustering, zero_shot)
from tlcore.experiments.experiment import Claim, Experiment, Option

__all__ = ["Claim", "Experiment", "Option", "get", "names", "run"]

# In the lecture's order: the engine first, then one experiment per method.
REGISTRY = {e.name: e for e in (
    digits_cnn.EXPERIMENT,
    finetune.EXPERIMENT,
    layer_transfer.EXPERIMENT,
    multitask.EXPERIMENT,
    progressive.EXPERIMENT,
    dann_moons.EXPERIMENT,
    dann_digits.EXPERIMENT,
    zero_shot.EXPERIMENT,
    self_taught.EXPERIMENT,
    self_taught_clustering.EXPERIMENT,
)}


def names():
    return list(REGISTRY)


def get(name):
    """The experiment called ``name``, or a KeyError that lists the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def run(name, seeds=None, progress=None, **options):
    """Run experiment ``name`` over ``seeds`` (None: its default seeds) with ``options``
    (the rest at their defaults; ``quick=True`` for a first look: see Experiment.run);
    return the result dict."""
    return get(name).run(seeds=seeds, progress=progress, **options)
