"""self-taught-clustering: cluster a few unlabelled target images with features learned
from unlabelled images of other classes.

The map's cell where neither the source nor the target has labels. Dai, Yang, Xue & Yu
("Self-taught clustering", ICML 2008) cluster a small target set with the help of a
large unlabelled auxiliary set by co-clustering both over shared feature clusters. This
experiment shows the simpler form of the same idea, and is named as what it is: the
auxiliary data teach a representation (``self_taught.learn_features``: the same
autoencoder as ``tlcore run self-taught``), and k-means (``tlcore.transfer.clustering``,
k-means++ seeding, the best of ``--restarts`` starts) clusters the target images in it.

Data as in ``self-taught`` (``--data segments``: 2000 figures that are not digits as
the auxiliary data; ``--data digits``: the shipped 0-4 as the auxiliary data, the
contrast). The target set is ``--per-class`` images of each target class, with no label
given to the clustering. Spaces: ``raw-pixels``, ``random-features`` (the encoder's
architecture with random weights: what the architecture gives without the auxiliary
data) and ``self-taught`` (the autoencoder's encoder). Metrics against the hidden target
labels, used for scoring only: normalised mutual information ``nmi`` and ``purity``.
"""

from tlcore.datasets import per_class
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.self_taught import (DATA_AND_AUTOENCODER, begin_seed, check_channels,
                                            parse_channels)
from tlcore.transfer.clustering import KMeans, normalized_mutual_info, purity
from tlcore.transfer.selftaught import ConvAutoencoder, encode_images, feature_extractor


def run_seed(seed, options, progress=None):
    images, labels, autoencoder, _, rows = begin_seed(seed, options, progress)
    images, labels = per_class(images, labels, options["per_class"])
    untrained = ConvAutoencoder(parse_channels(options["channels"]))
    spaces = {
        "raw-pixels": images.reshape(len(images), -1),
        "random-features": encode_images(feature_extractor(untrained), images),
        "self-taught": encode_images(feature_extractor(autoencoder), images),
    }
    classes = int(labels.max()) + 1
    nmi = {}
    for method, features in spaces.items():
        clusters = KMeans(classes, n_init=options["restarts"]).fit_predict(features)
        nmi[method] = normalized_mutual_info(labels, clusters)
        rows += [(method, "nmi", nmi[method]), (method, "purity", purity(labels, clusters))]
    if options["plot"]:
        from tlcore.experiments.self_taught_plot import plot_clusters
        print("wrote " + plot_clusters(spaces, labels, nmi, options["plot"], options["data"],
                                       seed, EXPERIMENT.command_line(options, (seed,))))
    return rows


def check_options(options):
    check_channels(options)
    if options["data"] == "segments" and options["per_class"] > 100:
        raise ValueError("option 'per_class' (--per-class) must be at most 100 with "
                         "--data segments")
    if options["data"] == "digits" and options["per_class"] > 170:
        raise ValueError("option 'per_class' (--per-class) must be at most 170 with "
                         "--data digits (the smallest target class has about 180 images)")


EXPERIMENT = Experiment(
    name="self-taught-clustering",
    section="self-taught clustering",
    summary="k-means on a few unlabelled digits in the features an autoencoder learned "
            "from unlabelled figures of other classes; --data segments|digits",
    run_seed=run_seed,
    options=DATA_AND_AUTOENCODER + (
        Option("per_class", int, 30, "unlabelled target images per class to cluster",
               minimum=2),
        Option("restarts", int, 10, "k-means starts (k-means++ seeding); the lowest "
               "within-cluster sum of squares wins", minimum=1),
        Option("plot", str, "", "write the figure (the target images in each space, in "
               "2-D) to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(
        Claim("self-taught", "nmi", at_least=0.0, baseline="raw-pixels", source="lecture"),
        Claim("self-taught", "nmi", at_least=0.0, baseline="random-features",
              source="tlcore"),
    ),
    quick=dict(unlabelled=1000, epochs=2),
    check=check_options,
)
