"""The class descriptions of the ten digits (tlcore.datasets.attributes)."""

import numpy as np
import pytest

from tlcore import datasets
from tlcore.datasets import (ATTRIBUTE_NAMES, DESCRIPTION_NAMES, DIGIT_ATTRIBUTES,
                             DIGIT_DESCRIPTION_COUNTS, DIGIT_SEMANTIC_VECTORS)


def _has(digit, attribute):
    return bool(DIGIT_ATTRIBUTES[digit, ATTRIBUTE_NAMES.index(attribute)])


def test_attribute_table_is_binary_one_row_per_digit_and_read_only():
    assert DIGIT_ATTRIBUTES.shape == (10, len(ATTRIBUTE_NAMES)) == (10, 11)
    assert set(np.unique(DIGIT_ATTRIBUTES)) == {0, 1}
    assert len(set(ATTRIBUTE_NAMES)) == len(ATTRIBUTE_NAMES)
    with pytest.raises(ValueError):
        DIGIT_ATTRIBUTES[0, 0] = 0


def test_every_digit_has_its_own_attributes_and_every_attribute_is_used():
    assert len({tuple(row) for row in DIGIT_ATTRIBUTES}) == 10
    present = DIGIT_ATTRIBUTES.sum(axis=0)
    assert np.all(present >= 1) and np.all(present <= 9)


def test_the_table_describes_the_digits_as_the_optdigits_write_them():
    assert _has(4, "loop_top") and _has(4, "stroke_crossing")  # a closed top, a crossed stem
    assert _has(7, "middle_bar") and _has(7, "stroke_crossing")  # the crossbar
    assert _has(0, "loop_top") and _has(0, "loop_bottom") and not _has(0, "stroke_crossing")
    assert _has(8, "loop_top") and _has(8, "loop_bottom") and _has(8, "stroke_crossing")
    assert _has(1, "vertical_stem") and DIGIT_ATTRIBUTES[1].sum() == 1
    assert _has(2, "flat_base") and _has(6, "curve_left") and _has(9, "right_tail")


def test_the_default_unseen_split_leaves_every_attribute_varying_over_seen_classes():
    seen = DIGIT_ATTRIBUTES[[1, 2, 4, 5, 6, 8, 9]]
    assert np.all(seen.max(axis=0) == 1) and np.all(seen.min(axis=0) == 0)


def test_semantic_vectors_are_the_standardised_description_counts():
    assert DIGIT_DESCRIPTION_COUNTS.shape == (10, len(DESCRIPTION_NAMES))
    assert len({tuple(row) for row in DIGIT_DESCRIPTION_COUNTS}) == 10
    assert DIGIT_DESCRIPTION_COUNTS[8, DESCRIPTION_NAMES.index("holes")] == 2
    counts = DIGIT_DESCRIPTION_COUNTS.astype(float)
    np.testing.assert_allclose(DIGIT_SEMANTIC_VECTORS,
                               (counts - counts.mean(axis=0)) / counts.std(axis=0))
    np.testing.assert_allclose(DIGIT_SEMANTIC_VECTORS.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(DIGIT_SEMANTIC_VECTORS.std(axis=0), 1)
    assert not DIGIT_SEMANTIC_VECTORS.flags.writeable


def test_descriptions_are_exported_from_datasets():
    for name in ("DIGIT_ATTRIBUTES", "ATTRIBUTE_NAMES", "DIGIT_SEMANTIC_VECTORS"):
        assert name in datasets.__all__
