"""The experiments: one per lecture method, each trains on the shipped data and returns
a result dict (see experiment.py for the contract).

    from tlcore import experiments
    result = experiments.run("digits-cnn", seeds=(0,), epochs=5)
"""

from tlcore.experiments import dann_digits
from tlcore.experiments import dann_moons
from tlcore.experiments import digits_cnn
from tlcore.experiments import finetune
from tlcore.experiments import layer_transfer
from tlcore.experiments import multitask
from tlcore.experiments import progressive
from tlcore.experiments import zero_shot
from tlcore.experiments.experiment import Claim, Experiment, Option

__all__ = ["Claim", "Experiment", "Option", "get", "names", "run"]

REGISTRY = {e.name: e for e in (
    dann_digits.EXPERIMENT,
    dann_moons.EXPERIMENT,
    digits_cnn.EXPERIMENT,
    finetune.EXPERIMENT,
    layer_transfer.EXPERIMENT,
    multitask.EXPERIMENT,
    progressive.EXPERIMENT,
    zero_shot.EXPERIMENT,
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
    (the rest at their defaults); return the result dict."""
    return get(name).run(seeds=seeds, progress=progress, **options)
