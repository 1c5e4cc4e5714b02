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


def test_a_saved_state_gives_the_draws_that_followed_it():
    tlcore.manual_seed(3)
    random.generator().standard_normal(4)
    state = random.get_rng_state()
    following = random.generator().standard_normal(6)
    tlcore.manual_seed(9)  # elsewhere
    random.set_rng_state(state)
    assert (random.generator().standard_normal(6) == following).all()
    copy = random.get_rng_state()
    copy["state"]["state"] += 1  # a copy: changing it leaves the generator alone
    assert random.get_rng_state() != copy
    with pytest.raises(TypeError, match="state must be the dict that get_rng_state returned"):
        random.set_rng_state([1, 2])
