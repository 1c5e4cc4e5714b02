"""Rebuild src/tlcore/datasets/digits.npz from scikit-learn's copy of the UCI digits.

    python tools/make_digits_npz.py SOURCE [--out PATH]

SOURCE is ``digits.csv.gz`` (1797 rows of 64 pixels 0..16 then the label) or the
scikit-learn wheel that holds it (``sklearn/datasets/data/digits.csv.gz``). The source's
SHA-256 must be the one of scikit-learn 1.9.1's file. The script writes a compressed
.npz (``images`` uint8 (1797, 8, 8), ``labels`` uint8 (1797,)) and checks that its
arrays have the checksum that ``tlcore.datasets.digits`` verifies on load.
Not part of the package: run it by hand, from the repository root.
"""

import argparse
import gzip
import hashlib
import io
import os
import sys
import zipfile

import numpy as np

from tlcore.datasets.digits import DIGITS_PATH, DIGITS_SHA256, digits_checksum, load_digits

SOURCE_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
MEMBER_IN_WHEEL = "sklearn/datasets/data/digits.csv.gz"


def read_source(path):
    """The bytes of digits.csv.gz, from the file itself or from inside a wheel."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(MEMBER_IN_WHEEL)
    with open(path, "rb") as f:
        return f.read()


def parse(csv_gz):
    """(images uint8 (N, 8, 8), labels uint8 (N,)) from the gzipped CSV bytes."""
    text = gzip.decompress(csv_gz).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"expected 65 columns (64 pixels and the label), got {table.shape[1]}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("pixels must lie in 0..16 and labels in 0..9")
    return pixels.reshape(-1, 8, 8).astype(np.uint8), labels.astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="digits.csv.gz or the scikit-learn wheel")
    parser.add_argument("--out", default=DIGITS_PATH, help="the .npz to write")
    args = parser.parse_args(argv)

    csv_gz = read_source(args.source)
    source_sha = hashlib.sha256(csv_gz).hexdigest()
    if source_sha != SOURCE_SHA256:
        sys.exit(f"{args.source}: SHA-256 {source_sha}, expected {SOURCE_SHA256}")
    images, labels = parse(csv_gz)
    np.savez_compressed(args.out, images=images, labels=labels)

    checksum = digits_checksum(images, labels)
    print(f"wrote {args.out}: images {images.shape}, labels {labels.shape}, "
          f"{os.path.getsize(args.out)} bytes")
    print(f"arrays SHA-256 {checksum}")
    print("class counts", np.bincount(labels, minlength=10).tolist())
    if checksum != DIGITS_SHA256:
        sys.exit(f"this differs from DIGITS_SHA256 in tlcore/datasets/digits.py "
                 f"({DIGITS_SHA256}): update the constant if the source changed on purpose")
    load_digits(args.out)  # reads it back through the package's own checks
    print("matches DIGITS_SHA256; load_digits reads it back")


if __name__ == "__main__":
    main()
