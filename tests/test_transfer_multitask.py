"""Multi-task learning (tlcore.transfer.multitask) and the multitask experiment."""

import math

import numpy as np
import pytest

import tlcore
from tlcore import experiments, nn
from tlcore.transfer import MultiTaskModel, multitask_loss, task_accuracies

from strategies import check_module_gradients, leaf


class CountingTrunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 5)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x).tanh()


def make_model(dtype=None):
    tlcore.manual_seed(0)
    model = MultiTaskModel(CountingTrunk(), {"digit": nn.Linear(5, 3), "parity": nn.Linear(5, 2)})
    return model.double() if dtype == np.float64 else model


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def mean_cross_entropy(logits, target):
    return -log_softmax(logits)[np.arange(len(target)), target].mean()


RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4))
DIGIT = np.array([2, -1, 0, -1, 1, 2])  # -1: no digit label
HAS_DIGIT = DIGIT >= 0
PARITY = np.array([0, 1, 1, 0, 1, 0])


def test_model_returns_every_head_on_one_trunk_pass():
    model = make_model()
    outputs = model(X.astype(np.float32))
    assert list(outputs) == ["digit", "parity"] == model.tasks
    assert outputs["digit"].shape == (6, 3) and outputs["parity"].shape == (6, 2)
    assert model.trunk.calls == 1
    assert list(model(X, tasks=["parity"])) == ["parity"]
    assert isinstance(model.heads, nn.ModuleDict)
    assert {name.split(".")[0] for name, _ in model.named_parameters()} == {"trunk", "heads"}


def test_loss_is_the_weighted_sum_of_means_over_labelled_samples():
    model = make_model(np.float64)
    outputs = model(X)
    loss = multitask_loss(outputs, {"digit": DIGIT, "parity": PARITY},
                          masks={"digit": HAS_DIGIT}, weights={"digit": 2.0, "parity": 0.5})
    digit, parity = outputs["digit"].numpy(), outputs["parity"].numpy()
    expected = (2.0 * mean_cross_entropy(digit[HAS_DIGIT], DIGIT[HAS_DIGIT])
                + 0.5 * mean_cross_entropy(parity, PARITY))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_masked_samples_contribute_nothing():
    model = make_model(np.float64)
    x = leaf(X.copy())
    masks = {"digit": HAS_DIGIT, "parity": HAS_DIGIT}
    multitask_loss(model(x), {"digit": DIGIT, "parity": PARITY}, masks=masks).backward()
    assert np.all(x.grad[~HAS_DIGIT] == 0) and np.any(x.grad[HAS_DIGIT] != 0)
    # and a masked sample's label is never read: any value there gives the same loss
    other = np.where(HAS_DIGIT, DIGIT, 99)
    a = multitask_loss(model(X), {"digit": DIGIT}, masks={"digit": HAS_DIGIT})
    b = multitask_loss(model(X), {"digit": other}, masks={"digit": HAS_DIGIT})
    assert a.item() == b.item()


def test_a_task_without_labels_in_the_batch_adds_zero():
    model = make_model(np.float64)
    none = np.zeros(6, dtype=bool)
    loss = multitask_loss(model(X), {"digit": DIGIT, "parity": PARITY}, masks={"digit": none})
    alone = multitask_loss(model(X), {"parity": PARITY})
    assert loss.item() == alone.item()
    model.zero_grad()
    loss.backward()
    assert all(p.grad is None for p in model.heads["digit"].parameters())
    # No task labelled at all: a zero loss whose backward runs and gives zero gradients.
    model.zero_grad()
    empty = multitask_loss(model(X), {"digit": DIGIT, "parity": PARITY},
                           masks={"digit": none, "parity": none})
    assert empty.item() == 0.0
    empty.backward()
    assert all(p.grad is None or not np.any(p.grad) for p in model.parameters())


def test_weights_scale_each_task_gradient():
    model = make_model(np.float64)
    grads = []
    for weight in (1.0, 3.0, 0.0):
        model.zero_grad()
        multitask_loss(model(X), {"digit": DIGIT, "parity": PARITY}, masks={"digit": HAS_DIGIT},
                       weights={"parity": weight}).backward()
        head = model.heads["parity"].weight.grad
        grads.append(np.zeros((2, 5)) if head is None else head.copy())
    np.testing.assert_allclose(grads[1], 3.0 * grads[0], rtol=1e-12)
    assert not np.any(grads[2])


def test_gradcheck_through_the_multitask_loss():
    model = make_model(np.float64)
    names = [name for name, _ in model.named_parameters()]
    x = leaf(X.copy())

    def loss(module, x):
        return multitask_loss(module(x), {"digit": DIGIT, "parity": PARITY},
                              masks={"digit": HAS_DIGIT}, weights={"digit": 1.5})
    check_module_gradients(model, x, names, loss)


def test_per_task_accuracy_counts_each_task_on_its_labelled_subset():
    model = make_model()
    x = X.astype(np.float32)
    outputs = model(x)
    guess = {task: out.numpy().argmax(axis=1) for task, out in outputs.items()}
    result = task_accuracies(model, x, {"digit": DIGIT, "parity": PARITY},
                             masks={"digit": HAS_DIGIT}, batch_size=4)
    assert result["digit"] == pytest.approx(np.mean(guess["digit"][HAS_DIGIT] ==
                                                    DIGIT[HAS_DIGIT]))
    assert result["parity"] == pytest.approx(np.mean(guess["parity"] == PARITY))
    # A head that always answers the label scores 1 on its subset whatever the others.
    always = task_accuracies(model, x, {"digit": np.where(HAS_DIGIT, guess["digit"], 7)},
                             masks={"digit": HAS_DIGIT})
    assert always == {"digit": 1.0}
    nothing = task_accuracies(model, x, {"digit": DIGIT}, masks={"digit": np.zeros(6, bool)})
    assert math.isnan(nothing["digit"])


def test_bad_input_is_refused_with_a_clear_error():
    model = make_model()
    x = X.astype(np.float32)
    outputs = model(x)
    with pytest.raises(ValueError, match="tasks names unknown task 'size'"):
        model(x, tasks=["size"])
    with pytest.raises(ValueError, match="targets names unknown task 'size'"):
        multitask_loss(outputs, {"size": PARITY})
    with pytest.raises(ValueError, match="masks names unknown task 'parity'"):
        multitask_loss(outputs, {"digit": DIGIT}, masks={"parity": HAS_DIGIT})
    with pytest.raises(ValueError, match="weights names unknown task 'parity'"):
        multitask_loss(outputs, {"digit": DIGIT}, weights={"parity": 1.0})
    with pytest.raises(ValueError, match=r"weights\['parity'\] must be a finite number >= 0"):
        multitask_loss(outputs, {"parity": PARITY}, weights={"parity": -1.0})
    with pytest.raises(ValueError, match=r"weights\['parity'\] must be a finite number"):
        multitask_loss(outputs, {"parity": PARITY}, weights={"parity": "heavy"})
    with pytest.raises(ValueError, match=r"masks\['digit'\] must be a boolean array"):
        multitask_loss(outputs, {"digit": DIGIT}, masks={"digit": HAS_DIGIT.astype(int)})
    with pytest.raises(ValueError, match=r"masks\['digit'\] must be a boolean array"):
        multitask_loss(outputs, {"digit": DIGIT}, masks={"digit": HAS_DIGIT[:4]})
    with pytest.raises(ValueError, match=r"targets\['parity'\] holds 5 labels for 6"):
        multitask_loss(outputs, {"parity": PARITY[:5]})
    with pytest.raises(ValueError, match="targets names unknown task 'size'"):
        task_accuracies(model, x, {"size": PARITY})
    with pytest.raises(ValueError, match="heads must be a non-empty dict"):
        MultiTaskModel(CountingTrunk(), {})
    with pytest.raises(TypeError, match="trunk must be a Module"):
        MultiTaskModel(lambda x: x, {"digit": nn.Linear(5, 3)})
    with pytest.raises(TypeError, match="heads\\['parity'\\] must be a Module, got int"):
        MultiTaskModel(CountingTrunk(), {"digit": nn.Linear(5, 3), "parity": 2})


def test_experiment_runs_with_tiny_options():
    result = experiments.run("multitask", seeds=(0,), single_epochs=5, multi_epochs=1)
    rows = {(r["method"], r["metric"]): r["mean"] for r in result["rows"]}
    assert set(rows) == {("single-task", "target_acc"), ("multi-task", "target_acc")}
    assert all(0.0 <= value <= 1.0 for value in rows.values())
    assert len(result["claims"]) == 1
