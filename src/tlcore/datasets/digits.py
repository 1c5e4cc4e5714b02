"""The handwritten digits shipped with tlcore: 1,797 images of 8x8 pixels, 10 classes.

Source: the UCI "Optical Recognition of Handwritten Digits" data set, test part
(E. Alpaydin, C. Kaynak, 1998; https://archive.ics.uci.edu/dataset/80), licensed
CC BY 4.0. Each image is a 32x32 bitmap of a digit written by one of 43 people, divided
into 4x4 blocks; a pixel counts the ink in its block, so values run from 0 to 16.
It is the set scikit-learn ships as ``sklearn.datasets.load_digits`` (we converted the
``digits.csv.gz`` of scikit-learn 1.9.1 with ``tools/make_digits_npz.py``).

The data lives next to this file, in ``digits.npz``: ``images`` uint8 (1797, 8, 8) and
``labels`` uint8 (1797,). Its checksum, ``DIGITS_SHA256``, is the SHA-256 of the raw
bytes of ``images`` followed by those of ``labels`` (C order), not of the file, so
re-compressing the archive does not change it. ``load_digits`` verifies it on every
read from disk: no network, no scikit-learn, no pickle.
"""

import hashlib
import os
import zipfile
import zlib

import numpy as np

DIGITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
DIGITS_SHAPE = (1797, 8, 8)

_cache = None  # (images, labels) as read from DIGITS_PATH, never handed out


def digits_checksum(images, labels):
    """SHA-256 (hex) of the bytes of ``images`` then ``labels``, both as C-order uint8."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _read(path):
    """(images uint8, labels uint8) from ``path``, after checking shapes and checksum."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"cannot read the digits from {path}: {exc}") from exc
    if (images.shape, labels.shape) != (DIGITS_SHAPE, DIGITS_SHAPE[:1]) \
            or images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"the digits file {path} holds images {images.dtype}{images.shape} and "
                         f"labels {labels.dtype}{labels.shape}; expected uint8 (1797, 8, 8) "
                         "and uint8 (1797,)")
    checksum = digits_checksum(images, labels)
    if checksum != DIGITS_SHA256:
        raise ValueError(f"the digits file {path} is corrupted: its arrays' SHA-256 is "
                         f"{checksum}, expected {DIGITS_SHA256} (reinstall tlcore, or rebuild "
                         "the file with tools/make_digits_npz.py)")
    return images, labels


def load_digits(path=None):
    """The UCI handwritten digits: ``(images, labels)``.

    images: float32 (1797, 8, 8), pixel values 0..16 as in the source (no scaling);
    labels: int64 (1797,), the digit 0..9 (about 180 of each).
    Like ``sklearn.datasets.load_digits(return_X_y=True)`` with images kept 8x8.

    ``path`` reads another copy of ``digits.npz`` (it must hold the same arrays: the
    checksum is verified). The shipped file is read once and cached; every call returns
    fresh arrays, so changing them cannot change what the next call returns.
    """
    global _cache
    if path is None:
        if _cache is None:
            _cache = _read(DIGITS_PATH)
        images, labels = _cache
    else:
        images, labels = _read(os.fspath(path))
    return images.astype(np.float32), labels.astype(np.int64)
