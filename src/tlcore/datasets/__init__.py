"""Data for the lecture's experiments: the shipped digits, two moons, domain shifts,
the generated zero-shot worlds (seven-segment digits, glyphs), unlabelled
seven-segment figures for self-taught learning, a seeded train/test
split and a minibatch iterator.

Everything random takes ``seed``: None follows ``tlcore.manual_seed``, an integer gives
the same draws whatever ran before.
"""

from tlcore.datasets.attributes import (ATTRIBUTE_NAMES, DESCRIPTION_NAMES, DIGIT_ATTRIBUTES,
                                       DIGIT_DESCRIPTION_COUNTS, DIGIT_SEMANTIC_VECTORS)
from tlcore.datasets.batches import minibatches
from tlcore.datasets.digits import load_digits
from tlcore.datasets.glyphs import make_glyphs
from tlcore.datasets.moons import make_moons
from tlcore.datasets.segment_digits import make_segment_digits, make_segment_patterns
from tlcore.datasets.split import per_class, train_test_split
from tlcore.datasets.transforms import invert, rotate
from tlcore.datasets.world import AttributeWorld, digits_world

__all__ = ["ATTRIBUTE_NAMES", "AttributeWorld", "DESCRIPTION_NAMES", "DIGIT_ATTRIBUTES",
           "DIGIT_DESCRIPTION_COUNTS", "DIGIT_SEMANTIC_VECTORS", "digits_world", "invert",
           "load_digits", "make_glyphs", "make_moons", "make_segment_digits",
           "make_segment_patterns", "minibatches", "per_class", "rotate", "train_test_split"]
