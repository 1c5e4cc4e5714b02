"""Glyphs: a zero-shot world of classes that are combinations of attributes.

A class is one value of each of three groups: a shape (circle, square, triangle, cross),
a fill (filled or outlined) and a size (small or large), 4 x 2 x 2 = 16 classes. Its
attributes are the shape's one-hot column and two flags, ``filled`` and ``large``
(6 attributes). An image is drawn from those three values alone, with nuisance
variation: a rotation of up to 20 degrees, a stretch, an offset, an outline's pen width,
a contrast and pixel noise.

The default unseen classes form a Latin square: one class of each shape, each with
another (fill, size) pair, so that every attribute value, and every shape with every
fill and every size, is seen in training; only the combination is new. Every difference
between two classes' descriptions then lies in the span of the seen classes'
differences, so nothing an unseen class needs is left untrained (``seen_span`` in
``tlcore.transfer.zeroshot`` measures it).
"""

import numpy as np

from tlcore.datasets.drawing import fill_ink, finish, pixel_grid, stroke_ink
from tlcore.datasets.world import AttributeWorld, check_amount, check_count
from tlcore.random import generator_for

SHAPES = ("circle", "square", "triangle", "cross")
FILLS = ("filled", "outlined")
SIZES = ("small", "large")
GLYPH_ATTRIBUTE_NAMES = SHAPES + ("filled", "large")

# class index = (shape * 2 + fill) * 2 + size, fill 0 = filled, size 1 = large
GLYPH_CLASSES = tuple((shape, fill, size) for shape in range(4) for fill in range(2)
                      for size in range(2))
GLYPH_TABLE = np.array([[int(s == shape) for s in range(4)] + [int(fill == 0), size]
                        for shape, fill, size in GLYPH_CLASSES], dtype=np.uint8)
GLYPH_TABLE.flags.writeable = False
GLYPH_CLASS_NAMES = tuple(f"{SIZES[size]} {FILLS[fill]} {SHAPES[shape]}"
                          for shape, fill, size in GLYPH_CLASSES)
# the Latin square: shape k with the k-th (fill, size) pair
GLYPH_DEFAULT_UNSEEN = tuple(GLYPH_CLASSES.index((k, k // 2, k % 2)) for k in range(4))


def _box(qx, qy, half_x, half_y):
    """Signed distance to an axis-aligned box centred at 0 with these half-sides."""
    dx, dy = np.abs(qx) - half_x, np.abs(qy) - half_y
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    return outside + np.minimum(np.maximum(dx, dy), 0)


def _triangle(qx, qy, r):
    """Signed distance (exact inside, the nearest side's line outside) to an
    equilateral triangle pointing up with circumradius r, centred at 0."""
    angles = np.deg2rad([90.0, 210.0, 330.0])  # outward normals of the sides, y downwards
    return np.max([np.cos(a) * qx + np.sin(a) * qy - r / 2 for a in angles], axis=0)


def shape_distance(shape, qx, qy, r):
    """Signed distance to ``SHAPES[shape]`` of size r at the rotated points (qx, qy)."""
    if shape == 0:
        return np.hypot(qx, qy) - r
    if shape == 1:
        return _box(qx, qy, 0.85 * r, 0.85 * r)
    if shape == 2:
        return _triangle(qx, qy, 1.15 * r)
    return np.minimum(_box(qx, qy, r, 0.35 * r), _box(qx, qy, 0.35 * r, r))


def draw_glyph(shape, filled, large, rng, size=16, noise=0.05):
    """One size x size image of a glyph, drawn with the draws of ``rng``."""
    r = rng.uniform(0.33, 0.4) * size if large else rng.uniform(0.17, 0.22) * size
    angle = np.deg2rad(rng.uniform(-20, 20))
    stretch = rng.uniform(0.9, 1.1)
    pen = rng.uniform(0.07, 0.1) * size
    centre = (size - 1) / 2 + rng.uniform(-0.08, 0.08, size=2) * size
    x, y = pixel_grid(size)
    x, y = x - centre[0], y - centre[1]
    qx = (np.cos(angle) * x + np.sin(angle) * y) / stretch
    qy = -np.sin(angle) * x + np.cos(angle) * y
    distance = shape_distance(shape, qx, qy, r)
    ink = fill_ink(distance) if filled else stroke_ink(np.abs(distance), pen)
    return finish(ink, rng, rng.uniform(0.75, 1.0), noise)


def make_glyphs(n_per_class=60, seed=None, size=16, noise=0.05):
    """Sixteen classes of glyphs, shape x fill x size: an ``AttributeWorld`` of
    ``16 * n_per_class`` images (size x size, classes in order), attributes
    ``GLYPH_ATTRIBUTE_NAMES``, default unseen classes the Latin square
    ``GLYPH_DEFAULT_UNSEEN`` (small filled circle, large filled square, small outlined
    triangle, large outlined cross).

    seed: None follows ``tlcore.manual_seed``; an integer gives the same world whatever
    ran before. noise: standard deviation of the pixel noise."""
    n_per_class = check_count(n_per_class, "n_per_class")
    size = check_count(size, "size", minimum=8)
    noise = check_amount(noise, "noise", 1.0)
    rng = generator_for(seed)
    labels = np.repeat(np.arange(len(GLYPH_CLASSES), dtype=np.int64), n_per_class)
    images = np.stack([draw_glyph(*_description(c), rng, size, noise) for c in labels])
    return AttributeWorld("glyphs", images, labels, GLYPH_TABLE, GLYPH_ATTRIBUTE_NAMES,
                          GLYPH_CLASS_NAMES, GLYPH_DEFAULT_UNSEEN)


def _description(label):
    """(shape, filled, large) read from the class's row of attributes, not its label."""
    row = GLYPH_TABLE[label]
    return int(np.argmax(row[:4])), bool(row[4]), bool(row[5])
