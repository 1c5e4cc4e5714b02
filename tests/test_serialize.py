"""tlcore.save / tlcore.load: bit-exact round trips of model and optimizer state dicts,
atomic writes, and clear refusals of what cannot be saved or read without pickle."""

import json
import math
import os
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tlcore
from tlcore import serialize
from tlcore.serialize import load, save


def assert_same(a, b):
    """a and b are the same tree: same types, keys in the same order, arrays bit for bit."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray) or isinstance(a, np.generic):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


def round_trip(obj, tmp_path):
    path = tmp_path / "state.npz"
    save(obj, path)
    return load(path)


def test_model_state_dict_round_trips_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.normal(size=(6, 8))
    nan_payload = np.array([0x7FF8000000000001, 0xFFF8000000000000], np.uint64).view(np.float64)
    state = {
        "0.weight": rng.normal(size=(4, 3)).astype(np.float32),
        "0.bias": np.array([np.nan, np.inf, -np.inf, -0.0], np.float64),
        "nan_payloads": nan_payload,
        "half": rng.normal(size=5).astype(np.float16),
        "counts": np.arange(6, dtype=np.int8).reshape(2, 3),
        "big_ints": np.array([2**62, -2**62], np.int64),
        "mask": np.array([True, False, True]),
        "scalar_array": np.array(3.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "strided": big[::2, 1::3],
        "transposed": big.T,
        "big_endian": np.arange(3, dtype=">f4"),
        "complex": np.array([1 + 2j, -3j], np.complex64),
        "names": np.array(["conv", "linear"]),
    }
    assert not state["strided"].flags.c_contiguous and not state["transposed"].flags.c_contiguous
    assert_same(round_trip(state, tmp_path), state)


def test_optimizer_state_dict_keeps_int_keys_tuples_and_scalar_types(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": np.ones(2), "exp_avg_sq": np.zeros(2)},
                  1: {"step": np.int64(3), "momentum_buffer": None}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                          "amsgrad": False, "params": [0, 1], "name": "head"},
                         {"lr": 1 / 3, "params": [], "nesterov": True, "scale": np.float32(0.5),
                          "momentum": np.float64(0.9),
                          "flag": np.bool_(True), "tiny": 5e-324, "huge": 2**80,
                          "nan": float("nan"), "minus_zero": -0.0, "inf": float("inf")}],
        "0": "a str key that looks like the int key 0",
    }
    assert_same(round_trip(state, tmp_path), state)


def test_tensors_are_saved_as_their_data(tmp_path):
    weight = tlcore.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    loaded = round_trip({"weight": weight, "step": tlcore.tensor(np.int64(4))}, tmp_path)
    assert isinstance(loaded["weight"], np.ndarray)
    assert_same(loaded["weight"], weight.data)
    assert loaded["step"].dtype == np.int64 and loaded["step"].shape == ()


keys = st.one_of(st.text(max_size=5), st.integers(-5, 5))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
    st.text(max_size=5),
    hnp.arrays(st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.uint8, bool]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),
    hnp.from_dtype(np.dtype(np.float32)).map(np.float32))
trees = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
    st.dictionaries(keys, children, max_size=3)), max_leaves=10)


@given(obj=trees)
def test_any_tree_of_supported_values_round_trips(obj, tmp_path_factory):
    assert_same(round_trip(obj, tmp_path_factory.mktemp("tree")), obj)


def test_save_writes_exactly_the_given_path(tmp_path):
    for path in (tmp_path / "model.pt", str(tmp_path / "checkpoint")):
        save({"w": np.ones(2)}, path)
        assert os.path.exists(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "model.pt"]


def test_saved_file_is_a_plain_npz_with_a_json_structure(tmp_path):
    path = tmp_path / "state.npz"
    save({"w": np.ones(2), "step": 2}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["array_0", "tlcore_structure"]
        header = json.loads(archive["tlcore_structure"].item())
    assert header["tree"] == {"dict": [["w", {"array": "array_0"}], ["step", 2]]}


def test_saved_file_gets_the_permissions_of_an_ordinary_file(tmp_path):
    save({"w": np.ones(2)}, tmp_path / "state.npz")
    (tmp_path / "plain").write_bytes(b"")
    assert os.stat(tmp_path / "state.npz").st_mode == os.stat(tmp_path / "plain").st_mode


# ----------------------------------------------------------------------------- atomic writes

def _previous_file(tmp_path):
    path = tmp_path / "state.npz"
    save({"w": np.arange(3.0)}, path)
    return path, path.read_bytes()


def test_an_unsupported_value_leaves_the_previous_file_intact(tmp_path):
    path, before = _previous_file(tmp_path)
    with pytest.raises(TypeError, match="state/0/exp_avg: object arrays cannot be saved"):
        save({"state": {0: {"exp_avg": np.array([1, "a"], dtype=object)}}}, path)
    with pytest.raises(TypeError, match="layers/1: cannot save a value of type set"):
        save({"layers": [np.ones(1), {1, 2}]}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch, failing):
    path, before = _previous_file(tmp_path)
    temporaries = []

    def fail(*args):
        temporaries.extend(p.name for p in tmp_path.iterdir() if p.name != "state.npz")
        raise OSError("disk full")

    monkeypatch.setattr(serialize.os, failing, fail)
    with pytest.raises(OSError, match="disk full"):
        save({"w": np.ones(1000)}, path)
    monkeypatch.undo()
    assert len(temporaries) == 1 and temporaries[0].startswith(".state.npz.")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]
    assert np.array_equal(load(path)["w"], np.arange(3.0))


@pytest.mark.parametrize("obj, message", [
    ({1.5: np.ones(1)}, "1.5: dict keys must be str or int, got float"),
    ({"a": {True: 1}}, "a/True: dict keys must be str or int, got bool"),
    (object(), "<root>: cannot save a value of type object")])
def test_bad_keys_and_values_are_named(tmp_path, obj, message):
    with pytest.raises(TypeError, match=message):
        save(obj, tmp_path / "state.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_structure_that_contains_itself_is_refused(tmp_path):
    state = {"groups": []}
    state["groups"].append(state)
    with pytest.raises(ValueError, match="groups/0: the structure contains itself"):
        save(state, tmp_path / "state.npz")


def test_saving_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({}, tmp_path / "no" / "state.npz")


# ----------------------------------------------------------------------------- load

def test_a_plain_npz_loads_as_a_flat_dict(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, b=np.ones(2), a=np.arange(3))
    loaded = load(pathlib.Path(path))
    assert list(loaded) == ["b", "a"] and np.array_equal(loaded["a"], np.arange(3))


def test_object_arrays_are_refused_on_load(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, w=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"pickled.npz: cannot read entry 'w'.*never pickled"):
        load(path)


def _archive(path, structure, **arrays):
    np.savez(path, tlcore_structure=structure, **arrays)
    return path


@pytest.mark.parametrize("structure, arrays, message", [
    (np.array("{not json"), {}, "not valid JSON"),
    (np.frombuffer(b"{}", np.uint8), {}, "entry must be text"),
    (np.array('{"format": "other", "tree": 1}'), {}, "not a tlcore.save header"),
    (np.array('{"format": "tlcore.save", "version": 99, "tree": 1}'), {},
     "format version 99"),
    (np.array('{"format": "tlcore.save", "version": 1, "tree": {"array": "array_7"}}'), {},
     "names an array 'array_7' the file lacks"),
    (np.array('{"format": "tlcore.save", "version": 1, "tree": {"dict": [["w", {"x": 1}]]}}'),
     {}, "w: garbled structure entry"),
    (np.array('{"format": "tlcore.save", "version": 1, "tree": {"dict": [[1.5, 2]]}}'), {},
     "garbled dict item"),
    (np.array('{"format": "tlcore.save", "version": 1, "tree": {"scalar": "array_0"}}'),
     {"array_0": np.ones(2)}, "a scalar's array has shape"),
    (np.array('{"format": "tlcore.save", "version": 1, "tree": 1}'),
     {"array_0": np.ones(2)}, r"arrays \['array_0'\] are not in the structure"),
    (np.array([{"tree": 1}], dtype=object), {}, "cannot read entry 'tlcore_structure'")])
def test_a_garbled_structure_entry_is_refused_naming_the_file(tmp_path, structure, arrays,
                                                              message):
    path = _archive(tmp_path / "bad.npz", structure, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not an archive at all", b"PK\x03\x04 truncated"])
def test_a_file_that_is_not_an_npz_is_refused(tmp_path, content):
    path = tmp_path / "state.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="state.npz: not an .npz archive"):
        load(path)


def test_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match="a single .npy array, not an .npz archive"):
        load(path)


def test_loading_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load(tmp_path / "missing.npz")


def test_training_resumed_from_saved_model_and_optimizer_matches_uninterrupted(tmp_path):
    """Save a model and its Adam state mid-training, load both into fresh objects, and
    continue: the weights end bit-for-bit where uninterrupted training ends."""
    from tlcore import nn, ops, optim

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)

    def make():
        tlcore.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))
        return model, optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)

    def train(model, optimizer, steps):
        for _ in range(steps):
            loss = ops.cross_entropy(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    model, optimizer = make()
    train(model, optimizer, 6)
    expected = model.state_dict()

    model, optimizer = make()
    train(model, optimizer, 3)
    save(model.state_dict(), tmp_path / "model.npz")
    save(optimizer.state_dict(), tmp_path / "optimizer.npz")
    model, optimizer = make()
    model.load_state_dict(load(tmp_path / "model.npz"))
    optimizer.load_state_dict(load(tmp_path / "optimizer.npz"))
    train(model, optimizer, 3)
    assert_same(model.state_dict(), expected)
