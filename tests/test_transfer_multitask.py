"""Multi-task learning (tlcore.transfer.multitask) and the multitask experiment."""

import math

import numpy as np
import pytest

import tlcore
from tlcore import experiments, nn
from tlcore.experiments.multitask import GainOffset
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


def make_inputs_model(dtype=None):
    """Layout 2: task "speech" reads 4 numbers, task "text" 6; each its own input layer
    into a shared middle of 5 units, each its own head."""
    tlcore.manual_seed(0)
    model = MultiTaskModel(CountingTrunk(), {"speech": nn.Linear(5, 3), "text": nn.Linear(5, 2)},
                           inputs={"speech": nn.Linear(4, 4), "text": nn.Linear(6, 4)})
    return model.double() if dtype == np.float64 else model


X_TEXT = RNG.standard_normal((3, 6))
SPEECH = np.array([2, 0, 1, 1, 0, 2])


def test_layout2_gives_each_task_its_own_input_layer_around_a_shared_middle():
    model = make_inputs_model(np.float64)
    assert isinstance(model.inputs, nn.ModuleDict) and list(model.inputs) == model.tasks
    assert {name.split(".")[0] for name, _ in model.named_parameters()} == \
        {"trunk", "heads", "inputs"}
    outputs = model({"speech": X, "text": X_TEXT})
    assert outputs["speech"].shape == (6, 3) and outputs["text"].shape == (3, 2)
    expected = model.heads["text"](model.trunk(model.inputs["text"](X_TEXT)))
    np.testing.assert_array_equal(outputs["text"].numpy(), expected.numpy())
    # One array and tasks=[...]: that array through each named task's input layer.
    only = model(X, tasks=["speech"])
    assert list(only) == ["speech"]
    np.testing.assert_array_equal(only["speech"].numpy(), outputs["speech"].numpy())


def test_layout2_task_a_loss_reaches_the_middle_and_its_own_input_only():
    model = make_inputs_model(np.float64)
    model.zero_grad()
    multitask_loss(model({"speech": X, "text": X_TEXT}), {"speech": SPEECH}).backward()

    def touched(module):
        return all(p.grad is not None and np.any(p.grad) for p in module.parameters())

    def untouched(module):
        return all(p.grad is None or not np.any(p.grad) for p in module.parameters())
    assert touched(model.trunk) and touched(model.inputs["speech"])
    assert touched(model.heads["speech"])
    assert untouched(model.inputs["text"]) and untouched(model.heads["text"])


def test_layout2_gradcheck_through_both_tasks():
    model = make_inputs_model(np.float64)
    names = [name for name, _ in model.named_parameters()]

    def loss(module, x):
        return multitask_loss(module({"speech": x, "text": X_TEXT}),
                              {"speech": SPEECH, "text": PARITY[:3]}, weights={"text": 0.5})
    check_module_gradients(model, leaf(X.copy()), names, loss)


def test_layout1_takes_a_batch_per_task_too():
    model = make_model(np.float64)
    outputs = model({"digit": X[:2], "parity": X[2:]})
    np.testing.assert_array_equal(outputs["digit"].numpy(), model(X[:2])["digit"].numpy())
    np.testing.assert_array_equal(outputs["parity"].numpy(), model(X[2:])["parity"].numpy())
    both = task_accuracies(model, {"digit": X[:2], "parity": X[2:]},
                           {"digit": DIGIT[:2], "parity": PARITY[2:]},
                           masks={"digit": HAS_DIGIT[:2]})
    assert both == {"digit": task_accuracies(model, X[:2], {"digit": DIGIT[:2]},
                                             masks={"digit": HAS_DIGIT[:2]})["digit"],
                    "parity": task_accuracies(model, X[2:], {"parity": PARITY[2:]})["parity"]}


def test_layout2_bad_input_is_refused_with_a_clear_error():
    heads = {"speech": nn.Linear(5, 3), "text": nn.Linear(5, 2)}
    with pytest.raises(ValueError, match=r"inputs must have one module for each task of "
                                         r"heads \['speech', 'text'\], got \['speech'\]"):
        MultiTaskModel(CountingTrunk(), heads, inputs={"speech": nn.Linear(4, 4)})
    with pytest.raises(TypeError, match=r"inputs\['text'\] must be a Module, got str"):
        MultiTaskModel(CountingTrunk(), heads, inputs={"speech": nn.Linear(4, 4), "text": "x"})
    with pytest.raises(ValueError, match="inputs must be a non-empty dict"):
        MultiTaskModel(CountingTrunk(), heads, inputs={})
    model = make_inputs_model()
    x = X.astype(np.float32)
    with pytest.raises(ValueError, match="x names unknown task 'image'"):
        model({"speech": x, "image": x})
    with pytest.raises(ValueError, match="give tasks or a dict"):
        model({"speech": x}, tasks=["speech"])
    with pytest.raises(ValueError, match="X has no inputs for task 'text'"):
        task_accuracies(model, {"speech": x}, {"speech": SPEECH, "text": PARITY})
    with pytest.raises(ValueError, match="X names unknown task 'image'"):
        task_accuracies(model, {"speech": x, "image": x}, {"speech": SPEECH})


def test_gain_offset_input_layer_starts_as_the_identity():
    layer = GainOffset((1, 2, 2))
    x = RNG.random((3, 1, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    assert [name for name, _ in layer.named_parameters()] == ["gain", "offset"]


TINY = dict(single_epochs=5, multi_epochs=1)
ROWS = {("single-task", "target_acc"), ("multi-task", "target_acc"),
        ("single-task", "transformed_acc"), ("multi-task", "transformed_acc"),
        ("multi-task-inputs", "transformed_acc"), ("single-task", "plain_acc"),
        ("multi-task", "plain_acc"), ("multi-task-inputs", "plain_acc")}


def test_experiment_runs_with_tiny_options_and_repeats_exactly():
    result = experiments.run("multitask", seeds=(0,), **TINY)
    rows = {(r["method"], r["metric"]): r["mean"] for r in result["rows"]}
    assert set(rows) == ROWS
    assert all(0.0 <= value <= 1.0 for value in rows.values())
    assert [(c["method"], c["source"]) for c in result["claims"]] == \
        [("multi-task", "lecture"), ("multi-task-inputs", "lecture")]
    again = experiments.run("multitask", seeds=(0,), **TINY)
    assert again["rows"] == result["rows"]
    # Layout 2's input layer changes layout 2 only.
    linear = experiments.run("multitask", seeds=(0,), input_layer="linear", **TINY)
    assert [r for r in linear["rows"] if r["method"] != "multi-task-inputs"] == \
        [r for r in result["rows"] if r["method"] != "multi-task-inputs"]
    validation = experiments.run("multitask", seeds=(0,), held_out="validation",
                                 transform="permute", **TINY)
    assert {(r["method"], r["metric"]) for r in validation["rows"]} == ROWS
    assert "validation" in validation["notes"][0] and not result["notes"]


def test_experiment_draws_its_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the figure needs matplotlib (tlcore[plot])")
    result = experiments.run("multitask", seeds=(0, 1), plot=str(tmp_path), **TINY)
    path = tmp_path / "multitask-accuracy.png"
    assert path.is_file() and 0 < path.stat().st_size < 300 * 1024
    assert f"wrote {path}" in capsys.readouterr().out
    assert experiments.get("multitask").command_line(result["options"], result["seeds"]) \
        == "tlcore run multitask --seeds 0,1 --single-epochs 5 --multi-epochs 1 --plot DIR"
