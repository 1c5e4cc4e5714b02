"""Self-taught learning: features learned from unlabelled data of other classes.

Raina, Battle, Lee, Packer & Ng, "Self-taught learning: transfer learning from
unlabeled data" (ICML 2007). The source data carry no labels and need not share the
target's classes or even its distribution; the target task has few labels. First learn
a representation of the source images by reconstruction alone,

    min over (encode, decode) of  mean over source images x of || decode(encode(x)) - x ||^2

then learn the target task on ``encode(x)``: with the encoder frozen (the paper's
setting: its features are fixed and a classifier is trained on them), or with the
encoder fine-tuned from that start. Raina et al. learned the features by sparse coding;
here it is an autoencoder of convolutions (see ``ConvAutoencoder``), trained by
gradient descent like every other network in tlcore.

Self-taught clustering (Dai, Yang, Xue & Yu, ICML 2008) uses the same unlabelled
auxiliary data to cluster a small unlabelled target set; tlcore's experiment clusters
the target images in the encoder's feature space (``encode_images``) with k-means
(``tlcore.transfer.clustering``). Dai et al. co-cluster the target and the auxiliary
data together, sharing the feature clusters; that is not built here.
"""

import numpy as np

from tlcore import nn, ops, optim
from tlcore.autograd import no_grad
from tlcore.random import generator_for
from tlcore.transfer.finetune import freeze


class ConvAutoencoder(nn.Module):
    """Two conv-relu-pool blocks that encode, their mirror image that decodes:

        encoder: conv 5x5 (1 -> c1), relu, max-pool 2, conv 3x3 (c1 -> c2), relu, max-pool 2
        decoder: upsample 2, conv 3x3 (c2 -> c1), relu, upsample 2, conv 5x5 (c1 -> 1)

    An image (N, 1, H, W), H and W multiples of 4, becomes a code (N, c2, H/4, W/4).

    Why convolutions: a stroke means the same wherever it falls on the canvas, so a
    filter that finds it anywhere is learned once, and the pooling keeps what was found
    while letting where drift by a pixel or two. Why no sparsity or noise penalty: the
    two poolings are the bottleneck (each keeps one value of four), so the code cannot
    copy the image through, and plain reconstruction is the objective to train.
    """

    def __init__(self, channels=(8, 16)):
        super().__init__()
        if (len(channels) != 2 or not all(isinstance(c, (int, np.integer)) and c >= 1
                                          for c in channels)):
            raise ValueError(f"channels must be two positive ints (c1, c2), got {channels!r}")
        c1, c2 = (int(c) for c in channels)
        self.channels = (c1, c2)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(c2, c1, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(c1, 1, 5, padding=2))

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def code_size(self, height, width):
        """How many numbers encode one height x width image."""
        return self.channels[1] * (height // 4) * (width // 4)


def as_batch(images):
    """(N, H, W) images as the (N, 1, H, W) float32 batch that the convolutions take,
    or a ValueError when H or W is not a multiple of 4 (two poolings of 2)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
    if images.shape[1] % 4 or images.shape[2] % 4:
        raise ValueError(f"images must be H x W with H and W multiples of 4, got "
                         f"{images.shape[1]} x {images.shape[2]}")
    return images[:, None]


def train_autoencoder(autoencoder, images, epochs, batch_size=50, lr=3e-3, progress=None):
    """Minibatch Adam on the reconstruction error of ``images`` (N, H, W), unlabelled:
    nothing but the images enters. Each epoch visits them in a new order drawn from
    tlcore's generator (``tlcore.manual_seed``). Returns the mean training loss of each epoch."""
    batch = as_batch(images)
    optimizer = optim.Adam(autoencoder.parameters(), lr=lr)
    losses = []
    autoencoder.train()
    for epoch in range(epochs):
        total = 0.0
        order = generator_for(None).permutation(len(batch))
        for start in range(0, len(batch), batch_size):
            xb = batch[order[start:start + batch_size]]
            loss = ops.mse_loss(autoencoder(xb), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(xb)
        losses.append(total / len(batch))
        if progress is not None:
            progress.update("autoencoder epoch", epoch + 1, epochs)
    return losses


def reconstruction_error(autoencoder, images):
    """The mean squared error per pixel of reconstructing ``images`` (N, H, W)."""
    batch = as_batch(images)
    autoencoder.eval()
    with no_grad():
        return float(ops.mse_loss(autoencoder(batch), batch).data)


def feature_extractor(autoencoder, trainable=False):
    """A new copy of the autoencoder's encoder followed by Flatten: images (N, 1, H, W)
    in, one feature row per image out. ``trainable=False`` freezes the copy (self-taught
    learning as Raina et al. run it); True leaves it to be fine-tuned with the
    classifier put on top. The autoencoder itself is never changed."""
    encoder = ConvAutoencoder(autoencoder.channels).encoder
    encoder.load_state_dict(autoencoder.encoder.state_dict())
    if not trainable:
        freeze(encoder)
    return nn.Sequential(encoder, nn.Flatten())


def encode_images(encoder, images, batch_size=500):
    """The features (N, D) float32 of ``images`` (N, H, W) under ``encoder`` (a
    ``feature_extractor``), in evaluation mode without a graph."""
    batch = as_batch(images)
    encoder.eval()
    with no_grad():
        return np.concatenate([encoder(batch[i:i + batch_size]).numpy()
                               for i in range(0, len(batch), batch_size)])
