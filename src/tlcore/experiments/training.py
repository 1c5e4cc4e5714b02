"""The supervised training loop and accuracy that the experiments share."""

import numpy as np

from tlcore import ops
from tlcore.autograd import no_grad
from tlcore.datasets import minibatches


def fit(model, X, y, optimizer, epochs, batch_size=32, loss_fn=ops.cross_entropy,
        progress=None, task="epoch"):
    """Minibatch training: ``epochs`` passes over (X, y) in a fresh random order each
    time (tlcore's generator). Returns the mean training loss of each epoch."""
    losses = []
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in minibatches(X, y, batch_size, shuffle=True):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(yb)
            count += len(yb)
        losses.append(total / count)
        if progress is not None:
            progress.update(task, epoch + 1, epochs)
    return losses


def predict(model, X, batch_size=1024):
    """The arg-max class of each row of X, in evaluation mode without a graph."""
    model.eval()
    with no_grad():
        return np.concatenate([model(X[i:i + batch_size]).numpy().argmax(axis=1)
                               for i in range(0, len(X), batch_size)])


def accuracy(model, X, y):
    """The fraction of rows of X whose predicted class is y."""
    return float(np.mean(predict(model, X) == y))
