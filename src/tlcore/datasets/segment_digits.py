"""Seven-segment digits drawn by hand: a zero-shot world whose attributes are parts.

Each digit is the set of segments a calculator display lights for it,

     aaa        0: abcdef   1: bc       2: abdeg    3: abcdg    4: bcfg
    f   b       5: acdfg    6: acdefg   7: abc      8: abcdefg  9: abcdfg
     ggg
    e   c       attribute m of a class: segment m is lit (7 attributes)
     ddd

and an image is drawn from those segments alone, with the variation of a hand: a slant,
a figure's width and height, a stroke width, each segment's ends moved a little (so
they need not meet), an offset on the canvas, a contrast and pixel noise. The class
label never reaches the pen, only the segments do, so an attribute looks the same in
every digit that has it: what zero-shot learning by attributes takes for granted.

Seven attributes, so at most six independent differences between classes: with seven
seen classes (three unseen) the seen differences cannot span every difference that an
unseen class may need (see ``tlcore.transfer.zeroshot.seen_span``), and the methods
must not let directions that training never saw decide.

The same pen draws any set of segments: ``make_segment_patterns`` gives unlabelled
images of the 110 figures that are not digits, the plentiful source of self-taught
learning, and ``scale`` and ``shift`` make the figure small and let it wander.
"""

import numpy as np

from tlcore.datasets.drawing import finish, pixel_grid, segment_distance, stroke_ink
from tlcore.datasets.world import AttributeWorld, check_amount, check_count
from tlcore.random import generator_for

SEGMENT_NAMES = ("top", "upper_right", "lower_right", "bottom", "lower_left", "upper_left",
                 "middle")  # segments a to g

# Each segment's ends on an upright figure 1 wide and 2 high, y downwards.
SEGMENT_ENDS = (((0, 0), (1, 0)), ((1, 0), (1, 1)), ((1, 1), (1, 2)), ((0, 2), (1, 2)),
                ((0, 1), (0, 2)), ((0, 0), (0, 1)), ((0, 1), (1, 1)))

DIGIT_SEGMENTS = ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc",
                  "abcdefg", "abcdfg")

SEGMENT_TABLE = np.array([[int(s in lit) for s in "abcdefg"] for lit in DIGIT_SEGMENTS],
                         dtype=np.uint8)
SEGMENT_TABLE.flags.writeable = False


def draw_segments(segments, rng, size=14, jitter=0.35, noise=0.05, scale=1.0, shift=0.08):
    """One size x size image of the 0/1 ``segments`` (a to g) drawn by hand with the
    draws of ``rng``. Figure height and width and stroke width are ``scale`` times their
    share of the canvas; the figure's centre moves by up to ``shift * size`` pixels
    each way from the canvas's centre."""
    height = rng.uniform(0.58, 0.75) * size * scale
    width = rng.uniform(0.28, 0.4) * size * scale
    slant = rng.uniform(-0.25, 0.25)  # x moves by slant * (how far above the middle)
    pen = rng.uniform(0.07, 0.13) * size * scale
    centre = (size - 1) / 2 + rng.uniform(-shift, shift, size=2) * size
    hand = rng.normal(0, jitter, size=(7, 2, 2))  # every segment's ends, lit or not, so
    x, y = pixel_grid(size)                        # that lighting one changes nothing else
    ink = np.zeros((size, size))
    for lit, ends, moves in zip(segments, SEGMENT_ENDS, hand):
        if not lit:
            continue
        points = []
        for (fx, fy), (dx, dy) in zip(ends, moves):  # figure units -> pixels
            up = (1 - fy) * height / 2
            points.append((centre[0] + (fx - 0.5) * width + slant * up + dx,
                           centre[1] - up + dy))
        ink = np.maximum(ink, stroke_ink(segment_distance(x, y, *points), pen))
    return finish(ink, rng, rng.uniform(0.75, 1.0), noise)


def make_segment_digits(n_per_class=100, seed=None, size=14, jitter=0.35, noise=0.05,
                        scale=1.0, shift=0.08):
    """The ten digits as seven-segment figures drawn by hand: an ``AttributeWorld`` of
    ``10 * n_per_class`` images (size x size, classes in order), attributes the lit
    segments (``SEGMENT_NAMES``), default unseen digits 0, 3 and 7.

    seed: None follows ``tlcore.manual_seed``; an integer gives the same world whatever
    ran before. jitter: standard deviation of each segment end's displacement, in
    pixels; noise: standard deviation of the pixel noise; scale and shift: the figure's
    size and how far it wanders on the canvas (see ``draw_segments``)."""
    n_per_class = check_count(n_per_class, "n_per_class")
    size = check_count(size, "size", minimum=8)
    jitter, noise = check_amount(jitter, "jitter", 2.0), check_amount(noise, "noise", 1.0)
    scale, shift = check_placement(scale, shift)
    rng = generator_for(seed)
    labels = np.repeat(np.arange(10, dtype=np.int64), n_per_class)
    images = np.stack([draw_segments(SEGMENT_TABLE[c], rng, size, jitter, noise, scale, shift)
                       for c in labels])
    return AttributeWorld("segments", images, labels, SEGMENT_TABLE, SEGMENT_NAMES,
                          tuple(str(d) for d in range(10)), (0, 3, 7))


def other_patterns(exclude=SEGMENT_TABLE):
    """Every set of two or more lit segments that is not a row of ``exclude``, as a
    (P, 7) 0/1 table: with the digits excluded, the 110 figures a display can show that
    are not digits."""
    excluded = {tuple(row) for row in np.asarray(exclude).tolist()}
    every = [[(code >> bit) & 1 for bit in range(7)] for code in range(128)]
    return np.array([p for p in every if sum(p) >= 2 and tuple(p) not in excluded],
                    dtype=np.uint8)


def make_segment_patterns(n, seed=None, size=14, jitter=0.35, noise=0.05, scale=1.0,
                          shift=0.08):
    """``n`` unlabelled images, (n, size, size) float32 in [0, 1], of seven-segment
    figures that are not digits (``other_patterns``), each drawn at random with the
    same hand as ``make_segment_digits``: plentiful data that shares the digits' strokes
    but none of their classes. Only images come back: there is no label to leak."""
    n = check_count(n, "n")
    size = check_count(size, "size", minimum=8)
    jitter, noise = check_amount(jitter, "jitter", 2.0), check_amount(noise, "noise", 1.0)
    scale, shift = check_placement(scale, shift)
    rng = generator_for(seed)
    patterns = other_patterns()
    return np.stack([draw_segments(patterns[rng.integers(len(patterns))], rng, size, jitter,
                                   noise, scale, shift) for _ in range(n)])


def check_placement(scale, shift):
    """(scale, shift) as floats, or a ValueError naming the one out of range: the figure
    must fit the canvas, scale in (0, 1], shift in [0, 0.3]."""
    scale = check_amount(scale, "scale", 1.0)
    if scale == 0:
        raise ValueError("scale must be a number in (0, 1], got 0")
    return scale, check_amount(shift, "shift", 0.3)
