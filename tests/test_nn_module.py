"""nn.Module and its containers and initialisers: registration by attribute assignment,
the walks over parameters, buffers and children, modes, freezing, dtype casts,
state_dict / load_state_dict, Sequential / ModuleList / ModuleDict, and nn.init
(PyTorch's default bounds and gains). PyTorch's semantics are the spec, except that
state_dict() returns copies."""

import math
import re
from collections import OrderedDict

import numpy as np
import pytest
from strategies import torch_or_skip

import tlcore
from tlcore import nn
from tlcore.nn import init


class TwoLayer(nn.Module):
    """A small model with a parameter, two child modules and a plain setting."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.first = nn.Linear(2, 3)
        self.hidden_size = 3  # a plain value: not a parameter, not a child
        self.second = nn.Linear(3, 1)

    def forward(self, x):
        return self.second(self.first(x) * self.scale)


def _names(pairs):
    return [name for name, _ in pairs]


def _model():
    tlcore.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def _x(rows=5, features=3, seed=0):
    return tlcore.tensor(np.random.default_rng(seed).standard_normal((rows, features))
                         .astype(np.float32))


# -- registration ------------------------------------------------------------------------


def test_assignment_registers_parameters_children_and_plain_values():
    model = TwoLayer()
    assert _names(model.named_parameters(recurse=False)) == ["scale"]
    assert _names(model.named_children()) == ["first", "second"]
    assert model.hidden_size == 3
    assert "hidden_size" not in _names(model.named_parameters()) + _names(model.named_buffers())
    assert model.first is list(model.children())[0]
    assert isinstance(model.scale, nn.Parameter) and model.scale.requires_grad


def test_reassigning_a_parameter_or_child_replaces_it_in_place():
    model = TwoLayer()
    new_scale = nn.Parameter(np.zeros(3, np.float32))
    new_first = nn.Linear(2, 3)
    model.scale = new_scale
    model.first = new_first
    assert model.scale is new_scale and model.first is new_first
    assert _names(model.named_parameters()) == [
        "scale", "first.weight", "first.bias", "second.weight", "second.bias"]
    assert list(model.parameters())[0] is new_scale


def test_assigning_a_plain_value_over_a_parameter_unregisters_it():
    model = TwoLayer()
    model.scale = None
    assert model.scale is None
    assert "scale" not in _names(model.named_parameters())


def test_assigning_a_plain_tensor_to_a_parameter_name_is_an_error():
    """PyTorch: "cannot assign 'torch.FloatTensor' as parameter 'weight' (torch.nn.Parameter
    or None expected)". A silent swap would stop training the layer's weight."""
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        layer.weight = tlcore.tensor(np.ones((2, 2), np.float32))
    assert "weight" in _names(layer.named_parameters())


def test_assigning_an_array_to_a_buffer_name_keeps_it_a_buffer():
    """PyTorch keeps an assigned tensor in the buffer it replaces (so it stays in the
    state dict and moves with to())."""
    norm = nn.BatchNorm1d(3)
    norm.running_mean = np.full(3, 2.0, np.float32)
    assert _names(norm.named_buffers()) == ["running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(norm.state_dict()["running_mean"], [2, 2, 2])


def test_del_removes_parameters_children_and_plain_values():
    model = TwoLayer()
    del model.scale
    del model.first
    del model.hidden_size
    assert _names(model.named_parameters()) == ["second.weight", "second.bias"]
    for name in ("scale", "first", "hidden_size"):
        with pytest.raises(AttributeError, match=f"'TwoLayer' object has no attribute '{name}'"):
            getattr(model, name)


def test_register_parameter_and_add_module_check_their_types():
    model = nn.Module()
    model.register_parameter("absent", None)
    assert list(model.parameters()) == []
    with pytest.raises(TypeError, match="w must be a Parameter or None, got Tensor"):
        model.register_parameter("w", tlcore.tensor([1.0]))
    with pytest.raises(TypeError, match="child must be a Module, got int"):
        model.add_module("child", 3)


def test_forgetting_super_init_gives_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=re.escape(
            "Forgetful.__init__ must call super().__init__() before assigning 'layer'")):
        Forgetful()


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(tlcore.tensor([1.0]))


# -- walking the tree --------------------------------------------------------------------


def test_named_parameters_in_definition_order_with_dotted_names():
    model = nn.Sequential(TwoLayer(), nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2)))
    assert _names(model.named_parameters()) == [
        "0.scale", "0.first.weight", "0.first.bias", "0.second.weight", "0.second.bias",
        "1.0.weight", "1.0.bias", "1.2.weight", "1.2.bias"]
    assert _names(model.named_parameters(recurse=False)) == []
    assert [p.shape for p in model.parameters()][:3] == [(3,), (3, 2), (3,)]


def test_named_parameters_match_pytorch_names():
    torch = torch_or_skip()
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    assert _names(ours.named_buffers()) == _names(theirs.named_buffers())


def test_a_shared_parameter_or_module_is_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert _names(model.named_parameters()) == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3  # the Sequential, the Linear, the ReLU
    other = nn.Linear(2, 2)
    other.weight = shared.weight  # tied weights
    tied = nn.Sequential(shared, other)
    assert _names(tied.named_parameters()) == ["0.weight", "0.bias", "1.bias"]


def test_buffers_are_state_but_not_parameters():
    model = nn.Module()
    model.register_buffer("counts", np.zeros(3))
    model.register_buffer("absent", None)
    model.weight = nn.Parameter(np.ones(2))
    assert _names(model.named_buffers()) == ["counts"]
    assert _names(model.named_parameters()) == ["weight"]
    assert list(model.state_dict()) == ["weight", "counts"]
    np.testing.assert_array_equal(model.counts, np.zeros(3))


def test_children_are_direct_and_modules_are_preorder():
    inner = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    model = nn.Sequential(inner, nn.ReLU())
    assert [type(m).__name__ for m in model.children()] == ["Sequential", "ReLU"]
    assert _names(model.named_modules()) == ["", "0", "0.0", "0.1", "1"]
    assert [type(m).__name__ for m in model.modules()] == [
        "Sequential", "Sequential", "Linear", "Tanh", "ReLU"]


def test_apply_visits_children_first_then_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    visited = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "ReLU", "Sequential", "Sequential"]


# -- modes, freezing, zero_grad, dtypes --------------------------------------------------


def test_train_and_eval_switch_every_descendant():
    model = nn.Sequential(nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_requires_grad_false_freezes_every_parameter():
    model = _model()
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    x = _x()
    x.requires_grad_()
    model(x).sum().backward()
    assert x.grad is not None
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_()
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_freezing_part_of_a_model_trains_only_the_rest():
    model = _model()
    model[0].requires_grad_(False)
    model(_x()).sum().backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[3].weight.grad is not None


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    model = _model()
    model(_x()).sum().backward()
    model.zero_grad(set_to_none=set_to_none)
    for param in model.parameters():
        if set_to_none:
            assert param.grad is None
        else:
            np.testing.assert_array_equal(param.grad, np.zeros(param.shape))


def test_to_float64_double_and_float_cast_parameters_buffers_and_grads():
    model = _model()
    model(_x()).sum().backward()
    assert model.to(np.float64) is model
    for array in [p.data for p in model.parameters()] + list(model.buffers()):
        assert array.dtype == (np.float64 if array.dtype.kind == "f" else np.int64)
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    x64 = tlcore.tensor(_x().numpy(), dtype=np.float64)
    assert model(x64).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert [b.dtype for b in model.buffers()] == [np.float32, np.float32, np.int64]  # a count
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.to("cpu") is model


@pytest.mark.parametrize("bad, message", [
    (np.int32, "to() casts to a floating dtype only, got int32"),
    ("gpu", "to() takes a device ('cpu', 'cuda') or a floating dtype, got 'gpu'"),
])
def test_to_refuses_what_is_neither_a_device_nor_a_float_dtype(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        nn.Linear(2, 2).to(bad)


def test_repr_of_a_small_sequential():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.25)),
                          nn.Linear(3, 1, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.25)\n"
        "  )\n"
        "  (3): Linear(in_features=3, out_features=1, bias=False)\n"
        ")")


def test_repr_matches_pytorch_for_linear_and_relu():
    torch = torch_or_skip()
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
                                 torch.nn.Linear(3, 1, bias=False))
    assert repr(ours) == repr(theirs)


# -- state_dict --------------------------------------------------------------------------


def test_state_dict_keys_and_order_include_buffers():
    model = _model()
    assert list(model.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "3.weight", "3.bias"]
    assert all(isinstance(v, np.ndarray) for v in model.state_dict().values())


def test_state_dict_lists_a_shared_module_under_every_name():
    """PyTorch's state_dict walks every path, so a module used twice appears twice
    (its named_parameters lists it once)."""
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_state_dict_values_are_copies_that_training_does_not_change():
    model = _model()
    snapshot = model.state_dict()
    kept = {key: value.copy() for key, value in snapshot.items()}
    model(_x()).sum().backward()  # training mode: batch norm moves its running statistics
    with tlcore.no_grad():
        for param in model.parameters():
            param.sub_(param.grad, alpha=0.1)
    for key, value in snapshot.items():
        np.testing.assert_array_equal(value, kept[key], err_msg=key)
    assert not np.array_equal(model.state_dict()["1.running_mean"], kept["1.running_mean"])
    assert not np.array_equal(model.state_dict()["0.weight"], kept["0.weight"])


def test_load_state_dict_round_trip_restores_outputs_exactly():
    source = _model()
    source(_x(seed=1))  # move the running statistics away from their start
    source.eval()
    tlcore.manual_seed(123)
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).eval()
    x = _x(seed=2)
    assert not np.array_equal(target(x).numpy(), source(x).numpy())
    result = target.load_state_dict(source.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value, err_msg=key)


def test_load_state_dict_strict_lists_every_problem_and_changes_nothing():
    model = _model()
    before = model.state_dict()
    state = model.state_dict()
    del state["3.bias"], state["1.running_var"]
    state["extra.weight"] = np.zeros(2)
    state["0.weight"] = np.zeros((2, 2))
    state["0.bias"] = np.full(4, 7.0)  # valid, but must not be loaded either
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "missing keys: 1.running_var, 3.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "bad values: 0.weight: expected shape (4, 3), got (2, 2)" in message
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_not_strict_loads_what_matches_and_reports_the_rest():
    source, target = _model(), _model()
    with tlcore.no_grad():
        source[0].weight.fill_(3.0)
    state = source.state_dict()
    del state["3.bias"]
    state["head.weight"] = np.zeros(2)
    missing, unexpected = target.load_state_dict(state, strict=False)
    assert missing == ["3.bias"] and unexpected == ["head.weight"]
    np.testing.assert_array_equal(target[0].weight.numpy(), np.full((4, 3), 3.0))


def test_load_state_dict_wrong_shape_is_an_error_even_when_not_strict():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=re.escape("weight: expected shape (2, 3), got (3, 2)")):
        model.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}, strict=False)


@pytest.mark.parametrize("as_tensor", [False, True], ids=["arrays", "tensors"])
def test_load_state_dict_casts_another_float_dtype(as_tensor):
    model = _model()  # float32
    rng = np.random.default_rng(0)
    state = {key: rng.standard_normal(value.shape) if value.dtype.kind == "f" else value + 5
             for key, value in model.state_dict().items()}
    given = {key: tlcore.tensor(value) if as_tensor else value for key, value in state.items()}
    model.load_state_dict(given)
    for key, value in model.state_dict().items():
        expected = state[key].astype(np.float32 if value.dtype.kind == "f" else np.int64)
        assert value.dtype == expected.dtype, key
        np.testing.assert_array_equal(value, expected, err_msg=key)
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_load_state_dict_into_parameters_that_require_grad_with_grad_enabled():
    model = nn.Linear(2, 2)
    assert tlcore.is_grad_enabled() and model.weight.requires_grad
    model.load_state_dict({"weight": np.eye(2), "bias": np.zeros(2)})
    np.testing.assert_array_equal(model.weight.numpy(), np.eye(2))
    model(tlcore.tensor([[1.0, 2.0]])).sum().backward()
    np.testing.assert_array_equal(model.weight.grad, [[1, 2], [1, 2]])


def test_load_state_dict_moves_the_version_counter_of_loaded_parameters():
    """A graph built before the load saw the old weights: its backward must refuse."""
    model = nn.Linear(2, 2)
    out = model(tlcore.tensor([[1.0, 2.0]]))
    model.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match="modified in place"):
        out.sum().backward()


def test_a_loaded_buffer_keeps_its_array_and_dtype():
    norm = nn.BatchNorm1d(2)
    running_mean = norm.running_mean
    norm.load_state_dict({"weight": [1, 1], "bias": [0, 0], "running_mean": [0.5, 1.5],
                          "running_var": np.array([2.0, 3.0]), "num_batches_tracked": 7})
    assert norm.running_mean is running_mean and running_mean.dtype == np.float32
    np.testing.assert_array_equal(norm.running_mean, [0.5, 1.5])
    np.testing.assert_array_equal(norm.running_var, [2.0, 3.0])


def _bits(model):
    """Everything load_state_dict could change: each array's dtype and bytes (NaN equal to
    NaN), the array object itself, and each parameter's version counter."""
    arrays = {key: (value.dtype, value.tobytes(), id(value))
              for key, value in zip(model.state_dict(), _state_arrays(model))}
    return arrays, [param._version[0] for param in model.parameters()]


def _state_arrays(model):
    for _, module in model.named_modules(remove_duplicate=False):
        for registry in (module._parameters, module._buffers):
            for value in registry.values():
                if value is not None:
                    yield value.data if isinstance(value, nn.Parameter) else value


@pytest.mark.parametrize("key, bad, message", [
    ("3.bias", np.array(["a", "b"]), "3.bias: expected real numbers, got dtype <U1"),
    ("0.weight", np.full((4, 3), None), "0.weight: expected real numbers, got dtype object"),
    ("0.weight", np.ones((4, 3)).astype(object), "got dtype object"),
    ("3.bias", np.array([1 + 2j, 3j]), "3.bias: expected real numbers, got dtype complex128"),
    ("3.bias", None, "3.bias: expected real numbers, got dtype object"),
    ("3.bias", [[1.0], [1.0, 2.0]], "3.bias: cannot be read as an array"),
    ("0.weight", np.ones((4, 3), bool), "0.weight: bool values for dtype float32"),
    ("1.num_batches_tracked", np.float64(2.5), "1.num_batches_tracked: float64 values for "
                                               "dtype int64"),
    ("1.num_batches_tracked", np.uint64(2**63), "1.num_batches_tracked: values outside the "
                                                "range of int64"),
    ("3.bias", np.full(2, 1e300), "3.bias: values too large for float32"),
], ids=["str-last-key", "object-none", "object-numbers", "complex", "none", "ragged", "bool",
        "float-into-int", "int-overflow", "float-overflow"])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "not-strict"])
def test_load_state_dict_checks_every_value_before_changing_any(key, bad, message, strict):
    """A value that cannot be loaded is refused, naming its key, before any other key is
    loaded: every other value here is valid and different, and none of them lands."""
    model = _model()
    before = _bits(model)
    state = {name: value + 1 for name, value in model.state_dict().items()}
    state[key] = bad
    with pytest.raises(ValueError, match=re.escape(message)):
        model.load_state_dict(state, strict=strict)
    assert _bits(model) == before


def test_load_state_dict_lists_every_bad_value():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError) as error:
        model.load_state_dict({"weight": np.full((2, 2), None), "bias": np.array([1j, 2j])})
    assert str(error.value).endswith("bad values: weight: expected real numbers, got dtype "
                                     "object; bias: expected real numbers, got dtype complex128")


def test_load_state_dict_accepts_nan_and_inf_as_pytorch_does():
    """A diverged checkpoint still loads (to be inspected); only conversion errors count."""
    model = nn.Linear(2, 2)
    weight = np.array([[np.nan, np.inf], [-np.inf, 1.0]])
    model.load_state_dict({"weight": weight, "bias": np.zeros(2)})
    np.testing.assert_array_equal(model.weight.numpy(), weight.astype(np.float32))


def test_load_state_dict_needs_a_mapping():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="state_dict must be a mapping .*, got list"):
        model.load_state_dict([("weight", np.eye(2)), ("bias", np.zeros(2))])


# -- containers --------------------------------------------------------------------------


def test_sequential_applies_layers_in_order():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = _x()
    expected = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())
    assert len(model) == 3
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert nn.Sequential()(x) is x


def test_sequential_indexing_negative_and_out_of_range():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Tanh()]
    model = nn.Sequential(*layers)
    assert model[0] is layers[0] and model[-1] is layers[2] and model[-3] is layers[0]
    for bad in (3, -4):
        with pytest.raises(IndexError, match=f"Sequential index {bad} is out of range for 3"):
            model[bad]


def test_sequential_slice_shares_layers_and_keeps_names():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    body = model[:2]
    assert isinstance(body, nn.Sequential) and len(body) == 2
    assert body[0] is model[0]
    assert list(body.parameters())[0] is model[0].weight
    tail = model[1:]
    assert _names(tail.named_parameters()) == ["2.weight", "2.bias"]
    with tlcore.no_grad():
        body[0].weight.fill_(0.5)  # a change through the slice is a change of the model
    np.testing.assert_array_equal(model[0].weight.numpy(), np.full((4, 3), 0.5))


def test_sequential_append_and_ordered_dict_names():
    model = nn.Sequential(OrderedDict([("features", nn.Linear(3, 4)), ("act", nn.ReLU())]))
    assert model.append(nn.Linear(4, 2)) is model
    assert _names(model.named_parameters()) == [
        "features.weight", "features.bias", "2.weight", "2.bias"]
    assert model.features is model[0]
    assert model(_x()).shape == (5, 2)


def test_sequential_item_assignment_replaces_a_layer():
    """Fine-tuning replaces a pre-trained head: PyTorch's model[-1] = nn.Linear(...)."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    head = nn.Linear(4, 5)
    model[-1] = head
    assert model[2] is head and model(_x()).shape == (5, 5)
    assert _names(model.named_parameters())[-2:] == ["2.weight", "2.bias"]


def test_module_list_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)])
    layers.append(nn.Linear(1, 1))
    assert len(layers) == 3 and layers[-1] is list(layers)[2]
    assert _names(layers.named_parameters()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    assert isinstance(layers[1:], nn.ModuleList) and layers[1:][0] is layers[1]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = layers

    assert len(list(Holder().parameters())) == 6
    with pytest.raises(IndexError, match="ModuleList index 3 is out of range for 3 modules"):
        layers[3]


def test_module_dict_registers_its_modules_in_insertion_order():
    heads = nn.ModuleDict({"digits": nn.Linear(4, 10), "domain": nn.Linear(4, 2)})
    heads["extra"] = nn.Linear(4, 1)
    assert list(heads) == list(heads.keys()) == ["digits", "domain", "extra"]
    assert "domain" in heads and "other" not in heads and len(heads) == 3
    assert heads["domain"] is dict(heads.items())["domain"]
    assert _names(heads.named_parameters())[:2] == ["digits.weight", "digits.bias"]
    assert len(list(heads.values())) == 3


@pytest.mark.parametrize("bad", ["", "a.b", 3])
def test_module_dict_refuses_a_bad_key(bad):
    with pytest.raises(ValueError, match="a ModuleDict key must be a non-empty str without '.'"):
        nn.ModuleDict({bad: nn.ReLU()})


# -- init --------------------------------------------------------------------------------


def _conv(*args, **kwargs):
    return nn.Conv2d(*args, **kwargs)


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(7, 5), 7),
    (lambda: nn.Linear(1, 3), 1),
    (lambda: _conv(3, 4, 3), 27),
    (lambda: _conv(4, 6, (2, 3), groups=2), 12),
])
def test_default_weight_and_bias_lie_within_one_over_sqrt_fan_in(make, fan_in):
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(layer.weight.numpy()).max() <= bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert layer.weight.dtype == layer.bias.dtype == np.float32


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(400, 300), 400),
    (lambda: _conv(16, 64, 5), 400),
])
def test_default_weight_is_uniform_with_pytorch_spread(make, fan_in):
    """U(-b, b) with b = 1/sqrt(fan_in) has std b/sqrt(3) and fills the interval."""
    weight = make().weight.numpy()
    bound = 1 / math.sqrt(fan_in)
    assert abs(weight.std() / (bound / math.sqrt(3)) - 1) < 0.02
    assert abs(weight.mean()) < 0.01 * bound
    assert np.abs(weight).max() > 0.99 * bound


def test_default_init_is_deterministic_under_manual_seed():
    tlcore.manual_seed(7)
    a = nn.Sequential(nn.Linear(3, 4), _conv(2, 3, 3), nn.Embedding(5, 2))
    tlcore.manual_seed(7)
    b = nn.Sequential(nn.Linear(3, 4), _conv(2, 3, 3), nn.Embedding(5, 2))
    c = nn.Sequential(nn.Linear(3, 4), _conv(2, 3, 3), nn.Embedding(5, 2))
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
        assert not np.array_equal(pa.numpy(), pc.numpy()), name


def test_linear_without_bias_and_float64():
    layer = nn.Linear(3, 2, bias=False, dtype=np.float64)
    assert layer.bias is None and _names(layer.named_parameters()) == ["weight"]
    assert layer.weight.dtype == np.float64


@pytest.mark.parametrize("mode, nonlinearity, a, fan", [
    ("fan_in", "relu", 0.0, 300), ("fan_out", "relu", 0.0, 200),
    ("fan_in", "leaky_relu", 0.2, 300), ("fan_in", "tanh", 0.0, 300)])
def test_kaiming_uniform_and_normal(mode, nonlinearity, a, fan):
    weight = nn.Parameter(np.empty((200, 300), np.float64))
    gain = init.calculate_gain(nonlinearity, a)
    init.kaiming_uniform_(weight, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = gain * math.sqrt(3.0 / fan)
    assert np.abs(weight.numpy()).max() <= bound
    assert np.abs(weight.numpy()).max() > 0.99 * bound
    init.kaiming_normal_(weight, a=a, mode=mode, nonlinearity=nonlinearity)
    assert abs(weight.numpy().std() / (gain / math.sqrt(fan)) - 1) < 0.02


def test_xavier_uniform_and_normal():
    weight = nn.Parameter(np.empty((100, 50, 2, 2), np.float32))
    fan_in, fan_out = 200, 400
    init.xavier_uniform_(weight, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert bound * 0.99 < np.abs(weight.numpy()).max() <= bound
    init.xavier_normal_(weight)
    assert abs(weight.numpy().std() / math.sqrt(2.0 / (fan_in + fan_out)) - 1) < 0.02


def test_constant_zeros_ones_uniform_normal_fill_in_place():
    weight = nn.Parameter(np.empty((300, 200), np.float32))
    data = weight.data
    init.constant_(weight, 0.25)
    np.testing.assert_array_equal(weight.numpy(), 0.25)
    init.zeros_(weight)
    assert not weight.numpy().any()
    init.ones_(weight)
    assert (weight.numpy() == 1).all()
    init.uniform_(weight, -2.0, 3.0)
    assert -2.0 <= weight.numpy().min() and weight.numpy().max() < 3.0
    init.normal_(weight, 1.0, 0.5)
    assert abs(weight.numpy().mean() - 1) < 0.01 and abs(weight.numpy().std() - 0.5) < 0.01
    assert weight.data is data and weight.dtype == np.float32 and weight.requires_grad


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5))])
def test_calculate_gain_matches_pytorch(nonlinearity, param):
    torch = torch_or_skip()
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_init_errors_name_the_argument():
    with pytest.raises(ValueError, match="nonlinearity must be one of .* got 'softplus'"):
        init.calculate_gain("softplus")
    with pytest.raises(ValueError, match=re.escape("at least 2 dimensions, got shape (5,)")):
        init.xavier_uniform_(nn.Parameter(np.empty(5)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(nn.Parameter(np.empty((2, 2))), mode="fan_avg")


@pytest.mark.parametrize("make, name", [
    (lambda: nn.Linear(0, 2), "in_features"), (lambda: nn.Linear(2, 1.5), "out_features"),
    (lambda: _conv(3, 4, 3, groups=2), "divisible by groups"),
    (lambda: nn.Embedding(True, 2), "num_embeddings"),
    (lambda: nn.Embedding(3, 2, padding_idx=3), "padding_idx must be in"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), "momentum must be in"),
    (lambda: nn.Dropout(-0.1), "dropout probability p must be in"),
])
def test_layer_constructors_name_a_bad_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_conv_kernel_size_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        _conv(2, 2, (1, 2, 3))
