"""A world for zero-shot learning: images, their labels, and a description of every class.

Zero-shot learning needs more than labelled images: every class, seen in training or
not, must come with a description (its attributes), and a split says which classes
training may see. ``AttributeWorld`` holds all of it, so the zero-shot experiment runs
the same way on the generated worlds (``make_segment_digits``, ``make_glyphs``) and on
the shipped digits (``digits_world``), whose attributes a person wrote by looking.
"""

import numbers
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class AttributeWorld:
    """images (N, H, W) float32 in [0, 1]; labels (N,) int64, class c has row c of
    class_attributes (C, M), 0/1 uint8, attribute m named attribute_names[m];
    class_names (C,); default_unseen: the classes the experiment holds out unless told
    otherwise; semantic_vectors (C, D) float64: the "word vectors" ConSE mixes (the
    attribute table standardised per column, unless the world has its own)."""
    name: str
    images: np.ndarray
    labels: np.ndarray
    class_attributes: np.ndarray
    attribute_names: tuple
    class_names: tuple
    default_unseen: tuple
    semantic_vectors: np.ndarray = None

    def __post_init__(self):
        if self.semantic_vectors is None:
            object.__setattr__(self, "semantic_vectors", standardise(self.class_attributes))
        for table in (self.class_attributes, self.semantic_vectors):
            table.flags.writeable = False

    @property
    def classes(self):
        return len(self.class_attributes)


def standardise(table):
    """Each column of ``table`` shifted to mean 0 and scaled to standard deviation 1 over
    the classes (rows), so that a cosine compares how a class departs from the average
    class rather than being led by the columns with large values."""
    table = np.asarray(table, dtype=np.float64)
    spread = table.std(axis=0)
    if np.any(spread == 0):
        raise ValueError(f"cannot standardise a column that is constant over every class "
                         f"(columns {np.flatnonzero(spread == 0).tolist()})")
    return (table - table.mean(axis=0)) / spread


def check_count(value, name, minimum=1):
    """An integer >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_amount(value, name, maximum=np.inf):
    """A finite number in [0, maximum], or a ValueError naming the argument."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0 <= value <= maximum or not np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number in [0, {maximum}], got {value!r}")
    return float(value)


def digits_world():
    """The shipped 8x8 digits (pixels scaled to [0, 1]) with the hand-written attribute
    table ``DIGIT_ATTRIBUTES`` and the counts-based ``DIGIT_SEMANTIC_VECTORS``: the case
    study of attributes that are not shared parts (see docs/zero-shot-attributes.md)."""
    from tlcore.datasets.attributes import (ATTRIBUTE_NAMES, DIGIT_ATTRIBUTES,
                                            DIGIT_SEMANTIC_VECTORS)
    from tlcore.datasets.digits import load_digits
    images, labels = load_digits()
    return AttributeWorld("digits", images / np.float32(16.0), labels, DIGIT_ATTRIBUTES,
                          ATTRIBUTE_NAMES, tuple(str(d) for d in range(10)), (0, 3, 7),
                          DIGIT_SEMANTIC_VECTORS)
