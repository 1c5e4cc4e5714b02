"""Save and load state dicts as .npz files, never with pickle.

``save(obj, path)`` writes one .npz archive: every array (numpy arrays, tensors, numpy
scalars) under a generated name ``array_0``, ``array_1``, ..., and the entry
``tlcore_structure``: JSON text, in a 0-d unicode array, that describes the tree of
dicts, lists and tuples and holds the Python scalars. Encoding of a value:

    int, float, bool, str, None    itself (JSON keeps 1 and 1.0 apart; floats round-trip
                                   exactly, NaN and infinities included)
    array / tensor / numpy scalar  {"array": name} / {"array": name} / {"scalar": name}
    dict                           {"dict": [[key, value], ...]}  (keys str or int, in order)
    list / tuple                   {"list": [...]} / {"tuple": [...]}

So a model state dict ``{"0.weight": array}`` and an optimizer state dict
``{"state": {0: {"exp_avg": array, "step": 3}}, "param_groups": [{"lr": 0.1, ...}]}``
both round-trip bit for bit: dtypes, shapes, values, int vs str keys, tuple vs list.
Tensors come back as numpy arrays (their ``.data`` is saved, from the CPU).

The write is atomic: a temporary file in the same directory, flushed and fsync'ed, then
``os.replace``d onto ``path`` (exactly that path: no ".npz" is appended). If anything
fails, the temporary file is removed and a previous file at ``path`` is left intact.

``load(path)`` reads with ``np.load(allow_pickle=False)``. A plain ``np.savez`` archive
(no ``tlcore_structure`` entry) loads as a flat dict ``{name: array}``, in file order.
Object arrays, and a structure entry that is not valid, are refused with an error that
names the file. PyTorch's ``torch.save``/``torch.load(weights_only=True)``.
"""

import json
import os
import zipfile
import zlib

import numpy as np

from tlcore import backend
from tlcore.autograd import Tensor

STRUCTURE = "tlcore_structure"
FORMAT = "tlcore.save"
VERSION = 1


# ----------------------------------------------------------------------------- save

def _key_path(path, key):
    return f"{path}/{key}" if path else str(key)


def _save_array(array, path, arrays):
    """Store ``array`` under a new name; refuse what only pickle could write."""
    if array.dtype.hasobject:
        raise TypeError(f"{path or '<root>'}: object arrays cannot be saved "
                        f"(dtype {array.dtype}); save numeric, bool or string arrays")
    name = f"array_{len(arrays)}"
    arrays[name] = array
    return name


def _encode(value, path, arrays, parents):
    """The JSON node for ``value``; its arrays are added to ``arrays``."""
    where = path or "<root>"
    if value is None or (isinstance(value, (bool, int, float, str))
                         and not isinstance(value, np.generic)):  # np.float64 is a float
        return value
    if isinstance(value, np.generic):
        return {"scalar": _save_array(np.asarray(value), path, arrays)}
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return {"array": _save_array(backend.to_device(value, "cpu"), path, arrays)}
    if isinstance(value, (dict, list, tuple)):
        if id(value) in parents:
            raise ValueError(f"{where}: the structure contains itself")
        parents = parents | {id(value)}
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if isinstance(key, np.integer):
                    key = int(key)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise TypeError(f"{_key_path(path, key)}: dict keys must be str or int, "
                                    f"got {type(key).__name__}")
                items.append([key, _encode(item, _key_path(path, key), arrays, parents)])
            return {"dict": items}
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(item, _key_path(path, i), arrays, parents)
                       for i, item in enumerate(value)]}
    raise TypeError(f"{where}: cannot save a value of type {type(value).__name__}; expected "
                    "arrays, tensors, numbers, bool, str, None, and dicts, lists or tuples of "
                    "them")


def _open_temporary(path):
    """A new file next to ``path`` (same file system, so os.replace is atomic).

    os.open with mode 0o666 lets the umask set the permissions, as a plain open() would.
    """
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path}: directory {directory} does not exist")
    temporary = os.path.join(directory, f".{name}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(temporary, flags, 0o666), "wb"), temporary


def _sync_directory(directory):
    """Make the rename itself durable where the system allows it (best effort: Windows
    cannot open a directory, and some file systems refuse to fsync one)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(obj, path):
    """Write ``obj`` (a state dict, see the module docstring) to ``path`` atomically."""
    path = os.fsdecode(os.fspath(path))
    arrays = {}
    tree = _encode(obj, "", arrays, frozenset())
    header = {"format": FORMAT, "version": VERSION, "tree": tree}
    arrays[STRUCTURE] = np.array(json.dumps(header))  # ASCII text: json escapes the rest
    atomic_write(path, lambda file: np.savez(file, allow_pickle=False, **arrays))


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary binary file next to ``path``, flush and fsync
    it, then rename it onto ``path``. If anything fails, the temporary file is removed
    and a previous file at ``path`` is left as it was."""
    path = os.fsdecode(os.fspath(path))
    file, temporary = _open_temporary(path)
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(os.path.dirname(os.path.abspath(path)))


# ----------------------------------------------------------------------------- load

class _Reader:
    """Rebuilds the saved tree from the structure entry and the archive's arrays."""

    def __init__(self, archive, path):
        self.archive, self.path, self.used = archive, path, set()

    def error(self, where, message):
        return ValueError(f"{self.path}: {where or '<root>'}: {message}")

    def array(self, name, where):
        if not isinstance(name, str) or name not in self.archive.files or name == STRUCTURE:
            raise self.error(where, f"the structure names an array {name!r} the file lacks")
        self.used.add(name)
        return _read_array(self.archive, name, self.path)

    def decode(self, node, where):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise self.error(where, f"garbled structure entry {node!r:.60}")
        (kind, content), = node.items()
        if kind == "array":
            return self.array(content, where)
        if kind == "scalar":
            value = self.array(content, where)
            if value.ndim != 0:
                raise self.error(where, f"a scalar's array has shape {value.shape}")
            return value[()]
        if kind in ("list", "tuple") and isinstance(content, list):
            items = [self.decode(item, _key_path(where, i)) for i, item in enumerate(content)]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(content, list):
            out = {}
            for pair in content:
                if not (isinstance(pair, list) and len(pair) == 2
                        and isinstance(pair[0], (str, int)) and not isinstance(pair[0], bool)):
                    raise self.error(where, f"garbled dict item {pair!r:.60}")
                out[pair[0]] = self.decode(pair[1], _key_path(where, pair[0]))
            return out
        raise self.error(where, f"garbled structure entry {node!r:.60}")


# What a damaged or foreign file makes numpy and zipfile raise.
_READ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _read_array(archive, name, path):
    try:
        return archive[name]
    except _READ_ERRORS as exc:  # numpy raises ValueError for pickled (object) arrays
        raise ValueError(f"{path}: cannot read entry {name!r} ({exc}); tlcore.load reads "
                         "numeric, bool and string arrays, never pickled objects") from exc


def _read_structure(archive, path):
    entry = _read_array(archive, STRUCTURE, path)
    if entry.dtype.kind != "U" or entry.ndim != 0:
        raise ValueError(f"{path}: the {STRUCTURE} entry must be text, got {entry.dtype} "
                         f"of shape {entry.shape}")
    try:
        header = json.loads(entry.item())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: the {STRUCTURE} entry is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
        raise ValueError(f"{path}: the {STRUCTURE} entry is not a {FORMAT} header")
    if header.get("version") != VERSION:
        raise ValueError(f"{path}: written by format version {header.get('version')!r}; "
                         f"this tlcore reads version {VERSION}")
    return header["tree"]


def load(path):
    """Read what ``save`` wrote to ``path`` (or a plain np.savez archive: a flat dict)."""
    path = os.fsdecode(os.fspath(path))
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:  # not .npy/.npz, a pickle, a damaged archive
        raise ValueError(f"{path}: not an .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: holds a single .npy array, not an .npz archive")
    with archive:
        if STRUCTURE not in archive.files:
            return {name: _read_array(archive, name, path) for name in archive.files}
        reader = _Reader(archive, path)
        obj = reader.decode(_read_structure(archive, path), "")
        extra = set(archive.files) - reader.used - {STRUCTURE}
        if extra:
            raise ValueError(f"{path}: arrays {sorted(extra)} are not in the structure entry")
        return obj
