"""Drawing on a small canvas with soft edges: the pen of the generated worlds.

A shape is drawn from its distance field: for every pixel centre, the distance d to the
shape's outline (signed, negative inside, for a filled shape). Ink is 1 well inside,
0 well outside, and falls off linearly over one pixel at the edge, so a stroke of width
1.3 or a disc of radius 2.6 looks as it should on a 14x14 grid instead of snapping to
whole pixels:

    stroke of width w along a curve:  ink = clip(w / 2 + 1/2 - d, 0, 1)
    filled shape (signed distance s): ink = clip(1/2 - s, 0, 1)
"""

import numpy as np


def pixel_grid(size):
    """(x, y): the coordinates of every pixel centre of a size x size canvas, each
    (size, size); x grows to the right, y downwards, pixel (0, 0) centred at (0, 0)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return x, y


def segment_distance(x, y, start, end):
    """The distance from every point (x, y) to the line segment from ``start`` to
    ``end`` (each an (x, y) pair): to the nearest point of the segment, an end included."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0, 1)
    return np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))


def stroke_ink(distance, width):
    """Ink of a stroke of ``width`` pixels at ``distance`` from its centre line."""
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)


def fill_ink(signed_distance):
    """Ink of a filled shape at ``signed_distance`` (negative inside) from its outline."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def finish(ink, rng, contrast, noise):
    """The drawn ``ink`` as an image: scaled by ``contrast``, Gaussian pixel noise of
    standard deviation ``noise`` added, clipped to [0, 1], as float32."""
    image = contrast * ink + rng.normal(scale=noise, size=ink.shape) if noise else contrast * ink
    return np.clip(image, 0.0, 1.0).astype(np.float32)
