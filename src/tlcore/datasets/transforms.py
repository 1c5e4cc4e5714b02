"""Domain shifts made from one data set: rotated points or images, inverted images.

The lecture's domain-adversarial examples adapt a classifier to a shifted copy of its
training data: rotated moons (Ganin et al. 2016, section 5.1), rotated or inverted digits.
"""

import numbers

import numpy as np


def _float_dtype(array):
    """Keep a floating dtype; anything else (uint8 pixels, int points) becomes float32."""
    return array.dtype if np.issubdtype(array.dtype, np.floating) else np.dtype(np.float32)


def _cos_sin(degrees):
    """cos and sin of ``degrees``, exact (0, 1 or -1) for multiples of 90 degrees."""
    quarter_turns = degrees / 90.0
    if float(quarter_turns).is_integer():
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter_turns) % 4]
    radians = np.deg2rad(degrees)
    return float(np.cos(radians)), float(np.sin(radians))


def rotate(X, degrees, center=None):
    """Rotate points (N, 2) or images (N, H, W) counter-clockwise by ``degrees``.

    Points: x' = R (x - center) + center with R = [[cos, -sin], [sin, cos]]. ``center``
    defaults to the points' mean, so the shift is a rotation and not also a translation.
    Pass ``center=(0, 0)`` to turn about the origin (the plain rotation matrix that
    dann-moons uses), or one fixed point to turn several arrays alike (the mean depends
    on the points given).

    Images: each image turns about its centre ((H - 1) / 2, (W - 1) / 2), counter-
    clockwise as displayed (row 0 at the top), by bilinear interpolation; pixels that come
    from outside the image count as 0. That is scipy's
    ``ndimage.rotate(images, degrees, axes=(1, 2), reshape=False, order=1,
    mode="grid-constant")``. Multiples of 90 degrees move the pixels of square images
    exactly (``np.rot90``).

    Returns a new array: the input's float dtype, float32 for integer input.
    """
    X = np.asarray(X)
    if not isinstance(degrees, numbers.Real) or not np.isfinite(degrees):
        raise ValueError(f"degrees must be a finite number, got {degrees!r}")
    cos, sin = _cos_sin(float(degrees))
    if X.ndim == 2 and X.shape[1] == 2:
        return _rotate_points(X, cos, sin, center)
    if X.ndim == 3:
        if center is not None:
            raise ValueError("center applies to points (N, 2); images turn about their centre")
        return _rotate_images(X, cos, sin)
    raise ValueError(f"X must be points of shape (N, 2) or images of shape (N, H, W), "
                     f"got shape {X.shape}")


def _rotate_points(X, cos, sin, center):
    dtype = _float_dtype(X)
    points = X.astype(np.float64)
    if center is None:
        if len(points) == 0:
            return points.astype(dtype)
        center = points.mean(axis=0)
    center = np.asarray(center, dtype=np.float64)
    if center.shape != (2,):
        raise ValueError(f"center must be a point (x, y), got shape {center.shape}")
    R = np.array([[cos, -sin], [sin, cos]])
    return ((points - center) @ R.T + center).astype(dtype)


def _rotate_images(images, cos, sin):
    dtype = _float_dtype(images)
    N, H, W = images.shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    # Each output pixel takes its value from where the inverse rotation sends it.
    # Coordinates about the centre with y pointing up, as on screen: x = col - cx,
    # y = cy - row; R(-angle) (x, y) = (cos x + sin y, -sin x + cos y).
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    x, y = cols - cx, cy - rows
    source_col = cx + (cos * x + sin * y)
    source_row = cy - (-sin * x + cos * y)

    r0, c0 = np.floor(source_row), np.floor(source_col)
    fr, fc = source_row - r0, source_col - c0
    r0, c0 = r0.astype(np.intp), c0.astype(np.intp)
    pixels = images.astype(np.float64)
    out = np.zeros((N, H, W), dtype=np.float64)
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                           (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        # Outside neighbours read pixel (0, 0) with weight 0: they add nothing.
        values = pixels[:, np.where(inside, r, 0), np.where(inside, c, 0)]
        out += values * np.where(inside, weight, 0.0)
    return out.astype(dtype)


def invert(images, max_value=16.0):
    """``max_value - images``: dark ink on a light page becomes light on dark.

    Pixel values must lie in [0, max_value] (16 for the shipped digits, 1 or 255 for
    other images). Returns a new array: the input's float dtype, float32 for integers.
    """
    images = np.asarray(images)
    if not isinstance(max_value, numbers.Real) or not np.isfinite(max_value) or max_value <= 0:
        raise ValueError(f"max_value must be a finite number > 0, got {max_value!r}")
    if images.size and (images.min() < 0 or images.max() > max_value):
        raise ValueError(f"images must hold values in [0, max_value={max_value}], got values "
                         f"in [{images.min()}, {images.max()}]")
    return (max_value - images.astype(np.float64)).astype(_float_dtype(images))
