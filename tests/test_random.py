"""manual_seed makes tlcore's draws repeatable."""

import pytest

import tlcore
from tlcore import random


def test_manual_seed_repeats_the_same_draws():
    tlcore.manual_seed(7)
    first = random.generator().standard_normal(5)
    tlcore.manual_seed(7)
    assert (random.generator().standard_normal(5) == first).all()
    tlcore.manual_seed(8)
    assert not (random.generator().standard_normal(5) == first).all()


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        tlcore.manual_seed(seed)
