"""Zero-shot learning by attributes (DAP, Lampert et al. 2009) on the shipped digits.

Digits 0, 3 and 7 are never seen in training. A network learns one sigmoid per visual
attribute ("loop at the top", "flat base", ...) on the other digits; an unseen digit is
then recognised from its row of attributes alone. Lecture claim: better than chance (1/3).
"""
import numpy as np

import tlcore
from tlcore import nn, optim
from tlcore.datasets import (ATTRIBUTE_NAMES, DIGIT_ATTRIBUTES, load_digits, minibatches,
                             train_test_split)
from tlcore.transfer import AttributeClassifier

tlcore.manual_seed(0)
images, labels = load_digits()
X = (images / 16.0).astype(np.float32).reshape(len(images), 64)  # pixels in [0, 1]
unseen = np.array([0, 3, 7])
seen = np.setdiff1d(np.arange(10), unseen)
is_seen = np.isin(labels, seen)
X_train, X_seen_test, y_train, y_seen_test = train_test_split(
    X[is_seen], labels[is_seen], test_size=0.25, seed=0, stratify=True)
X_unseen, y_unseen = X[~is_seen], labels[~is_seen]  # not one of these is trained on

backbone = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, len(ATTRIBUTE_NAMES)))
dap = AttributeClassifier(backbone, DIGIT_ATTRIBUTES, seen_classes=seen)
optimizer = optim.Adam(dap.parameters(), lr=2e-3)
for epoch in range(30):
    dap.train()
    for xb, yb in minibatches(X_train, y_train, batch_size=32):
        loss = dap.loss(dap(xb), yb)  # each attribute's sigmoid vs the class's table row
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

# Held-out images of the seen digits: the seven seen classes are the candidates.
predicted = dap.predict(X_seen_test, seen, DIGIT_ATTRIBUTES[seen])
print(f"seen digits, held-out images: accuracy {np.mean(predicted == y_seen_test):.3f}")
# The unseen digits: candidates 0, 3, 7, known only by their rows of attributes.
predicted = dap.predict(X_unseen, unseen, DIGIT_ATTRIBUTES[unseen])
for digit in unseen:
    recognised = np.mean(predicted[y_unseen == digit] == digit)
    print(f"  digit {digit}: {recognised:.3f} of its images recognised")
print(f"unseen accuracy: {np.mean(predicted == y_unseen):.3f} (chance {1 / len(unseen):.3f})")
