"""Save and load state dicts as .npz files, never with pickle.

``save(obj, path)`` writes one .npz archive (an uncompressed ZIP of .npy files): every
array (numpy arrays, tensors, numpy scalars) under a generated name ``array_0``,
``array_1``, ..., and the entry ``tlcore_structure``: JSON text, in a 0-d unicode array,
that describes the tree of dicts, lists and tuples and holds the Python scalars. Encoding
of a value:

    int, float, bool, str, None    itself (JSON keeps 1 and 1.0 apart; floats round-trip
                                   exactly, NaN and infinities included)
    array / tensor / numpy scalar  {"array": name} / {"array": name} / {"scalar": name}
    dict                           {"dict": [[key, value], ...]}  (keys str or int, in order)
    list / tuple                   {"list": [...]} / {"tuple": [...]}

The structure also lists every array with its dtype, shape and the SHA-256 of its values,
``{"arrays": {"array_0": {"dtype": "<f4", "shape": [4, 3], "sha256": "..."}, ...}}``, and
the format version (2). So a model state dict ``{"0.weight": array}`` and an optimizer state
dict ``{"state": {0: {"exp_avg": array, "step": 3}}, "param_groups": [{"lr": 0.1, ...}]}``
both round-trip bit for bit: dtypes, shapes, values, int vs str keys, tuple vs list.
Tensors come back as numpy arrays (their ``.data`` is saved, from the CPU).

The write is atomic: the file is written, flushed and fsync'ed, then renamed onto ``path``
(exactly that path: no ".npz" is appended), so ``path`` holds the old content or the new,
never a mix. On Linux the file has no name until it is complete (O_TMPFILE), so a writer
killed mid-save leaves nothing behind; elsewhere it is a hidden temporary file next to
``path``, and the next save to ``path`` removes those that killed writers left.

``load(path)`` accepts exactly what ``save`` writes and refuses anything else with a
ValueError that names the file and the reason: a damaged archive, members that are not
uncompressed .npy files or appear twice, a missing or inconsistent structure, an array
whose checksum does not match, pickled objects, and archives larger than ``max_bytes``.
A plain ``np.savez`` archive is refused too: read it with ``np.load``. Files written by
format version 1 (before the checksums) still load, with every check but the checksums;
ZIP's CRC-32, verified on every read, still guards their bytes. PyTorch's
``torch.save``/``torch.load(weights_only=True)``.
"""

import collections
import errno
import hashlib
import json
import math
import os
import re
import zipfile
import zlib

import numpy as np

from tlcore import backend
from tlcore.autograd import Tensor

STRUCTURE = "tlcore_structure"
FORMAT = "tlcore.save"
VERSION = 2
# load's default max_bytes: far above any state dict this engine trains, below the memory
# of an ordinary machine, so a wrong or hostile file fails fast instead of filling memory.
MAX_BYTES = 4 * 2**30


# ----------------------------------------------------------------------------- save

def _key_path(path, key):
    return f"{path}/{key}" if path else str(key)


def _checksum(array):
    """SHA-256 of the array's bytes in C order (the same for any memory layout)."""
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).view(np.uint8)).hexdigest()


def _save_array(array, path, arrays):
    """Store ``array`` under a new name; refuse what only pickle could write."""
    if array.dtype.hasobject or array.dtype.names is not None:
        kind = "object" if array.dtype.hasobject else "structured"
        raise TypeError(f"{path or '<root>'}: {kind} arrays cannot be saved "
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


def save(obj, path):
    """Write ``obj`` (a state dict, see the module docstring) to ``path`` atomically."""
    path = os.fsdecode(os.fspath(path))
    arrays = {}
    tree = _encode(obj, "", arrays, frozenset())
    table = {name: {"dtype": array.dtype.str, "shape": list(array.shape),
                    "sha256": _checksum(array)} for name, array in arrays.items()}
    header = {"format": FORMAT, "version": VERSION, "arrays": table, "tree": tree}
    arrays[STRUCTURE] = np.array(json.dumps(header))  # ASCII text: json escapes the rest
    atomic_write(path, lambda file: np.savez(file, allow_pickle=False, **arrays))


# ----------------------------------------------------------------------------- atomic write

def _temporary_name(directory, name):
    """A hidden name next to the target; the writer's pid tells later saves whether the
    writer still runs."""
    return os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def _is_running(pid):
    """Whether process ``pid`` may still be writing its temporary file."""
    if pid == os.getpid():
        return True  # another thread of this process
    if os.name == "nt":
        return False  # os.kill would end it; Windows refuses to remove a file held open
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def _remove_stale_temporaries(directory, name):
    """Remove the temporary files of ``name`` left by writers that were killed."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    try:
        with os.scandir(directory) as entries:
            stale = [entry.path for entry in entries if (match := pattern.fullmatch(entry.name))
                     and not _is_running(int(match[1]))]
    except OSError:  # a directory we may write to but not list: nothing to do
        return
    for temporary in stale:
        try:
            os.remove(temporary)
        except OSError:  # removed by another save meanwhile, or still open (Windows)
            pass


def _open_unnamed(directory):
    """A file descriptor of a new unnamed file in ``directory`` (Linux's O_TMPFILE), or
    None where the system or the file system has none.

    os.open with mode 0o666 lets the umask set the permissions, as a plain open() would.
    """
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666)
    except OSError as exc:  # the file system has no O_TMPFILE, or an old kernel
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


def _link_unnamed(fd, temporary):
    """Give the unnamed file ``fd`` the name ``temporary``.

    Linux cannot link a file over an existing name, so the complete file gets a temporary
    name, which os.replace then renames onto the target atomically; only a writer killed
    between the two calls leaves a file, and the next save removes it. The link goes
    through /proc/self/fd, which needs no privilege (linkat's AT_EMPTY_PATH needs
    CAP_DAC_READ_SEARCH, and os.link cannot pass it). os.link calls link(2), which does not
    follow that symlink, unless a dir_fd makes it call linkat(2) with AT_SYMLINK_FOLLOW.
    """
    directory, name = os.path.split(temporary)
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=directory_fd, follow_symlinks=True)
    finally:
        os.close(directory_fd)


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


def atomic_write(path, write):
    """Call ``write(file)`` on a new binary file, flush and fsync it, then rename it onto
    ``path``. If anything fails, the new file is removed and a previous file at ``path`` is
    left as it was. On Linux the new file is unnamed until it is complete, so a killed
    writer leaves nothing; elsewhere a killed writer leaves a temporary file, which the
    next ``atomic_write`` to ``path`` removes."""
    path = os.fsdecode(os.fspath(path))
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path}: directory {directory} does not exist")
    _remove_stale_temporaries(directory, name)
    temporary = _temporary_name(directory, name)
    fd = _open_unnamed(directory)
    unnamed = fd is not None
    if not unnamed:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
            if unnamed:
                _link_unnamed(fd, temporary)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


# ----------------------------------------------------------------------------- load

# What zipfile and numpy raise for a damaged archive or member (UnicodeDecodeError, for a
# garbled member name, is a ValueError).
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError,
            EOFError, zlib.error)
_END_RECORD = 22  # bytes of the ZIP end record that closes the archive
_CHUNK = 2**20  # arrays are read a MiB at a time, without a second copy in memory


def _open_archive(file, path):
    """``file`` opened as a ZIP archive (its table of members read, none of them yet)."""
    magic = file.read(6)
    file.seek(0)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{path}: holds a single .npy array, not an .npz archive")
    try:
        archive = zipfile.ZipFile(file)
    except _DAMAGED as exc:  # not a ZIP, or a damaged one
        raise ValueError(f"{path}: not an .npz archive ({exc})") from exc
    return archive


def _members(archive, file, path, max_bytes):
    """The archive's members by entry name (without ".npy"), once checked to be what save
    writes: uncompressed, unencrypted .npy files, each named once, nothing before the first
    or after the end record, and at most ``max_bytes`` in all."""
    def refuse(reason):
        return ValueError(f"{path}: {reason}; tlcore.load reads only what tlcore.save writes")

    file.seek(-_END_RECORD, os.SEEK_END)
    end = file.read(_END_RECORD)
    if end[:4] != b"PK\x05\x06" or end[-2:] != b"\0\0":
        raise refuse("the archive does not end with its end record (a comment, or bytes "
                     "appended)")
    infos = archive.infolist()
    if infos and min(info.header_offset for info in infos) != 0:
        raise refuse("the archive does not start with its first member")
    counts = collections.Counter(info.filename for info in infos)
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise refuse(f"member {info.filename!r} is not an .npy file")
        if counts[info.filename] > 1:
            raise refuse(f"member {info.filename!r} appears {counts[info.filename]} times")
        if info.compress_type != zipfile.ZIP_STORED:
            raise refuse(f"member {info.filename!r} is compressed")
        if info.file_size != info.compress_size:
            raise refuse(f"member {info.filename!r} declares {info.file_size} bytes and "
                         f"stores {info.compress_size}")
        if info.flag_bits & 0x1:
            raise refuse(f"member {info.filename!r} is encrypted")
    total = sum(info.file_size for info in infos)
    if max_bytes is not None and total > max_bytes:
        raise ValueError(f"{path}: its members declare {total} bytes, over the limit "
                         f"max_bytes={max_bytes}; pass a larger max_bytes (or None) to load it")
    return {info.filename[:-len(".npy")]: info for info in infos}


def _read_npy(archive, info, path):
    """The array in member ``info``, read without pickle, once its .npy header is checked
    to declare exactly the bytes the member holds. Reading to the member's end makes
    zipfile check its CRC-32."""
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version != (1, 0):
                raise ValueError(f".npy format version {version}; tlcore.save writes (1, 0)")
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            if dtype.hasobject:
                raise ValueError("it holds pickled objects, and tlcore.load never unpickles; "
                                 "it reads numeric, bool and string arrays")
            nbytes = math.prod(shape) * dtype.itemsize
            held = info.file_size - member.tell()
            if nbytes != held:
                raise ValueError(f"its header declares {nbytes} bytes of data, it holds {held}")
            array = np.empty(shape, dtype, order="F" if fortran_order else "C")
            if nbytes:
                data = (array.T if fortran_order else array).reshape(-1).view(np.uint8)
                for start in range(0, nbytes, _CHUNK):
                    chunk = data[start:start + _CHUNK]
                    if member.readinto(chunk) != len(chunk):
                        raise EOFError("the file ends inside it")
    except _DAMAGED as exc:
        raise ValueError(f"{path}: cannot read entry {info.filename[:-len('.npy')]!r}: "
                         f"{exc}") from exc
    return array


def _valid_spec(spec):
    """Whether ``spec`` is an entry of the table of arrays as save writes it."""
    return (isinstance(spec, dict) and set(spec) == {"dtype", "shape", "sha256"}
            and isinstance(spec["dtype"], str) and isinstance(spec["sha256"], str)
            and isinstance(spec["shape"], list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                    for n in spec["shape"]))


def _read_structure(archive, members, path):
    """The structure's tree and its table of arrays (None in version 1 files)."""
    if STRUCTURE not in members:
        raise ValueError(f"{path}: no {STRUCTURE} entry, so not written by tlcore.save (read "
                         "a plain np.savez archive with np.load)")
    entry = _read_npy(archive, members[STRUCTURE], path)
    if entry.dtype.kind != "U" or entry.ndim != 0:
        raise ValueError(f"{path}: the {STRUCTURE} entry must be text, got {entry.dtype} "
                         f"of shape {entry.shape}")
    try:
        header = json.loads(entry.item())
    except (ValueError, RecursionError) as exc:  # ValueError includes JSONDecodeError
        raise ValueError(f"{path}: the {STRUCTURE} entry is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
        raise ValueError(f"{path}: the {STRUCTURE} entry is not a {FORMAT} header")
    version = header.get("version")
    if type(version) is not int or version not in (1, VERSION):  # not True, not 2.0
        raise ValueError(f"{path}: written by format version {version!r}; "
                         f"this tlcore reads versions 1 and {VERSION}")
    if version == 1:
        return header["tree"], None
    table, arrays = header.get("arrays"), set(members) - {STRUCTURE}
    if not isinstance(table, dict) or not all(map(_valid_spec, table.values())):
        raise ValueError(f"{path}: the {STRUCTURE} entry has no valid table of arrays")
    if set(table) != arrays:
        raise ValueError(f"{path}: the structure lists arrays {sorted(table)!r:.200}, the file "
                         f"holds {sorted(arrays)!r:.200}")
    return header["tree"], table


class _Reader:
    """Rebuilds the saved tree from the structure entry and the archive's arrays."""

    def __init__(self, archive, members, table, path):
        self.archive, self.members, self.table, self.path = archive, members, table, path
        self.used = set()

    def error(self, where, message):
        return ValueError(f"{self.path}: {where or '<root>'}: {message}")

    def array(self, name, where):
        if not isinstance(name, str) or name not in self.members or name == STRUCTURE:
            raise self.error(where, f"the structure names an array {name!r} the file lacks")
        if name in self.used:
            raise self.error(where, f"the structure names the array {name!r} twice")
        self.used.add(name)
        array = _read_npy(self.archive, self.members[name], self.path)
        if self.table is None:  # format version 1: no checksums
            return array
        spec = self.table[name]
        if (array.dtype.str, list(array.shape)) != (spec["dtype"], spec["shape"]):
            raise self.error(where, f"array {name!r} is {array.dtype.str} of shape "
                                    f"{array.shape}, the structure says {spec['dtype']} of "
                                    f"shape {tuple(spec['shape'])}")
        if _checksum(array) != spec["sha256"]:
            raise self.error(where, f"array {name!r} does not match its checksum: the file "
                                    "is damaged")
        return array

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


def load(path, max_bytes=MAX_BYTES):
    """Read what ``save`` wrote to ``path``; refuse anything else with a ValueError that
    names the file and the reason.

    ``max_bytes`` (default ``MAX_BYTES``, 4 GiB; None for no limit) caps the bytes the
    archive's members declare in all, checked before any of them is read.
    """
    path = os.fsdecode(os.fspath(path))
    with open(path, "rb") as file, _open_archive(file, path) as archive:
        members = _members(archive, file, path, max_bytes)
        tree, table = _read_structure(archive, members, path)
        reader = _Reader(archive, members, table, path)
        try:
            obj = reader.decode(tree, "")
        except RecursionError:
            raise ValueError(f"{path}: the structure is nested too deeply") from None
        extra = set(members) - reader.used - {STRUCTURE}
        if extra:
            raise ValueError(f"{path}: arrays {sorted(extra)} are not in the structure entry")
        return obj
