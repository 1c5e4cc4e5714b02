"""Layer transfer (Yosinski et al. 2014): copy the first layers of a trained network.

Task A: digits 0-4, all their training images. Task B: digits 5-9, 3 images per class.
Lecture claim: the first layers are generic and the upper ones specific to task A, so
freezing more copied layers hurts, while fine-tuning the copied layers recovers.
"""
import numpy as np

import tlcore
from tlcore import nn, no_grad, ops, optim
from tlcore.datasets import load_digits, minibatches, per_class, train_test_split
from tlcore.transfer import copy_layers

tlcore.manual_seed(0)
images, labels = load_digits()
X = (images / 16.0).astype(np.float32).reshape(len(images), 64)
X_train, X_test, y_train, y_test = train_test_split(X, labels, seed=0, stratify=True)
in_a, in_b = y_train < 5, y_train >= 5
X_b, y_b = per_class(X_train[in_b], y_train[in_b] - 5, 3, seed=0)  # 3 labels per class
X_b_test, y_b_test = X_test[y_test >= 5], y_test[y_test >= 5] - 5


def make_mlp():  # three layers: 64 -> 64 -> 64 -> 5
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 5))


net_a = make_mlp()  # trained on task A
optimizer = optim.Adam(net_a.parameters(), lr=2e-3)
for epoch in range(20):
    for xb, yb in minibatches(X_train[in_a], y_train[in_a], batch_size=32):
        loss = ops.cross_entropy(net_a(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

for method in ("scratch", "frozen-1", "frozen-2", "tuned-1", "tuned-2"):
    net = make_mlp()
    if method != "scratch":  # "frozen-2": the first 2 layers copied from A and frozen
        kind, n = method.split("-")
        copy_layers(net_a, net, int(n), freeze=(kind == "frozen"))
    optimizer = optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    for step in range(100):  # the 15 labelled images of task B, as one batch
        loss = ops.cross_entropy(net(X_b), y_b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with no_grad():
        accuracy = np.mean(net(X_b_test).numpy().argmax(axis=1) == y_b_test)
    print(f"{method:>8}: task B test accuracy {accuracy:.3f}")
