"""Fine-tuning (tlcore.transfer.finetune) and the finetune experiment.

L2SP and distillation_loss are checked against finite differences and their closed-form
gradients (alpha (w - w^0), beta w; T (q - p) / N), the distillation loss also against
PyTorch where installed. Freezing is checked where it matters: a frozen parameter gets no
gradient, no optimizer state, and does not move under SGD with momentum, Adam and AdamW
with weight decay. copy_layers by names, by the first k and the last k layers, with its
errors, and the last layers copied under a new first layer that undoes a permuted input.
The finetune experiment runs with tiny options (layer-transfer: its own test file).
"""

import numpy as np
import pytest
from strategies import array, leaf, torch_or_skip

import tlcore
from tlcore import experiments, nn, ops
from tlcore.optim import SGD, Adam, AdamW
from tlcore.transfer.finetune import (L2SP, copy_layers, distillation_loss, freeze,
                                      layers_of, param_groups, unfreeze)


def mlp(hidden=5, seed=0):
    tlcore.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- L2SP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape_s, shape_new", [((3, 4), (2,)), ((5,), (2, 3)), ((1,), (1,))])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_l2sp_gradcheck(shape_s, shape_new, noncontiguous):
    rng = np.random.default_rng(0)
    reference = {"s": array(rng, shape_s).astype(np.float32)}
    penalty = L2SP(reference, alpha=0.7, beta=0.3, transferred=["s"])
    w_s = leaf(array(rng, shape_s, noncontiguous))
    w_new = leaf(array(rng, shape_new, noncontiguous))
    tlcore.gradcheck(lambda a, b: penalty({"s": a, "new": b}), [w_s, w_new])


def test_l2sp_is_zero_at_the_reference_and_its_gradient_is_alpha_w_minus_w0():
    model = mlp()
    alpha, beta = 0.5, 0.25
    transferred = ["1.weight", "1.bias", "3.weight", "3.bias"]
    penalty = L2SP(model, alpha, 0.0, transferred)
    loss = penalty(model)
    assert loss.item() == 0.0
    loss.backward()
    for name, param in model.named_parameters():  # beta = 0: the head is not in the graph
        assert (param.grad is None) if name.startswith("5.") else np.all(param.grad == 0), name

    penalty = L2SP(model, alpha, beta, transferred)
    w0 = {name: p.data.copy() for name, p in model.named_parameters()}
    rng = np.random.default_rng(1)
    with tlcore.no_grad():
        for param in model.parameters():
            param.add_(rng.standard_normal(param.shape).astype(np.float32))
    model.zero_grad()
    loss = penalty(model)
    loss.backward()
    expected = 0.0
    for name, param in model.named_parameters():
        if name in transferred:
            want = alpha * (param.data - w0[name])
            expected += alpha / 2 * np.sum((param.data - w0[name]) ** 2)
        else:  # the head is new: plain weight decay
            want = beta * param.data
            expected += beta / 2 * np.sum(param.data ** 2)
        np.testing.assert_allclose(param.grad, want, rtol=1e-5, atol=1e-6, err_msg=name)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_l2sp_reference_is_a_constant_copy():
    model = mlp()
    penalty = L2SP(model, 1.0, 0.0, ["1.weight"])
    before = penalty.reference["1.weight"].copy()
    with tlcore.no_grad():
        model[1].weight.add_(1.0)  # training moves the weights, not w^0
    np.testing.assert_array_equal(penalty.reference["1.weight"], before)
    assert penalty(model).item() == pytest.approx(0.5 * model[1].weight.size, rel=1e-5)


def test_l2sp_leaves_frozen_parameters_out():
    model = mlp()
    penalty = L2SP(model, 1.0, 1.0, ["1.weight", "1.bias"])
    freeze(model)
    assert penalty(model).item() == 0.0 and not penalty(model).requires_grad


def test_l2sp_errors_name_the_argument():
    model = mlp()
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        L2SP(model, -1.0, 0.0, [])
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        L2SP(model, 0.1, float("inf"), [])
    with pytest.raises(ValueError, match="transferred: reference has no parameter 'nope'"):
        L2SP(model, 1.0, 0.0, ["nope"])
    with pytest.raises(TypeError, match="transferred must be a list of parameter names"):
        L2SP(model, 1.0, 0.0, "1.weight")
    with pytest.raises(TypeError, match="reference must be a Module or"):
        L2SP([1, 2], 1.0, 0.0, [])
    penalty = L2SP(model, 1.0, 0.0, ["1.weight"])
    with pytest.raises(ValueError, match="the model has no parameter '1.weight'"):
        penalty(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="has shape"):
        penalty({"1.weight": leaf(np.zeros((2, 2)))})


# -- distillation ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 2), (4, 3), (6, 10)])
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 5.0])
def test_distillation_gradcheck(shape, T):
    rng = np.random.default_rng(2)
    student = leaf(array(rng, shape, noncontiguous=shape[0] > 1))
    teacher = array(rng, shape) * 3
    tlcore.gradcheck(lambda s: distillation_loss(s, teacher, T), [student])


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_distillation_value_and_gradient_in_closed_form(T):
    rng = np.random.default_rng(3)
    s, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    student = leaf(s.copy())
    loss = distillation_loss(student, tlcore.tensor(t, requires_grad=True), T)
    loss.backward()
    p, q = softmax(t / T), softmax(s / T)
    assert loss.item() == pytest.approx(T * T * np.sum(p * (np.log(p) - np.log(q))) / 5)
    np.testing.assert_allclose(student.grad, T * (q - p) / 5, rtol=1e-10, atol=1e-12)


def test_distillation_gradient_is_zero_when_student_equals_teacher():
    logits = np.random.default_rng(4).standard_normal((6, 5)) * 4
    student = leaf(logits.copy())
    loss = distillation_loss(student, logits, T=2.0)
    loss.backward()
    assert abs(loss.item()) < 1e-12
    np.testing.assert_allclose(student.grad, 0, atol=1e-15)


def test_distillation_matches_torch():
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    s, t, T = rng.standard_normal((7, 4)), rng.standard_normal((7, 4)), 3.0
    student = leaf(s.copy())
    ours = distillation_loss(student, t, T)
    ours.backward()
    ts = torch.tensor(s, requires_grad=True)
    theirs = T * T * F.kl_div(F.log_softmax(ts / T, dim=1), F.softmax(torch.tensor(t) / T, dim=1),
                              reduction="batchmean")
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    np.testing.assert_allclose(student.grad, ts.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_distillation_errors_name_the_argument():
    s = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="T \\(the temperature\\) must be a finite number > 0"):
        distillation_loss(s, np.zeros((2, 3)), T=0)
    with pytest.raises(ValueError, match="T \\(the temperature\\) must be a finite number"):
        distillation_loss(s, np.zeros((2, 3)), T=float("inf"))
    with pytest.raises(ValueError, match="must both have shape \\(N, C\\)"):
        distillation_loss(s, np.zeros((2, 4)), T=1.0)
    with pytest.raises(ValueError, match="must both have shape \\(N, C\\)"):
        distillation_loss(leaf(np.zeros(3)), np.zeros(3), T=1.0)


# -- freezing --------------------------------------------------------------------------------

OPTIMIZERS = [(SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
              (Adam, dict(lr=0.1, weight_decay=0.1)),
              (AdamW, dict(lr=0.1, weight_decay=0.1))]


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=["sgd-momentum", "adam", "adamw"])
def test_a_frozen_layer_gets_no_gradient_no_state_and_does_not_move(cls, kwargs):
    model = mlp()
    x = np.random.default_rng(6).standard_normal((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    ops.cross_entropy(model(x), y).backward()  # a gradient from before the freeze
    freeze(model[1])
    frozen = list(model[1].parameters())
    assert all(p.grad is None and not p.requires_grad for p in frozen)
    before = [p.data.copy() for p in frozen]
    trained = model[5].weight.data.copy()
    optimizer = cls(model.parameters(), **kwargs)  # frozen parameters included on purpose
    for _ in range(3):
        optimizer.zero_grad()
        ops.cross_entropy(model(x), y).backward()
        assert all(p.grad is None for p in frozen)
        optimizer.step()
    for p, old in zip(frozen, before):
        np.testing.assert_array_equal(p.data, old)
        assert p not in optimizer.state
    assert model[5].weight in optimizer.state
    assert not np.array_equal(model[5].weight.data, trained)

    frozen[0].grad = np.ones_like(frozen[0].data)  # even a stray gradient moves nothing
    optimizer.step()
    np.testing.assert_array_equal(frozen[0].data, before[0])

    unfreeze(model[1])
    optimizer.zero_grad()
    ops.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert not np.array_equal(frozen[0].data, before[0])


# -- copy_layers -----------------------------------------------------------------------------


def test_layers_of_lists_the_children_with_parameters():
    assert [name for name, _ in layers_of(mlp())] == ["1", "3", "5"]


@pytest.mark.parametrize("layers, expected", [
    (["1", "5"], ["1", "5"]), (1, ["1"]), (2, ["1", "3"]), (3, ["1", "3", "5"]),
    (-1, ["5"]), (-2, ["3", "5"])])
@pytest.mark.parametrize("frozen", [True, False])
def test_copy_layers_by_names_first_k_and_last_k(layers, expected, frozen):
    source, target = mlp(seed=0), mlp(seed=1)
    untouched = {name: p.data.copy() for name, p in target.named_parameters()}
    copied = copy_layers(source, target, layers, freeze=frozen)
    assert copied == [f"{n}.{p}" for n in expected for p in ("weight", "bias")]
    sources = dict(source.named_parameters())
    for name, param in target.named_parameters():
        if name in copied:
            np.testing.assert_array_equal(param.data, sources[name].data)
            assert param.data is not sources[name].data  # a copy, not shared
            assert param.requires_grad == (not frozen)
        else:
            np.testing.assert_array_equal(param.data, untouched[name])
            assert param.requires_grad
    with tlcore.no_grad():
        target[int(expected[0])].weight.add_(1.0)
    assert not np.array_equal(target[int(expected[0])].weight.data,
                              source[int(expected[0])].weight.data)


def test_copying_the_last_layers_lets_a_new_first_layer_undo_a_permuted_input():
    """The speaker case: the input changes, the task stays. With the last two layers
    copied, a first layer whose columns follow the permutation gives the source network's
    outputs exactly, on the permuted input."""
    source, target = mlp(seed=0), mlp(seed=1)
    assert copy_layers(source, target, -2) == ["3.weight", "3.bias", "5.weight", "5.bias"]
    assert target[1].weight.requires_grad and not target[3].weight.requires_grad
    permutation = np.random.default_rng(8).permutation(4)
    with tlcore.no_grad():
        target[1].weight.data[...] = source[1].weight.data[:, permutation]
        target[1].bias.data[...] = source[1].bias.data
    x = np.random.default_rng(9).standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(target(x[:, permutation]).numpy(), source(x).numpy(),
                               rtol=1e-5, atol=1e-6)  # float32 sums in another order


def test_copy_layers_takes_nested_names_and_buffers():
    def net():
        return nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Linear(4, 2))
    source, target = net(), net()
    source[0][1].running_mean[...] = 7.0
    assert copy_layers(source, target, ["0.1"]) == ["0.1.weight", "0.1.bias"]
    np.testing.assert_array_equal(target[0][1].running_mean, 7.0)
    assert not target[0][1].weight.requires_grad and target[0][0].weight.requires_grad


def test_copy_layers_errors_are_clear_and_copy_nothing():
    source, target = mlp(seed=0), mlp(seed=1)
    before = {name: p.data.copy() for name, p in target.named_parameters()}
    for k in (0, 4, -4):
        with pytest.raises(ValueError, match=f"layers={k} is out of range: the model has 3 "
                                             "layers with parameters \\(1, 3, 5\\)"):
            copy_layers(source, target, k)
    with pytest.raises(ValueError, match="source has no module '9'; its layers: 1, 3, 5"):
        copy_layers(source, target, ["1", "9"])
    wider = nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 7), nn.ReLU(),
                          nn.Linear(7, 3))
    wider_first = wider[1].weight.data.copy()
    with pytest.raises(ValueError, match="layer '3' does not fit: the source has "
                                         "\\{'weight': \\(5, 5\\)"):
        copy_layers(source, wider, ["1", "3"])
    np.testing.assert_array_equal(wider[1].weight.data, wider_first)  # layer 1 not copied either
    with pytest.raises(ValueError, match="layers is empty"):
        copy_layers(source, target, [])
    with pytest.raises(TypeError, match="layers must be a list of module names or an int"):
        copy_layers(source, target, "1")
    with pytest.raises(TypeError, match="layers must be a list of module names or an int"):
        copy_layers(source, target, True)
    with pytest.raises(TypeError, match="target must be an nn.Module"):
        copy_layers(source, {}, 1)
    for name, param in target.named_parameters():  # nothing was half copied
        np.testing.assert_array_equal(param.data, before[name])
        assert param.requires_grad


# -- param groups ----------------------------------------------------------------------------


def test_param_groups_give_copied_layers_their_own_rate_and_leave_frozen_ones_out():
    source, target = mlp(seed=0), mlp(seed=1)
    freeze(target[1])
    copied = copy_layers(source, target, ["3"], freeze=False)
    groups = param_groups(target, copied, lr=0.1, transferred_lr=0.01)
    assert [g["lr"] for g in groups] == [0.1, 0.01]
    assert groups[0]["params"] == [target[5].weight, target[5].bias]
    assert groups[1]["params"] == [target[3].weight, target[3].bias]
    optimizer = SGD(groups)
    x = np.random.default_rng(7).standard_normal((4, 4)).astype(np.float32)
    ops.cross_entropy(target(x), np.array([0, 1, 2, 0])).backward()
    before = target[3].weight.data.copy()
    grad = target[3].weight.grad.copy()
    optimizer.step()
    np.testing.assert_allclose(target[3].weight.data, before - 0.01 * grad, rtol=1e-6)
    with pytest.raises(ValueError, match="transferred: model has no parameter 'nope'"):
        param_groups(target, ["nope"], 0.1, 0.01)
    with pytest.raises(ValueError, match="nothing to train"):
        param_groups(freeze(mlp()), [], 0.1, 0.01)


# -- experiments -----------------------------------------------------------------------------


def test_finetune_experiment_runs_with_tiny_options():
    result = experiments.run("finetune", seeds=(0,), source_epochs=2, steps=3, warmup=2)
    methods = ["no-transfer", "scratch", "fine-tune", "l2-sp", "lwf"]
    assert [(r["method"], r["metric"]) for r in result["rows"]] == \
        [(m, metric) for m in methods for metric in ("target_acc", "source_acc")]
    assert all(0 <= r["mean"] <= 1 for r in result["rows"])
    assert len(result["claims"]) == 3
    means = {(r["method"], r["metric"]): r["mean"] for r in result["rows"]}
    assert means[("no-transfer", "source_acc")] > 0.5  # the source net learned something

