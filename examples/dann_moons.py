"""Domain-adversarial training (DANN, Ganin et al. 2016) on two moons.

The source moons are labelled; the target moons are turned by 35 degrees and unlabelled.
Lecture claim: a gradient reversal layer makes the features domain-invariant, so a
classifier trained on source labels works better on the target than source-only training.
"""
import numpy as np

import tlcore
from tlcore import nn, no_grad, optim
from tlcore.datasets import make_moons, rotate
from tlcore.transfer import DANN, train_dann

ANGLE = 35.0  # degrees between the source and the target domain
X_source, y_source = make_moons(300, noise=0.1, seed=0)
X_target, _ = make_moons(300, noise=0.1, seed=1)  # its labels are never used in training
X_target = rotate(X_target, ANGLE, center=(0, 0))
X_test, y_test = make_moons(300, noise=0.1, seed=2)
X_test = rotate(X_test, ANGLE, center=(0, 0))  # a fresh target sample, to measure on


def make_model():
    features = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    return DANN(features, label_predictor=nn.Linear(32, 2), domain_classifier=nn.Linear(32, 1))


def target_accuracy(model):
    model.eval()
    with no_grad():
        predicted = model(X_test).numpy().argmax(axis=1)
    return float(np.mean(predicted == y_test))


results = {}
for method in ("source-only", "dann"):
    tlcore.manual_seed(0)  # both methods: the same initial weights and the same batches
    model = make_model()
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    # adversarial=False is the same loop with lambda 0: nothing flows back from the
    # domain classifier into the features.
    history = train_dann(model, optimizer, X_source, y_source, X_target, epochs=100,
                         batch_size=32, adversarial=(method == "dann"))
    results[method] = target_accuracy(model)
    print(f"{method:>11}: target accuracy {results[method]:.3f}, domain classifier accuracy "
          f"{history[-1]['domain_acc']:.3f} (0.5 = domains indistinguishable)")

print(f"target accuracy: source-only {results['source-only']:.3f} -> "
      f"DANN {results['dann']:.3f}")
