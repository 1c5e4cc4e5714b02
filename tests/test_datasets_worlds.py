"""The generated zero-shot worlds (seven-segment digits, glyphs) and their design rules.

Each rule is what zero-shot learning by attributes takes for granted: no attribute is
constant over the seen classes of the default split; an image is drawn from its class's
attributes alone (an attribute is a visible part, not a label in disguise); a class
varies within itself; and, in the glyph world, every difference between two classes'
descriptions lies in the span of the seen classes' differences.
"""

import numpy as np
import pytest

from tlcore.datasets import AttributeWorld, digits_world, make_glyphs, make_segment_digits
from tlcore.datasets import glyphs, segment_digits
from tlcore.transfer.zeroshot import constant_attributes, seen_span

WORLDS = {"segments": lambda seed=0, n=12: make_segment_digits(n, seed=seed),
          "glyphs": lambda seed=0, n=12: make_glyphs(n, seed=seed)}


def _seen(world):
    return np.setdiff1d(np.arange(world.classes), world.default_unseen)


@pytest.mark.parametrize("name", WORLDS)
def test_a_world_is_images_labels_and_a_binary_table(name):
    world = WORLDS[name]()
    n, size, _ = world.images.shape
    assert isinstance(world, AttributeWorld) and world.name == name
    assert world.images.dtype == np.float32 and world.images.shape == (n, size, size)
    assert world.images.min() >= 0 and world.images.max() <= 1
    assert world.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(world.labels), np.full(world.classes, 12))
    table = world.class_attributes
    assert table.dtype == np.uint8 and set(np.unique(table)) == {0, 1}
    assert table.shape == (world.classes, len(world.attribute_names))
    assert len(world.class_names) == world.classes
    assert len({tuple(row) for row in table}) == world.classes  # every class its own row
    assert not table.flags.writeable and not world.semantic_vectors.flags.writeable
    np.testing.assert_allclose(world.semantic_vectors.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(world.semantic_vectors.std(axis=0), 1)


@pytest.mark.parametrize("name", WORLDS)
def test_a_seed_gives_the_same_world_and_another_seed_another(name):
    a, b, c = WORLDS[name](0), WORLDS[name](0), WORLDS[name](1)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("name", WORLDS)
def test_no_attribute_is_constant_over_the_default_seen_classes(name):
    world = WORLDS[name]()
    assert constant_attributes(world.class_attributes, _seen(world)).size == 0


def test_the_segment_table_is_the_calculator_display():
    table = segment_digits.SEGMENT_TABLE
    assert table.sum(axis=1).tolist() == [6, 2, 5, 5, 4, 5, 6, 3, 7, 6]  # segments lit
    assert table[8].all() and table[1].tolist() == [0, 1, 1, 0, 0, 0, 0]


def test_images_are_drawn_from_the_attributes_alone():
    """The pen is given a class's attributes, never its label: drawing every image
    again from its class's row of attributes, with the same random draws, gives the
    same world."""
    world = make_segment_digits(3, seed=5)
    rng = np.random.default_rng(5)
    again = [segment_digits.draw_segments(world.class_attributes[c], rng) for c in world.labels]
    np.testing.assert_array_equal(np.stack(again), world.images)
    world = make_glyphs(3, seed=5)
    rng = np.random.default_rng(5)
    for image, c in zip(world.images, world.labels):
        row = world.class_attributes[c]
        drawn = glyphs.draw_glyph(int(np.argmax(row[:4])), bool(row[4]), bool(row[5]), rng)
        np.testing.assert_array_equal(drawn, image)


def test_a_lit_segment_is_ink_where_that_segment_is():
    """Each attribute is a visible part: lighting segment m in a figure, with the same
    hand, adds ink and nothing else, centred where segment m belongs."""
    size = 14
    low, high = size / 3, 2 * size / 3  # rows (y) and columns (x) split in thirds
    where = {"top": lambda x, y: y < low, "bottom": lambda x, y: y > high,
             "middle": lambda x, y: low < y < high,
             "upper_right": lambda x, y: x > size / 2 and y < size / 2,
             "lower_right": lambda x, y: x > size / 2 and y > size / 2,
             "upper_left": lambda x, y: x < size / 2 and y < size / 2,
             "lower_left": lambda x, y: x < size / 2 and y > size / 2}
    rows = np.random.default_rng(0).integers(0, 2, size=(20, 7))
    for m, name in enumerate(segment_digits.SEGMENT_NAMES):
        for seed, row in enumerate(rows):
            on, off = row.copy(), row.copy()
            on[m], off[m] = 1, 0
            added = (segment_digits.draw_segments(on, np.random.default_rng(seed), size)
                     - segment_digits.draw_segments(off, np.random.default_rng(seed), size))
            assert added.min() >= 0 and added.sum() > 2, name
            ys, xs = np.mgrid[0:size, 0:size]
            centre = (xs * added).sum() / added.sum(), (ys * added).sum() / added.sum()
            assert where[name](*centre), (name, centre)


def test_glyph_attributes_are_visible_fill_and_size():
    """Filled: ink at the glyph's centre, where an outline leaves a hole; large: ink
    spread further from the centre (radius of gyration), whatever the shape."""
    world = make_glyphs(40, seed=0)
    row = world.class_attributes[world.labels]
    filled, large = row[:, 4] == 1, row[:, 5] == 1
    centre = world.images[:, 7:9, 7:9].mean(axis=(1, 2))
    ys, xs = np.mgrid[0:16, 0:16]
    ink = world.images > 0.3  # strokes, not the pixel noise around them
    spread = np.sqrt((((xs - 7.5) ** 2 + (ys - 7.5) ** 2) * ink).sum(axis=(1, 2))
                     / ink.sum(axis=(1, 2)))
    for other in (False, True):
        assert centre[filled & (large == other)].mean() > 1.5 * centre[~filled & (large == other)].mean()
        assert spread[large & (filled == other)].mean() > 1.4 * spread[~large & (filled == other)].mean()


@pytest.mark.parametrize("name", WORLDS)
def test_a_class_varies_within_itself(name):
    world = WORLDS[name](n=20)
    for c in range(world.classes):
        images = world.images[world.labels == c]
        assert images.std(axis=0).mean() > 0.05  # slant, size, offset, pen, noise
        assert len({image.tobytes() for image in images}) == len(images)


def test_every_glyph_difference_lies_in_the_span_of_the_seen_differences():
    world = make_glyphs(1, seed=0)
    all_classes = np.arange(world.classes)
    span = seen_span(world.class_attributes, _seen(world), all_classes)
    assert span.complete and span.seen_rank == span.rank == 5
    assert glyphs.GLYPH_DEFAULT_UNSEEN == (0, 5, 10, 15)  # one of each shape
    shapes = world.class_attributes[list(world.default_unseen), :4].argmax(axis=1)
    assert sorted(shapes.tolist()) == [0, 1, 2, 3]
    seen_rows = world.class_attributes[_seen(world)]
    for shape in range(4):  # every shape is seen with both fills and both sizes
        rows = seen_rows[seen_rows[:, shape] == 1]
        assert set(rows[:, 4]) == {0, 1} and set(rows[:, 5]) == {0, 1}


def test_the_seven_segment_world_cannot_span_its_unseen_differences():
    world = make_segment_digits(1, seed=0)
    span = seen_span(world.class_attributes, _seen(world), world.default_unseen)
    assert (span.seen_rank, span.rank) == (5, 7) and not span.complete
    assert all(0.25 < share < 0.45 for share in span.outside.values())  # the 28-44%


def test_digits_world_is_the_shipped_digits_with_their_table():
    world = digits_world()
    assert world.images.shape == (1797, 8, 8) and world.images.max() == 1.0
    assert world.default_unseen == (0, 3, 7) and world.semantic_vectors.shape == (10, 5)


@pytest.mark.parametrize("make", [make_segment_digits, make_glyphs])
def test_generators_check_their_arguments(make):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_per_class must be an integer >= 1"):
            make(bad)
    with pytest.raises(ValueError, match="size must be an integer >= 8"):
        make(2, size=4)
    for bad in (-0.1, float("nan"), 2.0):
        with pytest.raises(ValueError, match="noise must be a finite number"):
            make(2, noise=bad)


def test_the_placement_options_leave_the_default_digits_as_they_were():
    """scale and shift only rescale draws the pen makes anyway, and their defaults are
    the values the pen had fixed before them: the same draws give the same digit, and a
    smaller figure stays small."""
    rng = np.random.default_rng(5)
    plain = segment_digits.draw_segments(segment_digits.SEGMENT_TABLE[8], rng)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(plain, segment_digits.draw_segments(
        segment_digits.SEGMENT_TABLE[8], rng, scale=1.0, shift=0.08))
    small = make_segment_digits(3, seed=0, size=20, scale=0.6, shift=0.1)
    assert small.images.shape == (30, 20, 20)
    inked = small.images > 0.5
    rows, cols = inked.any(axis=2).sum(axis=1), inked.any(axis=1).sum(axis=1)
    assert rows.max() <= 14 and cols.max() <= 10  # a 0.6-scale figure: about 8 x 4 pixels
