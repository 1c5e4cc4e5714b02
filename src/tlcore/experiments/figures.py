"""The figures' common ground: matplotlib imported only when a figure is asked for, a
figure without pyplot, saving it into a directory, and a 2-D projection.

matplotlib is an optional extra (``pip install 'tlcore[plot]'``).
"""

import os

import numpy as np

from tlcore.experiments.experiment import MissingExtra

INSTALL_HINT = ("--plot needs matplotlib, which is not installed; install it with "
                "pip install 'tlcore[plot]' (or pip install matplotlib)")


def require_matplotlib():
    """Import matplotlib, or raise MissingExtra (an ImportError) saying how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None


def pca_2d(points):
    """The rows of ``points`` on their first two principal components (numpy's SVD of
    the centred points: rows of Vt are the directions of largest variance)."""
    centred = points - points.mean(axis=0)
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ Vt[:2].T


def new_figure(width, height):
    """A matplotlib Figure of ``width`` x ``height`` inches, laid out by constrained
    layout (MissingExtra when matplotlib is not installed)."""
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure, directory, name):
    """Save ``figure`` as ``directory/name`` (the directory made if missing); the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    figure.savefig(path, dpi=80)
    return path
