"""tlcore with numpy alone: numba, cupy and the native module blocked from importing
(in a fresh interpreter, as on a machine that has none of them). The numpy backend
(kernels/backends/numpy_fast.py) serves every kernel, and a training step through every kernel-backed op runs."""

import os
import subprocess
import sys

NUMPY_ONLY = """
import sys
for blocked in ("numba", "cupy", "tlcore._native"):
    sys.modules[blocked] = None  # import now raises ImportError, as if not installed
import numpy as np
import tlcore
from tlcore import cli, kernels, nn, optim
import tlcore.nn.functional as F

assert kernels.available() == ["numpy"], kernels.available()
assert kernels.preferred() == "numpy"
for op in kernels.ops():
    assert kernels.get(op, np.zeros(1)).__module__ == "tlcore.kernels.backends.numpy_fast", op

tlcore.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(4 * 4 * 4, 6))
classes = tlcore.tensor(np.random.default_rng(0).standard_normal((5, 6)))
optimizer = optim.Adam(model.parameters(), lr=1e-2)
x = tlcore.tensor(np.random.default_rng(1).standard_normal((8, 1, 8, 8)))
y = tlcore.tensor(np.arange(8) % 5)
losses = []
for step in range(5):
    optimizer.zero_grad()
    features = F.grad_reverse(model(x), 1.0)
    loss = F.cross_entropy(features[:, :5], y) + F.embedding_hinge_max_loss(
        features, classes, y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
assert losses[-1] > losses[0], losses  # through gradient reversal, descent climbs
print("\\n".join(cli.info_lines()))
"""


def test_numpy_alone_serves_every_kernel_and_trains():
    env = {k: v for k, v in os.environ.items() if k != "TLCORE_KERNELS"}
    done = subprocess.run([sys.executable, "-c", NUMPY_ONLY], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    for backend in ("numba", "native", "cupy"):
        assert f"{backend:<7} not available" in done.stdout
