"""tlcore.save / tlcore.load: bit-exact round trips of model and optimizer state dicts,
atomic writes, and clear refusals of what cannot be saved or read without pickle."""

import io
import json
import math
import multiprocessing
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

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


def _unnamed_files_work(directory):
    """Whether this system and this file system have O_TMPFILE."""
    try:
        os.close(os.open(directory, os.O_TMPFILE | os.O_WRONLY))
    except (AttributeError, OSError):
        return False
    return True


# The tests' files live under the temporary directory, so its file system decides.
NEEDS_UNNAMED_FILES = pytest.mark.skipif(
    not _unnamed_files_work(tempfile.gettempdir()),
    reason="this system or its temporary file system has no O_TMPFILE (Linux 3.11+ on "
           "ext4, xfs, btrfs or tmpfs): the named fallback is tested instead")


@pytest.fixture(params=[pytest.param("unnamed", marks=NEEDS_UNNAMED_FILES), "named"])
def route(request, tmp_path, monkeypatch):
    """Each way atomic_write writes: an unnamed file (Linux's O_TMPFILE), or the fallback,
    a named temporary file."""
    if request.param == "named":
        monkeypatch.setattr(serialize, "_open_unnamed", lambda directory: None)
    return request.param


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch, route,
                                                             failing):
    path, before = _previous_file(tmp_path)
    temporaries = []

    def fail(*args):
        temporaries.extend(p.name for p in tmp_path.iterdir() if p.name != "state.npz")
        raise OSError("disk full")

    monkeypatch.setattr(serialize.os, failing, fail)
    with pytest.raises(OSError, match="disk full"):
        save({"w": np.ones(1000)}, path)
    monkeypatch.undo()
    # An unnamed file gets its name only after the fsync, just before the replace.
    named_by_then = route == "named" or failing == "replace"
    assert len(temporaries) == named_by_then
    assert all(name.startswith(f".state.npz.{os.getpid()}.") for name in temporaries)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]
    assert np.array_equal(load(path)["w"], np.arange(3.0))


@NEEDS_UNNAMED_FILES
def test_on_linux_the_file_being_written_has_no_name(tmp_path):
    seen = []
    serialize.atomic_write(tmp_path / "notes.txt", lambda file: seen.extend(tmp_path.iterdir()))
    assert seen == [] and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_save_removes_temporary_files_that_killed_writers_left(tmp_path, route):
    stale = f".state.npz.{_dead_pid()}.0123abcd.tmp"
    kept = [f".state.npz.{os.getpid()}.0123abcd.tmp",  # this process's: another thread's save
            f".other.npz.{_dead_pid()}.0123abcd.tmp",  # another target's
            ".state.npz.tmp", "notes.txt"]
    for name in [stale, *kept]:
        (tmp_path / name).write_bytes(b"PK partial")
    save({"w": np.ones(2)}, tmp_path / "state.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["state.npz"])


def _content(value):
    return {"w": np.full(2**21, float(value))}  # 16 MiB


def _save_until_killed(path, unnamed):
    if not unnamed:
        serialize._open_unnamed = lambda directory: None  # in this forked child only
    old, new = _content(0), _content(1)
    while True:
        save(new, path)
        save(old, path)


def _kill_saves(tmp_path, kills, unnamed):
    """SIGKILL a child that saves 16 MiB arrays at random moments; check the target after
    each kill; return the names each kill left next to it."""
    path, old = tmp_path / "state.npz", _content(0)
    save(old, path)
    rng, left = random.Random(0), []
    for _ in range(kills):
        child = multiprocessing.get_context("fork").Process(target=_save_until_killed,
                                                             args=(path, unnamed))
        child.start()
        time.sleep(rng.uniform(0.01, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        loaded = load(path)["w"]
        assert loaded.shape == (2**21,) and (loaded.all() or not loaded.any())
        left.append(sorted(p.name for p in tmp_path.iterdir() if p.name != "state.npz"))
        for name in left[-1]:
            if unnamed:  # only a kill between link and replace names the file, once complete
                assert len(left[-1]) == 1 and load(tmp_path / name)["w"].shape == (2**21,)
            assert name.startswith(".state.npz.") and name.endswith(".tmp")
        save(old, path)
        assert [p.name for p in tmp_path.iterdir()] == ["state.npz"]
    return left


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the saving child")
@NEEDS_UNNAMED_FILES
def test_a_writer_killed_mid_save_leaves_the_target_intact_and_no_temporary_file(tmp_path):
    left = _kill_saves(tmp_path, 20, unnamed=True)
    assert sum(map(len, left)) <= 1, left  # the link-to-replace window is microseconds


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the saving child")
def test_without_unnamed_files_the_next_save_removes_what_killed_writers_left(tmp_path):
    _kill_saves(tmp_path, 10, unnamed=False)


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

def test_a_plain_npz_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, b=np.ones(2), a=np.arange(3))
    with pytest.raises(ValueError, match="plain.npz: no tlcore_structure entry.*np.load"):
        load(pathlib.Path(path))


def test_object_arrays_are_refused_on_load(tmp_path):
    path = _archive(tmp_path / "pickled.npz", _v1({"array": "w"}),
                    w=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"pickled.npz: cannot read entry 'w': it holds "
                                         r"pickled objects.*never unpickles"):
        load(path)


def _archive(path, structure, **arrays):
    np.savez(path, tlcore_structure=structure, **arrays)
    return path


def _v1(tree):
    """The structure entry of format version 1: no table of arrays, no checksums."""
    return np.array(json.dumps({"format": "tlcore.save", "version": 1, "tree": tree}))


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


# ----------------------------------------------------------------------------- damaged files

SMALL_STATE = {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "0.bias": np.ones(2),
               "optimizer": {"state": {0: {"step": 3, "exp_avg": np.full(3, 0.5)}},
                             "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999)}]}}


def _refused(path, message=""):
    """load(path) raises ValueError itself (no subclass, nothing else), naming the file."""
    with pytest.raises(Exception) as info:
        load(path)
    assert type(info.value) is ValueError, repr(info.value)
    assert str(path) in str(info.value) and message in str(info.value), str(info.value)


def test_bit_flips_load_the_original_or_are_refused_naming_the_file(tmp_path):
    """Half the flips land anywhere, half in the ZIP's table of members and end record,
    where zipfile used to raise its own errors or lose members silently."""
    path = tmp_path / "state.npz"
    save(SMALL_STATE, path)
    good = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        table = archive.start_dir
    rng = random.Random(0)
    bits = ([rng.randrange(len(good) * 8) for _ in range(150)]
            + [rng.randrange(table * 8, len(good) * 8) for _ in range(150)])
    loaded_equal = 0
    for bit in bits:
        damaged = bytearray(good)
        damaged[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(damaged)
        try:
            loaded = load(path)
        except ValueError as exc:
            assert type(exc) is ValueError and str(path) in str(exc), (bit, repr(exc))
            continue
        except Exception as exc:
            raise AssertionError(f"bit {bit}: {exc!r}") from exc
        assert_same(loaded, SMALL_STATE)  # the flip hit bytes load does not use
        loaded_equal += 1
    assert loaded_equal < len(bits) / 3  # most flips hit bytes that matter, and are caught


def _flip_table_entry(path, offset, change):
    """Change the byte at ``offset`` in the first entry of the ZIP's table of members."""
    with zipfile.ZipFile(path) as archive:
        at = archive.start_dir + offset
    content = bytearray(path.read_bytes())
    content[at] = change(content[at])
    path.write_bytes(content)


@pytest.mark.parametrize("offset, change, message", [
    (10, lambda byte: 99, "is compressed"),  # compression method: a raw NotImplementedError
    (6, lambda byte: 0xFF, "zip file version"),  # version needed: NotImplementedError
    (8, lambda byte: byte | 0x40, "strong encryption"),  # NotImplementedError
    (8, lambda byte: byte | 0x01, "is encrypted"),  # RuntimeError, asking for a password
    (33, lambda byte: byte | 0x80, "no tlcore_structure entry"),  # comment length: the
    # comment swallowed the members after it, and the rest loaded as a flat dict
])
def test_a_damaged_table_of_members_is_refused_naming_the_file(tmp_path, offset, change,
                                                               message):
    path = tmp_path / "state.npz"
    save(SMALL_STATE, path)
    _flip_table_entry(path, offset, change)
    _refused(path, message)


@pytest.mark.parametrize("before, after", [(b"", b"junk"), (b"junk", b"")])
def test_bytes_around_the_archive_are_refused(tmp_path, before, after):
    path = tmp_path / "state.npz"
    save(SMALL_STATE, path)
    path.write_bytes(before + path.read_bytes() + after)
    _refused(path, "tlcore.load reads only what tlcore.save writes")


def _add_member(path, name, content):
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name
        archive.writestr(name, content)


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = _archive(tmp_path / "state.npz", _v1({"array": "blob"}))
    _add_member(path, "blob", b"raw bytes")  # loaded as b"raw bytes"
    _refused(path, "member 'blob' is not an .npy file")


def test_a_raw_member_named_like_the_structure_is_refused(tmp_path):
    path = tmp_path / "state.npz"
    with zipfile.ZipFile(path, "w") as archive:  # loading raised AttributeError
        archive.writestr("tlcore_structure", json.dumps({"format": "tlcore.save"}))
    _refused(path, "member 'tlcore_structure' is not an .npy file")


def test_a_duplicated_member_is_refused(tmp_path):
    path = tmp_path / "state.npz"
    save({"w": np.zeros(3)}, path)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ones(3))
    _add_member(path, "array_0.npy", buffer.getvalue())  # the last one loaded
    _refused(path, "member 'array_0.npy' appears 2 times")


def test_a_compressed_member_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, tlcore_structure=_v1({"array": "array_0"}),
                        array_0=np.zeros(2**21))  # 16 MiB, in a file of 16 KiB
    assert path.stat().st_size < 2**15
    _refused(path, "is compressed; tlcore.load reads only what tlcore.save writes")


def test_max_bytes_is_checked_against_the_declared_sizes_before_reading(tmp_path,
                                                                        monkeypatch):
    path = tmp_path / "state.npz"
    save({"w": np.zeros(1000)}, path)  # 8000 bytes of data
    assert serialize.MAX_BYTES == 4 * 2**30
    with monkeypatch.context() as patch:
        patch.setattr(zipfile.ZipFile, "open", lambda *args, **kwargs: pytest.fail("read"))
        with pytest.raises(ValueError, match=r"state.npz: its members declare \d+ bytes, "
                                             r"over the limit max_bytes=5000"):
            load(path, max_bytes=5000)
    assert load(path)["w"].shape == load(path, max_bytes=None)["w"].shape == (1000,)


def test_an_npy_header_declaring_more_than_its_member_holds_is_refused(tmp_path):
    path = _archive(tmp_path / "state.npz", _v1({"array": "array_0"}))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (2**27,)})  # 1 GiB
    _add_member(path, "array_0.npy", buffer.getvalue() + bytes(8))
    _refused(path, "its header declares 1073741824 bytes of data, it holds 8")


def _rewrite(path, header=None, **arrays):
    """Write ``path`` again from its own entries, with the header and arrays changed."""
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    old = json.loads(entries.pop("tlcore_structure").item())
    np.savez(path, tlcore_structure=np.array(json.dumps(header or old)),
             **{**entries, **arrays})
    return old


def test_an_array_that_does_not_match_its_checksum_is_refused(tmp_path):
    path = tmp_path / "state.npz"
    save({"w": np.arange(4.0)}, path)
    _rewrite(path, array_0=np.array([0.0, 1.0, 2.0, 3.5]))  # its ZIP CRC-32 is right
    _refused(path, "w: array 'array_0' does not match its checksum")


@pytest.mark.parametrize("array, message", [
    (np.arange(4, dtype=np.float32), "array 'array_0' is <f4 of shape (4,), the structure "
                                     "says <f8 of shape (4,)"),
    (np.arange(4.0).reshape(2, 2), "is <f8 of shape (2, 2)")])
def test_an_array_unlike_its_declaration_is_refused(tmp_path, array, message):
    path = tmp_path / "state.npz"
    save({"w": np.arange(4.0)}, path)
    _rewrite(path, array_0=array)
    _refused(path, message)


def test_a_structure_whose_table_does_not_list_the_members_is_refused(tmp_path):
    path = tmp_path / "state.npz"
    save({"w": np.arange(4.0)}, path)
    header = _rewrite(path)
    header["arrays"]["array_1"] = header["arrays"]["array_0"]
    _rewrite(path, header)
    _refused(path, "the structure lists arrays ['array_0', 'array_1'], the file holds "
                   "['array_0']")


def test_a_structure_naming_an_array_twice_is_refused(tmp_path):
    path = _archive(tmp_path / "state.npz", _v1({"list": [{"array": "a"}, {"array": "a"}]}),
                    a=np.ones(2))
    _refused(path, "1: the structure names the array 'a' twice")


def test_files_of_format_version_1_still_load(tmp_path):
    path = _archive(tmp_path / "state.npz",
                    _v1({"dict": [["w", {"array": "array_0"}], ["step", 3]]}),
                    array_0=np.arange(3.0))
    assert_same(load(path), {"w": np.arange(3.0), "step": 3})


def test_structured_arrays_are_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="w: structured arrays cannot be saved"):
        save({"w": np.zeros(2, dtype=[("x", "f4"), ("y", "i4")])}, tmp_path / "state.npz")


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
