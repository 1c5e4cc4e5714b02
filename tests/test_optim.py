"""Optimizers (SGD, Adam, AdamW) and schedules (StepLR, LambdaLR).

Every update rule is checked against its formula written again here in numpy (one step
with numbers worked out by hand, then several steps), and against torch.optim where
installed (same initial parameters, same gradient sequence, float64). Also: param
groups, frozen and gradient-less parameters (no update, no decay, no state), in-place
updates that move the version counter, float32, state_dict round trips, clear errors.
"""

import re

import numpy as np
import pytest
from strategies import torch_or_skip

import tlcore
from tlcore.optim import SGD, Adam, AdamW, Optimizer
from tlcore.optim.lr_scheduler import LambdaLR, StepLR

SHAPES = [(3, 4), (5,)]

# (name, optimizer class, keyword arguments): the configurations every test runs over.
CASES = [
    ("sgd", SGD, dict(lr=0.1)),
    ("sgd-momentum", SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd-dampening", SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd-nesterov", SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd-weight-decay", SGD, dict(lr=0.1, weight_decay=0.05)),
    ("sgd-all", SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("adam", Adam, dict(lr=0.1)),
    ("adam-weight-decay", Adam, dict(lr=0.1, weight_decay=0.1)),
    ("adam-betas-eps", Adam, dict(lr=0.01, betas=(0.5, 0.8), eps=1e-3)),
    ("adamw", AdamW, dict(lr=0.1)),
    ("adamw-weight-decay", AdamW, dict(lr=0.1, weight_decay=0.3)),
]
CASE_IDS = [name for name, _, _ in CASES]
CASE_ARGS = [(cls, kwargs) for _, cls, kwargs in CASES]
# one configuration per optimizer that has state and weight decay
STATEFUL = [(SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
            (Adam, dict(lr=0.1, weight_decay=0.1)), (AdamW, dict(lr=0.1, weight_decay=0.1))]
STATEFUL_IDS = ["sgd", "adam", "adamw"]


# -- the update rules, written again from their formulas -----------------------------------

def sgd_reference(theta, grads, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False):
    """theta after each step of PyTorch's SGD."""
    buffer, trajectory = None, []
    for g in grads:
        g = g + weight_decay * theta
        if momentum != 0:
            buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
            g = g + momentum * buffer if nesterov else buffer
        theta = theta - lr * g
        trajectory.append(theta)
    return trajectory


def adam_reference(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   decoupled=False):
    """theta after each step of Adam (Kingma & Ba), or of AdamW when ``decoupled``."""
    beta1, beta2 = betas
    m, v, trajectory = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        trajectory.append(theta)
    return trajectory


def reference(cls, kwargs, theta, grads):
    if cls is SGD:
        return sgd_reference(theta, grads, **kwargs)
    if cls is AdamW:
        return adam_reference(theta, grads, **{"weight_decay": 1e-2, **kwargs}, decoupled=True)
    return adam_reference(theta, grads, **kwargs)


# -- helpers --------------------------------------------------------------------------------

def problem(seed, shapes=SHAPES, steps=4):
    """Initial values and a gradient sequence (steps x parameters), float64."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape) for shape in shapes]
    grads = [[rng.standard_normal(shape) for shape in shapes] for _ in range(steps)]
    return initial, grads


def make_params(initial, dtype=np.float64):
    return [tlcore.tensor(a.copy(), requires_grad=True, dtype=dtype) for a in initial]


def train(optimizer, params, grads):
    """Write each parameter's .grad and step, for each step; the values after each step.

    The gradient arrays are reused from step to step (as after zero_grad(set_to_none=False)
    and backward), so an optimizer that kept a reference to one would be caught.
    """
    trajectory = []
    for step_grads in grads:
        for param, g in zip(params, step_grads):
            if param.grad is None:
                param.grad = g.astype(param.dtype)
            else:
                param.grad[...] = g
        optimizer.step()
        trajectory.append([param.numpy().copy() for param in params])
    return trajectory


def torch_trajectory(torch, cls, groups_or_kwargs, initial, grads, kwargs):
    """The same run with torch.optim: ``groups`` lists the parameter indices per group
    with their own options (or None for a single group)."""
    twins = [torch.tensor(a.copy(), requires_grad=True) for a in initial]
    if groups_or_kwargs is None:
        params = twins
    else:
        params = [{**options, "params": [twins[i] for i in indices]}
                  for indices, options in groups_or_kwargs]
    optimizer = getattr(torch.optim, cls.__name__)(params, **kwargs)
    trajectory = []
    for step_grads in grads:
        for twin, g in zip(twins, step_grads):
            twin.grad = torch.from_numpy(g.copy())
        optimizer.step()
        trajectory.append([twin.detach().numpy().copy() for twin in twins])
    return trajectory


def assert_trajectories_close(actual, expected, rtol=1e-12, atol=1e-14):
    for step, (got, want) in enumerate(zip(actual, expected)):
        for i, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol,
                                       err_msg=f"step {step + 1}, parameter {i}")


# -- one step by hand, several steps against numpy and torch ----------------------------------

@pytest.mark.parametrize("cls, kwargs, grads, expected", [
    # theta = 1 - 0.1 * 0.5; -2 - 0.1 * 0.25
    (SGD, dict(lr=0.1), [[0.5, 0.25]], [0.95, -2.025]),
    # b1 = g = 1: theta = 0.9; b2 = 0.9 * 1 + 1 = 1.9: theta = 0.9 - 0.19
    (SGD, dict(lr=0.1, momentum=0.9), [[1.0, 0.0]] * 2, [0.71, -2.0]),
    # b2 = 0.9 * 1 + 0.5 * 1 = 1.4: theta = 0.9 - 0.14
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.5), [[1.0, 0.0]] * 2, [0.76, -2.0]),
    # d1 = 1 + 0.9 * 1: theta = 0.81; b2 = 1.9, d2 = 1 + 0.9 * 1.9 = 2.71: theta = 0.539
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True), [[1.0, 0.0]] * 2, [0.539, -2.0]),
    # g = 0.5 + 0.1 * 1, -0.25 + 0.1 * -2: theta = 1 - 0.06, -2 + 0.045
    (SGD, dict(lr=0.1, weight_decay=0.1), [[0.5, -0.25]], [0.94, -1.955]),
    # first Adam step: m_hat = g, v_hat = g^2, so theta moves by lr * sign(g)
    (Adam, dict(lr=0.1), [[0.5, -0.25]], [0.9, -1.9]),
    # AdamW: theta * (1 - 0.1 * 0.1) first, then lr * sign(g)
    (AdamW, dict(lr=0.1, weight_decay=0.1), [[0.5, -0.25]], [0.89, -1.88]),
    # Adam's L2 term: g = 0.5 + 1 * 1 > 0 and -0.25 + 1 * -2 < 0, so the same signs
    (Adam, dict(lr=0.1, weight_decay=1.0), [[0.5, -0.25]], [0.9, -1.9]),
], ids=["sgd", "momentum", "dampening", "nesterov", "weight-decay", "adam", "adamw", "adam-l2"])
def test_steps_worked_out_by_hand(cls, kwargs, grads, expected):
    param = tlcore.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    optimizer = cls([param], **kwargs)
    train(optimizer, [param], [[np.array(g)] for g in grads])
    np.testing.assert_allclose(param.numpy(), expected, rtol=1e-7)


@pytest.mark.parametrize("cls, kwargs", CASE_ARGS, ids=CASE_IDS)
def test_several_steps_match_the_formula(cls, kwargs):
    initial, grads = problem(seed=1)
    params = make_params(initial)
    got = train(cls(params, **kwargs), params, grads)
    per_param = [reference(cls, kwargs, theta, [step[i] for step in grads])
                 for i, theta in enumerate(initial)]
    assert_trajectories_close(got, list(zip(*per_param)))


@pytest.mark.parametrize("cls, kwargs", CASE_ARGS, ids=CASE_IDS)
def test_several_steps_match_torch(cls, kwargs):
    torch = torch_or_skip()
    initial, grads = problem(seed=2)
    params = make_params(initial)
    got = train(cls(params, **kwargs), params, grads)
    assert_trajectories_close(got, torch_trajectory(torch, cls, None, initial, grads, kwargs),
                              rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_defaults_are_pytorchs(cls):
    torch = torch_or_skip()
    ours = cls([tlcore.tensor([1.0], requires_grad=True)]).defaults
    theirs = getattr(torch.optim, cls.__name__)([torch.zeros(1, requires_grad=True)]).defaults
    assert ours == {key: theirs[key] for key in ours}


GROUPS = [([0], dict(lr=0.01, weight_decay=0.2)), ([1], dict())]


@pytest.mark.parametrize("cls, kwargs", [(SGD, dict(lr=0.1, momentum=0.9)),
                                         (Adam, dict(lr=0.1)), (AdamW, dict(lr=0.1))],
                         ids=["sgd", "adam", "adamw"])
def test_param_groups_have_their_own_lr_and_weight_decay(cls, kwargs):
    initial, grads = problem(seed=3)
    params = make_params(initial)
    groups = [{**options, "params": [params[i] for i in indices]} for indices, options in GROUPS]
    optimizer = cls(groups, **kwargs)
    assert optimizer.param_groups[1]["lr"] == kwargs["lr"]  # a missing key takes the default
    got = train(optimizer, params, grads)

    per_param = []
    for indices, options in GROUPS:
        for i in indices:
            per_param.append(reference(cls, {**kwargs, **options}, initial[i],
                                       [step[i] for step in grads]))
    assert_trajectories_close(got, list(zip(*per_param)))

    torch = torch_or_skip()
    assert_trajectories_close(got, torch_trajectory(torch, cls, GROUPS, initial, grads, kwargs),
                              rtol=1e-10, atol=1e-12)


def test_step_after_a_real_backward_and_closure():
    """The gradient comes from autograd; step(closure) recomputes it with grad enabled
    (even inside no_grad) and returns the closure's loss."""
    w = tlcore.tensor([1.0, -2.0, 3.0], requires_grad=True, dtype=np.float64)
    optimizer = SGD([w], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (w * w).sum()  # gradient 2w
        loss.backward()
        return loss

    with tlcore.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == 14.0
    np.testing.assert_allclose(w.numpy(), [0.8, -1.6, 2.4], rtol=1e-14)
    assert optimizer.step() is None


# -- frozen parameters, in-place updates, dtypes ----------------------------------------------

@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=STATEFUL_IDS)
def test_frozen_and_gradless_params_get_no_update_no_decay_no_state(cls, kwargs):
    trained, frozen, gradless = (tlcore.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
                                 for _ in range(3))
    frozen.requires_grad_(False)
    optimizer = cls([trained, frozen, gradless], **kwargs)
    for _ in range(3):
        trained.grad = np.array([0.5, 0.5])
        frozen.grad = np.array([0.5, 0.5])  # a stale gradient must not be used either
        optimizer.step()
    for param in (frozen, gradless):
        np.testing.assert_array_equal(param.numpy(), [1.0, -2.0])
        assert param not in optimizer.state
    assert trained in optimizer.state
    assert not np.allclose(trained.numpy(), [1.0, -2.0])
    assert list(optimizer.state_dict()["state"]) == [0]


def test_sgd_without_momentum_keeps_no_state():
    param = tlcore.tensor([1.0], requires_grad=True)
    optimizer = SGD([param], lr=0.1, weight_decay=0.1)
    param.grad = np.array([1.0], np.float32)
    optimizer.step()
    assert optimizer.state == {}


@pytest.mark.parametrize("cls, kwargs", CASE_ARGS, ids=CASE_IDS)
def test_update_is_in_place_and_moves_the_version_counter(cls, kwargs):
    param = tlcore.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    array, alias = param.data, param.detach()  # another reference to the same array
    version = param._version[0]
    optimizer = cls([param], **kwargs)
    param.grad = np.array([0.5, 0.25])
    grad = param.grad.copy()
    optimizer.step()
    assert param.data is array
    assert param._version[0] > version
    np.testing.assert_array_equal(alias.numpy(), param.numpy())
    assert not np.array_equal(array, [1.0, -2.0])
    np.testing.assert_array_equal(param.grad, grad)  # the gradient itself is not changed


@pytest.mark.parametrize("cls, kwargs", CASE_ARGS, ids=CASE_IDS)
def test_float32_stays_float32(cls, kwargs):
    initial, grads = problem(seed=4)
    params = make_params(initial, dtype=np.float32)
    optimizer = cls(params, **kwargs)
    got = train(optimizer, params, grads)
    assert all(param.dtype == np.float32 for param in params)
    for state in optimizer.state.values():
        assert all(value.dtype == np.float32 for value in state.values()
                   if isinstance(value, np.ndarray))
    per_param = [reference(cls, kwargs, theta.astype(np.float32).astype(np.float64),
                           [step[i].astype(np.float32).astype(np.float64) for step in grads])
                 for i, theta in enumerate(initial)]
    assert_trajectories_close(got, list(zip(*per_param)), rtol=1e-4, atol=1e-5)


def test_zero_grad():
    a, b = (tlcore.tensor([1.0, 2.0], requires_grad=True) for _ in range(2))
    optimizer = SGD([a, b])
    a.grad = np.ones(2, np.float32)
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.ones(2, np.float32)
    array = a.grad
    optimizer.zero_grad(set_to_none=False)
    assert a.grad is array and not array.any()
    assert b.grad is None


def test_add_param_group_takes_the_defaults():
    a, b = (tlcore.tensor([1.0], requires_grad=True) for _ in range(2))
    optimizer = Adam([a], lr=0.1, betas=(0.8, 0.9))
    optimizer.add_param_group({"params": b, "lr": 0.5})
    assert optimizer.param_groups[1] == {"params": [b], "lr": 0.5, "betas": (0.8, 0.9),
                                         "eps": 1e-8, "weight_decay": 0}
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [a]})


# -- state_dict ---------------------------------------------------------------------------

def _is_storable(value):
    """What tlcore.save can store: leaves that are arrays, Python numbers and bools, None,
    or tuples/lists of numbers, in dicts with str or int keys (and the list of groups)."""
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _is_storable(v) for k, v in value.items())
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return all(_is_storable(v) for v in value)  # the list of param groups
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, (int, float)) for v in value)
    return value is None or isinstance(value, (np.ndarray, bool, int, float))


@pytest.mark.parametrize("cls, kwargs", CASE_ARGS, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    initial, grads = problem(seed=5, steps=6)
    params = make_params(initial)
    groups = [{"params": [params[0]], "lr": 0.03}, {"params": [params[1]]}]
    optimizer = cls(groups, **kwargs)
    train(optimizer, params, grads[:3])
    saved = optimizer.state_dict()
    assert _is_storable(saved)

    resumed_params = make_params([param.numpy() for param in params])
    # other hyperparameters on purpose: load_state_dict brings back the saved ones
    resumed = cls([{"params": [resumed_params[0]]}, {"params": [resumed_params[1]]}], lr=0.7)
    resumed.load_state_dict(saved)
    assert [g["lr"] for g in resumed.param_groups] == [0.03, kwargs["lr"]]
    assert resumed.param_groups[0]["params"][0] is resumed_params[0]

    uninterrupted = train(optimizer, params, grads[3:])
    continued = train(resumed, resumed_params, grads[3:])
    for a, b in zip(uninterrupted, continued):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=STATEFUL_IDS)
def test_state_dict_layout_and_copies(cls, kwargs):
    initial, grads = problem(seed=6, steps=2)
    params = make_params(initial)
    optimizer = cls([{"params": [params[1]]}, {"params": [params[0]], "lr": 0.5}], **kwargs)
    train(optimizer, params, grads)
    saved = optimizer.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]  # numbered in group order
    assert saved["param_groups"][1]["lr"] == 0.5
    assert sorted(saved["state"]) == [0, 1]
    assert all(value.shape == params[1].shape for value in saved["state"][0].values()
               if isinstance(value, np.ndarray))

    # state_dict() copies: a saved dict does not change when training goes on
    snapshot = {i: {k: np.copy(v) for k, v in s.items()} for i, s in saved["state"].items()}
    train(optimizer, params, grads)
    for i, state in saved["state"].items():
        for name, value in state.items():
            np.testing.assert_array_equal(value, snapshot[i][name])

    # load_state_dict() copies: changing the dict afterwards does not reach the optimizer
    resumed = cls([{"params": [params[1]]}, {"params": [params[0]]}], **kwargs)
    resumed.load_state_dict(saved)
    for state in saved["state"].values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                value += 1.0
    for index, param in enumerate([params[1], params[0]]):
        for name, value in resumed.state[param].items():
            np.testing.assert_array_equal(value, snapshot[index][name])

    torch = torch_or_skip()
    twins = [torch.tensor(a, requires_grad=True) for a in initial]
    twin_optimizer = getattr(torch.optim, cls.__name__)(twins, **kwargs)
    for twin in twins:
        twin.grad = torch.ones_like(twin)
    twin_optimizer.step()
    assert set(twin_optimizer.state_dict()["state"][0]) == set(saved["state"][0])


@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=STATEFUL_IDS)
def test_load_state_dict_accepts_what_a_file_gives_back(cls, kwargs):
    """After a save and load, numbers may come back as 0-d arrays and tuples as arrays."""
    initial, grads = problem(seed=7, steps=4)
    params = make_params(initial)
    optimizer = cls(params, **kwargs)
    train(optimizer, params, grads[:2])
    saved = optimizer.state_dict()
    as_arrays = {
        "state": {i: {k: np.asarray(v) for k, v in s.items()} for i, s in saved["state"].items()},
        "param_groups": [{k: np.asarray(v) for k, v in g.items()}
                         for g in saved["param_groups"]]}
    resumed_params = make_params([param.numpy() for param in params])
    resumed = cls(resumed_params, **kwargs)
    resumed.load_state_dict(as_arrays)
    group = resumed.param_groups[0]
    assert all(not isinstance(v, np.ndarray) for k, v in group.items() if k != "params")
    for a, b in zip(train(optimizer, params, grads[2:]), train(resumed, resumed_params, grads[2:])):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_load_state_dict_errors():
    a, b = (tlcore.tensor(np.zeros(3), requires_grad=True) for _ in range(2))
    optimizer = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones(3), np.ones(3)
    optimizer.step()
    saved = optimizer.state_dict()
    two_groups = SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="has 1 parameter groups, this optimizer has 2"):
        two_groups.load_state_dict(saved)
    with pytest.raises(ValueError, match="group 0 of the state dict has 2 parameters, this "
                                         "optimizer's has 1"):
        SGD([a], momentum=0.9).load_state_dict(saved)
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        optimizer.load_state_dict({"state": {}})
    wrong_shape = optimizer.state_dict()
    wrong_shape["state"][1]["momentum_buffer"] = np.zeros(4)
    with pytest.raises(ValueError, match=re.escape("state 'momentum_buffer' of parameter 1: "
                                                   "expected shape (3,), got (4,)")):
        optimizer.load_state_dict(wrong_shape)
    unknown = optimizer.state_dict()
    unknown["state"][5] = unknown["state"][0]
    with pytest.raises(ValueError, match="state for parameter 5"):
        optimizer.load_state_dict(unknown)
    bad_lr = optimizer.state_dict()
    bad_lr["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        optimizer.load_state_dict(bad_lr)
    assert optimizer.param_groups[0]["lr"] == 0.1  # nothing was changed by the failed loads


def _trained(cls, kwargs):
    """An optimizer over two parameters after two steps, so both have state."""
    initial, grads = problem(seed=8, steps=2)
    params = make_params(initial)
    optimizer = cls(params, **kwargs)
    train(optimizer, params, grads)
    return optimizer


def _bits(optimizer):
    """Everything load_state_dict could change, arrays as (dtype, bytes, the object)."""
    def leaf(value):
        return (value.dtype, value.tobytes(), id(value)) if isinstance(value, np.ndarray) \
            else (type(value), value)
    groups = [{key: [id(p) for p in value] if key == "params" else leaf(value)
               for key, value in group.items()} for group in optimizer.param_groups]
    state = {id(param): {name: leaf(value) for name, value in values.items()}
             for param, values in optimizer.state.items()}
    return groups, state


def _refused(optimizer, change, message):
    """Load the optimizer's own state dict, changed by ``change`` (and with another lr, so
    a half load would show): ValueError matching ``message``, and nothing changed."""
    saved = optimizer.state_dict()
    saved["param_groups"][0]["lr"] = 0.5
    change(saved)
    before = _bits(optimizer)
    with pytest.raises(ValueError, match=re.escape(message)):
        optimizer.load_state_dict(saved)
    assert _bits(optimizer) == before


def _set(path, value):
    """A change to a state dict: put ``value`` at ``path`` (keys from the top)."""
    return lambda saved: _parent(saved, path).__setitem__(path[-1], value)


def _delete(path):
    return lambda saved: _parent(saved, path).pop(path[-1])


def _parent(tree, path):
    for key in path[:-1]:
        tree = tree[key]
    return tree


ADAM_STATE_CASES = [
    (_delete(["state", 1, "exp_avg"]), "state of parameter 1 has no 'exp_avg'"),
    (_set(["state", 1, "step"], -1), "state 'step' of parameter 1 must be an integer >= 1 "
                                     "(the number of updates), got -1"),
    (_set(["state", 1, "step"], 0), "must be an integer >= 1 (the number of updates), got 0"),
    (_set(["state", 1, "step"], 2.5), "must be an integer >= 1 (the number of updates), got 2.5"),
    (_set(["state", 1, "step"], True), "must be an integer >= 1 (the number of updates), got True"),
    (_set(["state", 1, "step"], "2"), "must be an integer >= 1 (the number of updates), got '2'"),
    (_set(["state", 1, "exp_avg_sq"], np.array([0.1, 0.2, 0.0, 0.3, -1e-3])),
     "state 'exp_avg_sq' of parameter 1 must be >= 0"),
    (_set(["state", 1, "exp_avg"], np.array([0.1, 0.2, np.nan, 0.3, 0.4])),
     "state 'exp_avg' of parameter 1 must be finite"),
    (_set(["state", 1, "exp_avg_sq"], np.array([np.inf, 0.1, 0.2, 0.3, 0.4])),
     "state 'exp_avg_sq' of parameter 1 must be finite"),
    (_set(["state", 1, "exp_avg"], np.arange(5)),
     "state 'exp_avg' of parameter 1: expected floating point numbers, got dtype int64"),
    (_set(["state", 1, "exp_avg"], np.full(5, 0.1, dtype=object)),
     "expected floating point numbers, got dtype object"),
    (_set(["state", 1, "exp_avg"], np.full(5, 1j)),
     "expected floating point numbers, got dtype complex128"),
    (_set(["state", 1, "exp_avg"], np.zeros(3)),
     "state 'exp_avg' of parameter 1: expected shape (5,), got (3,)"),
    (_set(["state", 1, "exp_avg"], None), "expected floating point numbers, got dtype object"),
    (_set(["state", 1, "exp_avg"], "zeros"), "expected floating point numbers, got dtype <U5"),
    (_set(["state", 1, "max_exp_avg_sq"], np.zeros(5)),
     "unexpected state 'max_exp_avg_sq' for parameter 1; "),
    (_set(["state", 1], np.zeros(5)), "the state of parameter 1 must be a dict, got ndarray"),
]


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("change, message", ADAM_STATE_CASES,
                         ids=["no-exp_avg", "step-minus-1", "step-0", "step-2.5", "step-bool",
                              "step-str", "negative-exp_avg_sq", "nan", "inf", "int-dtype",
                              "object", "complex", "shape", "none", "str", "amsgrad",
                              "not-a-dict"])
def test_adam_state_is_checked_at_load(cls, change, message):
    """Each of these used to load and fail later (a KeyError or ZeroDivisionError at step(),
    NaN weights) or load half; now the load refuses and changes nothing."""
    _refused(_trained(cls, dict(lr=0.1)), change, message)


SGD_STATE_CASES = [
    (_set(["state", 1, "momentum_buffer"], np.full(5, 0.1, dtype=object)),
     "state 'momentum_buffer' of parameter 1: expected floating point numbers, got dtype "
     "object"),
    (_set(["state", 1, "momentum_buffer"], np.full(5, np.nan)),
     "state 'momentum_buffer' of parameter 1 must be finite"),
    (_set(["state", 1, "momentum_buffer"], np.ones((5, 1))),
     "state 'momentum_buffer' of parameter 1: expected shape (5,), got (5, 1)"),
    (_set(["state", 1, "exp_avg"], np.zeros(5)),
     "unexpected state 'exp_avg' for parameter 1; SGD keeps momentum_buffer"),
]


@pytest.mark.parametrize("change, message", SGD_STATE_CASES,
                         ids=["object", "nan", "shape", "unknown-name"])
def test_sgd_state_is_checked_at_load(change, message):
    _refused(_trained(SGD, dict(lr=0.1, momentum=0.9)), change, message)


STRUCTURE_CASES = [
    (_set(["param_groups", 0, "lr"], float("inf")), "invalid lr=inf: expected a finite number"),
    (_set(["param_groups", 0, "lr"], np.array([0.1, 0.2])), "lr must be a number, got (0.1, 0.2)"),
    (_set(["param_groups", 0, "weight_decay"], "0"), "weight_decay must be a number, got '0'"),
    (_set(["param_groups", 0, "initial_lr"], -1.0), "invalid initial_lr=-1.0"),
    (_delete(["param_groups", 0, "params"]), "param group 0 of the state dict has no 'params'"),
    (_set(["param_groups", 0], [0, 1]), "param group 0 of the state dict must be a dict, got list"),
    (_set(["param_groups"], {"params": [0, 1]}),
     "'param_groups' must be a list of dicts, got dict"),
    (_set(["state"], [{}, {}]), "'state' must be a dict {parameter index: state}, got list"),
    (_set(["param_groups", 0, "params"], [0.5, 1]),
     "param group 0 of the state dict lists 0.5; parameter indices are integers"),
    (_set(["param_groups", 0, "params"], [1, 1]),
     "the state dict lists parameter 1 twice in its param groups"),
    (_set(["state", "1"], {}), "the state dict has state for parameter '1', which none of its "
                               "param groups lists"),
]


@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=STATEFUL_IDS)
@pytest.mark.parametrize("change, message", STRUCTURE_CASES,
                         ids=["lr-inf", "lr-array", "weight_decay-str", "initial_lr",
                              "no-params", "group-not-dict", "groups-not-list", "state-not-dict",
                              "float-index", "index-twice", "str-index"])
def test_param_groups_and_indices_are_checked_at_load(cls, kwargs, change, message):
    _refused(_trained(cls, kwargs), change, message)


@pytest.mark.parametrize("change, message", [
    (_set(["param_groups", 0, "nesterov"], "yes"), "nesterov must be True or False, got 'yes'"),
    (_set(["param_groups", 0, "dampening"], float("nan")), "invalid dampening=nan"),
], ids=["nesterov-str", "dampening-nan"])
def test_sgd_hyperparameters_are_checked_at_load(change, message):
    _refused(_trained(SGD, dict(lr=0.1, momentum=0.9)), change, message)


@pytest.mark.parametrize("cls, kwargs", STATEFUL, ids=STATEFUL_IDS)
def test_load_state_dict_takes_a_tensor_as_its_array(cls, kwargs):
    """A Tensor where an array belongs is read as its array, as Module.load_state_dict and
    tlcore.save read it (this used to fail with "device 'cuda' needs CuPy")."""
    initial, grads = problem(seed=9, steps=4)
    params = make_params(initial)
    optimizer = cls(params, **kwargs)
    train(optimizer, params, grads[:2])
    saved = optimizer.state_dict()
    as_tensors = {"state": {i: {k: tlcore.tensor(v) for k, v in s.items()}
                            for i, s in saved["state"].items()},
                  "param_groups": saved["param_groups"]}
    resumed_params = make_params([param.numpy() for param in params])
    resumed = cls(resumed_params, **kwargs)
    resumed.load_state_dict(as_tensors)
    assert all(isinstance(value, np.ndarray) or type(value) is int
               for state in resumed.state.values() for value in state.values())
    for a, b in zip(train(optimizer, params, grads[2:]), train(resumed, resumed_params, grads[2:])):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_sgd_momentum_buffer_may_be_none():
    """PyTorch saves momentum_buffer=None for a parameter with no buffer yet."""
    optimizer = _trained(SGD, dict(lr=0.1, momentum=0.9))
    saved = optimizer.state_dict()
    saved["state"][0]["momentum_buffer"] = None
    optimizer.load_state_dict(saved)
    assert optimizer.state[optimizer.param_groups[0]["params"][0]] == {"momentum_buffer": None}


# -- errors ---------------------------------------------------------------------------------

def _param():
    return tlcore.tensor([1.0], requires_grad=True)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: SGD([p], lr=-0.1), ValueError, "invalid lr=-0.1: expected lr >= 0"),
    (lambda p: SGD([p], momentum=-0.5), ValueError, "invalid momentum=-0.5"),
    (lambda p: SGD([p], weight_decay=-1), ValueError, "invalid weight_decay=-1"),
    (lambda p: SGD([p], lr="fast"), ValueError, "lr must be a number, got 'fast'"),
    (lambda p: SGD([p], nesterov=True), ValueError, "nesterov=True needs momentum > 0"),
    (lambda p: SGD([p], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "and dampening = 0"),
    (lambda p: Adam([p], betas=(0.9, 1.0)), ValueError, "invalid betas[1]=1.0: expected "
                                                        "betas[1] < 1"),
    (lambda p: Adam([p], betas=(-0.1, 0.9)), ValueError, "invalid betas[0]=-0.1"),
    (lambda p: Adam([p], betas=0.9), ValueError, "betas must be a pair"),
    (lambda p: AdamW([p], eps=-1e-8), ValueError, "invalid eps=-1e-08"),
    (lambda p: AdamW([p], weight_decay=-0.01), ValueError, "invalid weight_decay=-0.01"),
    (lambda p: Adam([{"params": [p], "lr": -1}]), ValueError, "invalid lr=-1"),
    (lambda p: SGD([]), ValueError, "empty parameter list"),
    (lambda p: SGD(p), TypeError, "got a single Tensor; pass [tensor]"),
    (lambda p: SGD({p}), TypeError, "not a set"),
    (lambda p: SGD([p, np.zeros(2)]), TypeError, "param 1 of param group 0 is a ndarray"),
    (lambda p: SGD([p * 2]), ValueError, "not a leaf tensor"),
    (lambda p: SGD([p, p]), ValueError, "lists the same parameter twice"),
    (lambda p: SGD([{"params": [p]}, {"params": [p]}]), ValueError,
     "appear in more than one parameter group"),
    (lambda p: SGD([{"lr": 0.1}]), ValueError, "needs the key 'params'"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_arguments_are_named(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make(_param())


def test_gradient_of_the_wrong_shape_is_named():
    param = _param()
    optimizer = SGD([param])
    param.grad = np.ones(2, np.float32)
    with pytest.raises(ValueError, match=re.escape("shape (1,) in param group 0 has a .grad "
                                                   "of shape (2,)")):
        optimizer.step()


# -- schedules ------------------------------------------------------------------------------

def _lrs(scheduler, epochs):
    """The learning rates of epochs 0 .. epochs-1 (a step after each)."""
    rates = []
    for _ in range(epochs):
        rates.append(scheduler.get_last_lr())
        scheduler.optimizer.step()
        scheduler.step()
    return rates


def test_step_lr_at_known_epochs():
    optimizer = SGD([_param()], lr=1.0)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    assert optimizer.param_groups[0]["initial_lr"] == 1.0
    assert scheduler.last_epoch == 0
    rates = [r[0] for r in _lrs(scheduler, 7)]
    np.testing.assert_allclose(rates, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125], rtol=1e-15)
    assert scheduler.last_epoch == 7
    assert optimizer.param_groups[0]["lr"] == scheduler.get_last_lr()[0]
    assert optimizer.param_groups[0]["initial_lr"] == 1.0


def test_lambda_lr_one_function_or_one_per_group():
    a, b = _param(), _param()
    optimizer = Adam([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=1.0)
    scheduler = LambdaLR(optimizer, lambda epoch: 0.5 ** epoch)
    np.testing.assert_allclose(_lrs(scheduler, 3), [[0.1, 1.0], [0.05, 0.5], [0.025, 0.25]])

    optimizer = Adam([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=1.0)
    scheduler = LambdaLR(optimizer, [lambda epoch: epoch + 1, lambda epoch: 1 / (epoch + 1)])
    np.testing.assert_allclose(_lrs(scheduler, 3), [[0.1, 1.0], [0.2, 0.5], [0.3, 1 / 3]])
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 1.0]


def test_schedules_match_torch():
    torch = torch_or_skip()
    ours = SGD([_param(), _param()], lr=0.3)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    pairs = [(StepLR(ours, 3, gamma=0.7), torch.optim.lr_scheduler.StepLR(theirs, 3, gamma=0.7))]
    ours, theirs = SGD([_param()], lr=0.3), torch.optim.SGD([torch.zeros(1)], lr=0.3)
    pairs.append((LambdaLR(ours, lambda e: 1 / (1 + e)),
                  torch.optim.lr_scheduler.LambdaLR(theirs, lambda e: 1 / (1 + e))))
    for mine, twin in pairs:
        for _ in range(10):
            np.testing.assert_allclose(mine.get_last_lr(), twin.get_last_lr(), rtol=1e-14)
            assert mine.last_epoch == twin.last_epoch
            mine.optimizer.step()
            twin.optimizer.step()
            mine.step()
            twin.step()


@pytest.mark.parametrize("make", [lambda opt: StepLR(opt, step_size=2, gamma=0.5),
                                  lambda opt: LambdaLR(opt, lambda epoch: 0.9 ** epoch)],
                         ids=["step", "lambda"])
def test_schedule_state_dict_round_trip(make):
    optimizer = SGD([_param()], lr=1.0)
    scheduler = make(optimizer)
    _lrs(scheduler, 3)
    saved = scheduler.state_dict()
    assert _is_storable(saved) and saved["last_epoch"] == 3
    assert "lr_lambdas" not in saved

    resumed_optimizer = SGD([_param()], lr=1.0)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed = make(resumed_optimizer)
    resumed.load_state_dict(saved)
    assert _lrs(resumed, 4) == _lrs(scheduler, 4)


def test_schedule_errors():
    optimizer = SGD([_param()], lr=1.0)
    with pytest.raises(ValueError, match="step_size must be a positive integer, got 0"):
        StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="lr_lambda has 2 functions, the optimizer has 1"):
        LambdaLR(optimizer, [abs, abs])
    with pytest.raises(TypeError, match="lr_lambda must be callable"):
        LambdaLR(optimizer, 0.5)
    with pytest.raises(TypeError, match="must be a tlcore.optim.Optimizer, got list"):
        StepLR([], step_size=1)
    with pytest.raises(KeyError, match="param group 0 has no 'initial_lr'"):
        StepLR(optimizer, step_size=1, last_epoch=4)
    with pytest.raises(KeyError, match=re.escape("missing keys ['gamma']")):
        StepLR(optimizer, step_size=1).load_state_dict(
            {"last_epoch": 1, "base_lrs": [1.0], "_last_lr": [1.0],
             "step_size": 1})


@pytest.mark.parametrize("key, value, message", [
    ("last_epoch", 2.5, "last_epoch must be an integer >= 0, got 2.5"),
    ("last_epoch", -1, "last_epoch must be an integer >= 0, got -1"),
    ("last_epoch", "3", "last_epoch must be an integer >= 0, got '3'"),
    ("base_lrs", ["fast"], "base_lrs[0] must be a number, got 'fast'"),
    ("_last_lr", [-0.5], "invalid _last_lr[0]=-0.5: expected _last_lr[0] >= 0"),
    ("base_lrs", 1.0, "base_lrs must be a list of rates, one per param group, got 1.0"),
    ("step_size", 0, "step_size must be a positive integer, got 0"),
    ("step_size", 2.5, "step_size must be a positive integer, got 2.5"),
    ("gamma", "half", "gamma must be a number, got 'half'"),
    ("gamma", -0.5, "invalid gamma=-0.5: expected gamma >= 0"),
], ids=["epoch-2.5", "epoch-minus-1", "epoch-str", "rate-str", "negative-rate", "rates-not-list",
        "step_size-0", "step_size-2.5", "gamma-str", "gamma-negative"])
def test_schedule_load_state_dict_checks_every_value_first(key, value, message):
    scheduler = StepLR(SGD([_param()], lr=1.0), step_size=2, gamma=0.5)
    _lrs(scheduler, 3)
    saved = scheduler.state_dict()
    saved["last_epoch"] = 7  # valid, but must not be loaded either
    saved[key] = value
    before = dict(scheduler.__dict__)
    with pytest.raises(ValueError, match=re.escape(message)):
        scheduler.load_state_dict(saved)
    assert scheduler.__dict__ == before


def test_step_lr_refuses_a_negative_gamma():
    with pytest.raises(ValueError, match=re.escape("invalid gamma=-0.1: expected gamma >= 0")):
        StepLR(SGD([_param()], lr=1.0), step_size=1, gamma=-0.1)


def test_optimizer_is_the_base_class():
    assert all(issubclass(cls, Optimizer) for cls in (SGD, Adam, AdamW))
    assert "Parameter Group 0" in repr(SGD([_param()], lr=0.1))
