"""self-taught: few labelled target images, plentiful unlabelled images of other classes.

Self-taught learning (Raina et al. 2007; ``tlcore.transfer.selftaught``), the map's
cell with an unlabelled source and a labelled target. ``--data`` picks the data:

- ``segments`` (the default): the source is ``--unlabelled`` images of seven-segment
  figures that are not digits (``make_segment_patterns``: 110 figures, no label given),
  the target the ten digits (``make_segment_digits``), 100 images per class, half a
  labelled pool, half the test. Both are small figures (scale 0.6) that wander up to
  2 pixels each way on a 20 x 20 canvas (shift 0.1), with slant and stroke variation:
  nuisance that raw pixels cannot absorb, so the strokes learned from the source have
  room to help.
- ``digits``: the shipped 8x8 digits, 0-4 as the source (their labels dropped), 5-9 as
  the target, split in half: the case where the idea has no room (about 900 unlabelled
  images, and digits that raw pixels already separate).

A ``ConvAutoencoder`` learns from the source images alone (a tenth held out to measure
its reconstruction). Then, for each shot count of ``--shots``, the target task is
trained on that many labelled images per class. Methods, each a linear classifier on
top of:

- ``raw-pixels``: the pixels;
- ``random-frozen``: the encoder's architecture with its initial random weights, frozen
  (the control: what the architecture gives without learning from the source);
- ``self-taught-frozen``: the autoencoder's encoder, frozen (Raina et al.);
- ``self-taught-tuned``: the autoencoder's encoder, fine-tuned with the classifier;
- ``scratch``: the encoder's architecture trained from a random start with the classifier.

Metrics: ``target_acc_Kshot`` for each K of ``--shots`` (chance 0.1), and the held-out
reconstruction error ``heldout_mse`` of the ``autoencoder`` beside the ``mean-image``
that predicts every image as the source's mean.

The autoencoder's size and training were set from its held-out reconstruction error on
source images alone. The data's placement (scale 0.6, shift 0.1) and the linear head
were set in a prototype that printed target accuracies on other draws of the same
generators (docs/self-taught.md says what it tried).
"""

import numpy as np

from tlcore import nn, ops, optim
from tlcore.datasets import (digits_world, make_segment_digits, make_segment_patterns, per_class,
                             train_test_split)
from tlcore.experiments.experiment import Claim, Experiment, Option
from tlcore.experiments.finetune import train_full_batch
from tlcore.experiments.training import accuracy
from tlcore.random import get_rng_state, manual_seed, set_rng_state
from tlcore.transfer.selftaught import (ConvAutoencoder, as_batch, feature_extractor,
                                        reconstruction_error, train_autoencoder)

SEGMENT_PLACEMENT = dict(size=20, scale=0.6, shift=0.1)
TARGET_PER_CLASS = 100  # segments: half a labelled pool, half the test
METHODS = ("raw-pixels", "random-frozen", "self-taught-frozen", "self-taught-tuned",
           "scratch")


def parse_shots(text):
    """'1,3,10' -> (1, 3, 10), or a ValueError naming the option."""
    try:
        shots = tuple(sorted({int(part) for part in str(text).split(",") if part.strip()}))
    except ValueError:
        shots = ()
    if not shots or shots[0] < 1:
        raise ValueError(f"option 'shots' (--shots) must be positive integers separated by "
                         f"commas, like '1,3,10'; got {text!r}")
    return shots


def parse_channels(text):
    """'8,16' -> (8, 16), or a ValueError naming the option."""
    try:
        channels = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        channels = ()
    if len(channels) != 2 or min(channels) < 1:
        raise ValueError(f"option 'channels' (--channels) must be two positive integers "
                         f"c1,c2 like '8,16'; got {text!r}")
    return channels


def source_and_target(data, unlabelled):
    """(source images (N, H, W), target images, target labels 0..9 or 0..4): the source
    as images alone, drawn from tlcore's generator (call ``manual_seed`` first)."""
    if data == "segments":
        source = make_segment_patterns(unlabelled, **SEGMENT_PLACEMENT)
        target = make_segment_digits(TARGET_PER_CLASS, **SEGMENT_PLACEMENT)
        return source, target.images, target.labels
    world = digits_world()
    source = world.images[world.labels < 5]
    is_target = world.labels >= 5
    return source, world.images[is_target], world.labels[is_target] - 5


def learn_features(source, options, progress=None):
    """A ConvAutoencoder trained on nine tenths of ``source``, the tenth held out, and
    the rows of its held-out reconstruction error beside the mean image's."""
    held_out = max(1, len(source) // 10)
    order = np.random.default_rng(len(source)).permutation(len(source))  # a fixed tenth
    test, train = source[order[:held_out]], source[order[held_out:]]
    autoencoder = ConvAutoencoder(parse_channels(options["channels"]))
    train_autoencoder(autoencoder, train, options["epochs"],
                      batch_size=options["ae_batch_size"], lr=options["ae_lr"],
                      progress=progress)
    mean_image = float(np.mean((test - train.mean(axis=0)) ** 2))
    return autoencoder, test, [
        ("autoencoder", "heldout_mse", reconstruction_error(autoencoder, test)),
        ("mean-image", "heldout_mse", mean_image)]


def make_classifier(method, autoencoder, height, width, classes):
    """The network ``method`` trains on the target: features, then one linear layer."""
    if method == "raw-pixels":
        return nn.Sequential(nn.Flatten(), nn.Linear(height * width, classes))
    if method == "random-frozen" or method == "scratch":
        untrained = ConvAutoencoder(autoencoder.channels)
        features = feature_extractor(untrained, trainable=method == "scratch")
    else:
        features = feature_extractor(autoencoder, trainable=method == "self-taught-tuned")
    return nn.Sequential(features, nn.Linear(autoencoder.code_size(height, width), classes))


# What begin_seed learned, by seed and the options that decide it (DATA_AND_AUTOENCODER's).
# The two self-taught experiments learn the same autoencoder from the same source, so in
# one process (`tlcore run all`) the second takes a copy of the first's, with tlcore's
# generator put back where the training left it: the results are the same, bit for bit,
# as training again (tests/test_transfer_selftaught.py), at half the autoencoders. The
# newest _LEARNED_MOST are kept (2 MB each at the default sizes).
_LEARNED = {}
_LEARNED_MOST = 16


def begin_seed(seed, options, progress):
    """What both self-taught experiments do first: matplotlib checked when a figure is
    asked for (before training, not after), the seed set, the data drawn and the
    autoencoder learned (or copied from _LEARNED). Returns (images, labels, autoencoder,
    held_out, rows), all the caller's own."""
    if options["plot"]:
        from tlcore.experiments.figures import require_matplotlib
        require_matplotlib()
    key = (seed,) + tuple(options[option.name] for option in DATA_AND_AUTOENCODER)
    if key not in _LEARNED:
        manual_seed(seed)
        source, images, labels = source_and_target(options["data"], options["unlabelled"])
        autoencoder, held_out, rows = learn_features(source, options, progress)
        _LEARNED[key] = (images.copy(), labels.copy(), autoencoder.channels,
                         autoencoder.state_dict(), autoencoder.training, held_out.copy(),
                         list(rows), get_rng_state())
        while len(_LEARNED) > _LEARNED_MOST:
            del _LEARNED[next(iter(_LEARNED))]  # the oldest
        return images, labels, autoencoder, held_out, rows
    images, labels, channels, weights, training, held_out, rows, state = _LEARNED[key]
    autoencoder = ConvAutoencoder(channels)  # its initialisation draws: the state is set after
    autoencoder.load_state_dict(weights)
    autoencoder.train(training)
    manual_seed(seed)
    set_rng_state(state)
    return images.copy(), labels.copy(), autoencoder, held_out.copy(), list(rows)


def run_seed(seed, options, progress=None):
    images, labels, autoencoder, held_out, rows = begin_seed(seed, options, progress)
    X_pool, X_test, y_pool, y_test = train_test_split(as_batch(images), labels,
                                                      test_size=0.5, stratify=True)
    height, width = images.shape[1:]
    classes = int(labels.max()) + 1
    for shots in parse_shots(options["shots"]):
        X, y = per_class(X_pool, y_pool, shots)
        for method in METHODS:
            net = make_classifier(method, autoencoder, height, width, classes)
            trainable = [p for p in net.parameters() if p.requires_grad]
            optimizer = optim.Adam(trainable, lr=options["lr"])
            net.train()
            train_full_batch(optimizer, lambda net=net: ops.cross_entropy(net(X), y),
                             options["steps"])
            rows.append((method, f"target_acc_{shots}shot", accuracy(net, X_test, y_test)))
        if progress is not None:
            progress.update("shots", shots, max(parse_shots(options["shots"])))
    if options["plot"]:
        from tlcore.experiments.self_taught_plot import plot_autoencoder
        untrained = ConvAutoencoder(autoencoder.channels)
        print("wrote " + plot_autoencoder(autoencoder, untrained, held_out, X_test[:, 0],
                                          options["plot"], options["data"], seed,
                                          EXPERIMENT.command_line(options, (seed,))))
    return rows


def check_channels(options):
    """The options' channels parse (see ``parse_channels``), and the autoencoder's code
    is no larger than the image, so that it cannot copy the image through."""
    c1, c2 = parse_channels(options["channels"])
    if c2 > 16:
        raise ValueError(f"option 'channels' (--channels): c2 must be at most 16, so that "
                         f"the code (c2 x H/4 x W/4) is no larger than the image; got {c2}")


def check_options(options):
    check_channels(options)
    if options["data"] == "digits" and max(parse_shots(options["shots"])) > 80:
        raise ValueError("option 'shots' (--shots) must be at most 80 with --data digits "
                         "(the labelled pool has about 90 images per class)")
    if options["data"] == "segments" and max(parse_shots(options["shots"])) > 50:
        raise ValueError("option 'shots' (--shots) must be at most 50 with --data segments "
                         "(the labelled pool has 50 images per class)")


def notes(options):
    if options["data"] == "digits":
        return ["--data digits: about 900 unlabelled 8x8 images that raw pixels already "
                "separate: the documented case where self-taught learning has no room"]
    return []


# The data and the autoencoder: shared with self-taught-clustering, which learns the same
# features from the same source.
DATA_AND_AUTOENCODER = (
    Option("data", str, "segments", "segments (figures that are not digits -> "
           "seven-segment digits) or digits (shipped 0-4 -> 5-9)",
           choices=("segments", "digits")),
    Option("unlabelled", int, 2000, "unlabelled source images (segments; the digits have "
           "about 900)", minimum=10),
    Option("channels", str, "8,16", "the autoencoder's channels c1,c2 (its code: c2 x H/4 x "
           "W/4 numbers)"),
    Option("epochs", int, 5, "autoencoder epochs over the source", minimum=1),
    Option("ae_batch_size", int, 10, "autoencoder minibatch size", minimum=1),
    Option("ae_lr", float, 3e-3, "autoencoder Adam learning rate", minimum=0),
)

EXPERIMENT = Experiment(
    name="self-taught",
    section="self-taught learning",
    summary="features learned by an autoencoder from unlabelled figures of other classes, "
            "then few labelled digits; --data segments|digits",
    run_seed=run_seed,
    options=DATA_AND_AUTOENCODER + (
        Option("shots", str, "1,3,10", "labelled target images per class, comma-separated: "
               "one row of results each"),
        Option("steps", int, 100, "full-batch Adam steps on the labelled target images",
               minimum=1),
        Option("lr", float, 1e-2, "Adam learning rate on the target", minimum=0),
        Option("plot", str, "", "write the figure (reconstructions, first-layer filters) "
               "to this directory"),
    ),
    default_seeds=(0, 1, 2, 3, 4),
    claims=(
        Claim("self-taught-frozen", "target_acc_1shot", at_least=0.0, baseline="raw-pixels",
              source="Raina et al. 2007"),
        Claim("self-taught-frozen", "target_acc_1shot", at_least=0.0, baseline="scratch",
              source="lecture"),
        Claim("self-taught-frozen", "target_acc_1shot", at_least=0.0,
              baseline="random-frozen", source="tlcore"),
    ),
    quick=dict(unlabelled=1000, epochs=2, shots="1,10"),
    check=check_options,
    notes=notes,
)
