"""Reverse-mode automatic differentiation: Tensor, Function, backward, no_grad.

A ``Tensor`` wraps one array. A ``Function`` is one differentiable op written on raw
arrays: ``forward(*arrays) -> array or tuple`` and ``backward(*grad_outputs) -> one
gradient (or None) per input``. ``Function.__call__`` is the only place that does graph
bookkeeping (DeZero's design), and ``backward`` below is the only place that walks it.

The engine, not the op, takes care of:

* reducing a broadcast gradient back to its input's shape (MyGrad's idea: done once);
* checking that every gradient has its input's shape and dtype;
* in-place safety: every tensor carries the version counter of the memory it lies in,
  one per buffer, shared by every tensor over that buffer (two wraps of one numpy
  array, a Parameter over it, views of it); an in-place op bumps it, and backward
  refuses to use a node whose inputs or outputs changed since the forward pass,
  instead of silently using corrupted saved arrays;
* walking the graph in reverse creation order, iteratively (no recursion limit: a
  chain of 10,000 ops works), and freeing it afterwards unless ``retain_graph=True``.

There are no reference cycles: a tensor points to the Function that made it, the
Function points to its inputs, never to its outputs. A finished graph is freed by
reference counting alone.
"""

import functools
import itertools
import threading
import weakref
from heapq import heappop, heappush

import numpy as np

from tlcore import backend

# "compiled" where setup.py built this file with Cython (autograd.pxd gives its types),
# "python" where it runs as source; tlcore/__init__.py explains TLCORE_ENGINE.
ENGINE = "python" if __file__.endswith(".py") else "compiled"

# ----------------------------------------------------------------------------- grad mode

class _GradState(threading.local):
    """Per-thread grad mode. __init__ runs once in each thread, so the attribute always
    exists (a missing attribute of a threading.local is slow to look up)."""

    def __init__(self):
        self.grad_enabled = True


_state = _GradState()


def is_grad_enabled():
    return _state.grad_enabled


class _GradMode:
    """Context manager (and decorator) that sets grad mode and restores it on exit."""

    mode = True

    def __enter__(self):
        self.previous = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __exit__(self, *exc_info):
        _state.grad_enabled = self.previous

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with type(self)():
                return function(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Ops inside ``with no_grad():`` record no graph (thread-local, like PyTorch)."""

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Turn graph recording back on inside a no_grad block."""

    mode = True


# ----------------------------------------------------------------------------- Tensor


class TensorFields:
    """A Tensor's fields, without its methods. Where setup.py compiles this module
    (autograd.pxd), they become a C struct, and Tensor stays a Python class, to which
    tlcore.ops adds its operators."""

    __slots__ = ("data", "grad", "requires_grad", "_creator", "_index", "_version",
                 "_retains_grad", "__weakref__")


class Tensor(TensorFields):
    """An array with an optional gradient and a link to the Function that made it.

    ``data``: the numpy (or cupy) array. ``grad``: an array of the same shape and
    dtype, or None. Leaves are tensors made by the user (no creator); only leaves that
    require grad get ``.grad`` after backward, unless ``retain_grad()`` was called.
    """

    __slots__ = ()
    __array_ufunc__ = None  # `array * tensor` calls Tensor.__rmul__, not numpy's loop

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        # device None: where the data is (a cupy array stays on the GPU)
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.as_array(data, dtype=dtype, device=device)
        self.grad = None
        self._creator = None
        self._index = 0
        self._version = _buffer_counter(self.data)
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- properties ------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self._creator is None

    @property
    def creator(self):
        """The Function that produced this tensor (None for a leaf)."""
        return self._creator

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        return f"tensor({np.array2string(backend.to_device(self.data, 'cpu'), separator=', ')}" \
               f", dtype={self.dtype}{extra})"

    def __bool__(self):
        return bool(self.data)

    def __hash__(self):
        return id(self)

    # -- conversions -----------------------------------------------------------------
    def numpy(self):
        """The data as a numpy array (a copy from the GPU; the array itself on the CPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A new leaf sharing this tensor's data (and version counter), cut from the graph."""
        out = Tensor.__new__(Tensor)
        _init_result(out, self.data, False, None, 0, self._version)
        return out

    def to(self, device):
        """This tensor on 'cpu' or 'cuda'. Differentiable: the gradient flows back."""
        if backend.device_of(self.data) == backend.check_device(device):
            return self
        return ToDevice(device)(self)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not backend.is_floating(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (as PyTorch does)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    # -- in-place ops (not differentiable: use them under no_grad or on data) ---------
    def _check_inplace(self):
        if self.requires_grad and _state.grad_enabled:
            kind = "leaf tensor" if self._creator is None else "tensor that is part of a graph"
            raise RuntimeError(
                f"in-place operation on a {kind} that requires grad; wrap it in "
                "tlcore.no_grad() (as an optimizer step does) or use the out-of-place op")
        self._version[0] += 1

    def add_(self, other, alpha=1):
        """self += alpha * other, in place (an optimizer's update)."""
        self._check_inplace()
        if isinstance(other, Tensor):
            other = other.data
        if alpha == 1:
            self.data += other
        elif alpha == -1:
            self.data -= other
        else:
            _add_scaled(self.data, other, alpha)
        return self

    def sub_(self, other, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        self._check_inplace()
        self.data *= raw(other)
        return self

    def div_(self, other):
        self._check_inplace()
        self.data /= raw(other)
        return self

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self._check_inplace()
        self.data[...] = value
        return self

    def copy_(self, src):
        self._check_inplace()
        self.data[...] = raw(src)
        return self

    def __setitem__(self, index, value):
        self._check_inplace()
        if isinstance(index, Tensor):
            index = index.data
        self.data[index] = raw(value)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # -- backward --------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into ``.grad`` of every leaf that requires grad."""
        backward(self, grad, retain_graph=retain_graph)

    # Operators and methods (+, @, sum, exp, ...) are attached by tlcore.ops, which
    # defines the Functions they call: see tlcore/ops/__init__.py.


# add_(other, alpha=) on this many elements or more (1 MiB of float32) runs kernels.axpy:
# one pass over memory, where ``data += alpha * other`` makes a temporary and three
# passes (bench/ops.py, case "update"). Below it, numpy's two calls cost less than the
# kernel's dispatch (8 to 17 us): timed on 2 cores, kernels.axpy and numpy took the same
# time at 2**18 float32 elements (45 and 48 us), 0.3x at 2**22.
AXPY_MIN_SIZE = 2**18


def _add_scaled(data, other, alpha):
    """data += alpha * other, in place."""
    if (type(other) is type(data) and other.size >= AXPY_MIN_SIZE
            and other.shape == data.shape and other.dtype == data.dtype
            and data.dtype.kind == "f"):
        from tlcore import kernels  # a layer below: imported by tlcore.ops already
        kernels.axpy(alpha, other, data)
    else:
        data += alpha * other


def raw(value):
    """The array inside a Tensor; any other value as it is."""
    return value.data if isinstance(value, Tensor) else value


def _init_result(out, data, requires_grad, creator, index, version):
    """Fill a Tensor made with Tensor.__new__ (the fast path for op results)."""
    out.data = data
    out.grad = None
    out.requires_grad = requires_grad
    out._creator = creator
    out._index = index
    out._version = version
    out._retains_grad = False


def tensor(data, requires_grad=False, dtype=None, device="cpu"):
    """Make a leaf tensor. Python floats and lists default to float32, like PyTorch.

    A numpy array of the requested dtype is wrapped without a copy (as
    ``torch.from_numpy`` does). Every tensor over that memory shares one version
    counter, so an in-place change through any of them is caught by a graph that saved
    another; a change made on the numpy array itself is not seen: make it through a
    tensor.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


# ----------------------------------------------------------------------------- versions

# id(owner) -> the version counter of the buffer that owner array owns, for every buffer
# some tensor lies in. A counter is a list [count, weak reference to the owner]: the
# reference tells a live entry from a dead owner's whose id came back, and keeps the
# registry from holding any array alive. Dead entries are swept out whenever the
# registry has doubled since the last sweep, so it holds about twice the live buffers
# at most, and the sweeps cost O(1) per registration, amortised.
_buffer_counters = {}
_SWEEP_MIN = 1024
_sweep_at = _SWEEP_MIN


def _buffer_counter(array):
    """The version counter of the buffer ``array`` lies in: a list whose item 0 every
    in-place op on a tensor over that buffer bumps.

    Every tensor over one buffer gets the same counter, whichever array it wraps (the
    owner, a slice, a transpose, a second wrap), so backward sees a change made through
    any of them. PyTorch gives two ``from_numpy`` of one array two counters; here they
    share one. The lookup is one dict access; the bump stays ``counter[0] += 1``.
    """
    # The owner of the memory is the end of the chain of .base links: one link for a
    # numpy view, more through helper objects (np.lib.stride_tricks). The chain stops
    # before a base that is not an array (bytes, an mmap).
    owner, base = array, array.base
    while base is not None and hasattr(base, "base"):
        owner, base = base, base.base
    key = id(owner)
    counter = _buffer_counters.get(key)
    if counter is not None and counter[1]() is owner:
        return counter
    try:
        fresh = [0, weakref.ref(owner)]
    except TypeError:  # an owner without weak references: a counter of its own
        return [0, None]
    _buffer_counters[key] = fresh
    if counter is None and len(_buffer_counters) > _sweep_at:  # a new key: it grew
        _sweep_dead_buffers()
    return fresh


def _sweep_dead_buffers():
    """Drop the counters of owners that died."""
    global _sweep_at
    for key, counter in list(_buffer_counters.items()):
        if counter[1]() is None and _buffer_counters.get(key) is counter:
            del _buffer_counters[key]
    _sweep_at = max(_SWEEP_MIN, 2 * len(_buffer_counters))


# ----------------------------------------------------------------------------- Function


_sequence = itertools.count()  # creation order of recorded Functions
_REAL_SCALARS = (float, int, bool)  # the usual raw inputs, skipped by the complex check


class Function:
    """One differentiable op: subclasses define ``forward`` and ``backward`` on raw arrays.

    Non-tensor settings (an axis, a slope) go to ``__init__``; tensors go to the call:
    ``Sum(axis=1)(x)``. ``forward`` saves on ``self`` what ``backward`` needs.
    ``backward`` may read ``self.needs_input_grad`` (one bool per input: was it a tensor
    that required grad when forward ran? as PyTorch's ctx) to skip work. ``backward``
    receives one gradient per output and returns one per input (a tuple when there are
    several inputs); None means "no gradient for this input". It may return a gradient
    of the broadcast shape: the engine reduces it.

    Set ``is_view = True`` on ops whose output may share memory with their first input
    (reshape, transpose, basic indexing): the output then shares the input's version
    counter, even where the op had to copy. Any other output gets the counter of the
    buffer it lies in, so an output that happens to alias an input is caught too.
    """

    is_view = False
    # _record sets the node's fields (_sequence, _inputs, ...) on the instance; backward
    # frees a node by clearing its __dict__ and setting _inputs to None.

    def __call__(self, *inputs):
        return _call(self, inputs)

    def _output(self, data, index, record, inputs):
        """The Tensor for output ``index`` of forward."""
        if isinstance(data, np.generic):  # numpy ufuncs turn 0-d arrays into scalars
            data = np.asarray(data)
        if self.is_view and isinstance(inputs[0], Tensor):
            version = inputs[0]._version
        else:
            version = _buffer_counter(data)
        out = Tensor.__new__(Tensor)
        _init_result(out, data, record, self if record else None, index, version)
        return out

    def _record(self, inputs, watched, needs, output_count):
        """Make this Function a node of the graph: its place in creation order, its
        inputs and which of them need a gradient (``needs_input_grad``), its number of
        outputs, the version counters of its tensor inputs and
        outputs (``watched``) and the sum of their values now. Counters only grow, so
        the sum moves if and only if one of them did: backward compares one number. (An
        output over a buffer that was changed before may start above 0.)"""
        if getattr(self, "_sequence", None) is not None:
            raise RuntimeError(f"{self.name} was called twice: a Function instance is one "
                               "node of the graph, so make a new one for each call")
        self._sequence = next(_sequence)
        self._inputs = inputs
        self.needs_input_grad = needs
        self._output_count = output_count
        self._watched = watched
        total = 0
        for box in watched:
            total += box[0]
        self._version_sum = total

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    @property
    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name}>"

    # -- used by the backward pass ----------------------------------------------------
    def _check_versions(self):
        """Refuse to backpropagate if an input or output changed in place since forward:
        the saved arrays would no longer be the ones the gradient formula needs."""
        total = 0
        for box in self._watched:
            total += box[0]
        if total != self._version_sum:
            raise RuntimeError(
                f"an input or output of {self.name} was modified in place after the forward "
                "pass (its version counter moved): the gradient would use the changed "
                "values. Do the in-place change after backward, or on a copy.")


def _call(fn, inputs):
    """fn(*inputs): run fn.forward on the inputs' arrays, wrap its output(s) in Tensors,
    and record fn as a node when grad mode is on and an input requires grad."""
    # One pass over the inputs: the raw arrays for forward, which inputs need a
    # gradient, and the version counters of the tensors among them.
    arrays, watched, needs = [], [], []
    for x in inputs:
        if isinstance(x, Tensor):
            arrays.append(x.data)
            watched.append(x._version)
            needs.append(x.requires_grad)
        else:  # a raw array or number: tensors were checked when they were made
            if type(x) not in _REAL_SCALARS and backend.is_complex(x):
                dtype = getattr(x, "dtype", np.dtype(complex))
                raise backend.complex_error(fn.name, dtype)
            arrays.append(x)
            needs.append(False)
    record = _state.grad_enabled and True in needs
    outputs = fn.forward(*arrays)
    if type(outputs) is tuple:  # several outputs
        results = tuple([fn._output(data, index, record, inputs)
                         for index, data in enumerate(outputs)])
        if record:
            if not fn.is_view:
                watched.extend([r._version for r in results])
            fn._record(inputs, watched, needs, len(results))
            fn._output_meta = [(data.shape, data.dtype) for data in outputs]
        return results
    # One output, the path of most ops: _output written out, for speed.
    if isinstance(outputs, np.generic):  # numpy ufuncs turn 0-d arrays into scalars
        outputs = np.asarray(outputs)
    if fn.is_view and isinstance(inputs[0], Tensor):
        version = inputs[0]._version  # watched already, as the input's
    else:
        version = _buffer_counter(outputs)
        watched.append(version)
    out = Tensor.__new__(Tensor)
    _init_result(out, outputs, record, fn if record else None, 0, version)
    if record:
        fn._record(inputs, watched, needs, 1)
    return out


# ----------------------------------------------------------------------------- backward


def _reduce_to_shape(grad, shape, fn, index):
    """Sum a broadcast gradient back to its input's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise _shape_error(grad, shape, fn, index)
    axes = list(range(extra))
    for axis, size in enumerate(shape):
        gsize = grad.shape[extra + axis]
        if size == 1 and gsize != 1:
            axes.append(extra + axis)
        elif size != gsize:
            raise _shape_error(grad, shape, fn, index)
    grad = grad.sum(axis=tuple(axes), keepdims=False)
    return grad.reshape(shape)


def _shape_error(grad, shape, fn, index):
    return RuntimeError(
        f"{fn.name}.backward returned a gradient of shape {grad.shape} for input {index}, "
        f"whose shape is {shape}, and the two are not broadcast-compatible")


def _check_grad(grad, x, fn, index):
    """Fit a gradient whose shape or dtype differs from its input's, or say what is wrong."""
    if isinstance(grad, np.generic):  # a 0-d result of a numpy ufunc
        grad = np.asarray(grad)
    try:
        grad = _reduce_to_shape(grad, x.data.shape, fn, index)
    except AttributeError:
        raise RuntimeError(f"{fn.name}.backward returned {type(grad).__name__} for input "
                           f"{index}; expected an array") from None
    if grad.dtype != x.data.dtype:
        # Mixed-precision inputs: the op computed in the promoted dtype; the gradient of
        # the lower-precision input is cast back. Any other mismatch is a bug in the op.
        if grad.dtype.kind != "f" or not backend.is_floating(x.data.dtype):
            raise RuntimeError(f"{fn.name}.backward returned dtype {grad.dtype} for input "
                               f"{index}, whose dtype is {x.data.dtype}")
        grad = grad.astype(x.data.dtype)
    return grad


_FREED = ("trying to backward through the graph a second time: its saved arrays were "
          "freed by the first backward. Pass retain_graph=True to the first backward if "
          "you need two.")


def backward(root, grad=None, retain_graph=False):
    """Backpropagate from ``root``: accumulate gradients into the leaves' ``.grad``.

    The graph is walked in reverse creation order: a Function is always created after
    the Functions that made its inputs, so popping the highest sequence number first
    reaches every node after all of its consumers (PyTorch's ordering; iterative, so any
    depth works). ``pending[fn]`` gathers the gradients of fn's outputs, one slot each;
    a node is on the heap exactly when it has a pending entry."""
    _backward(root, grad, retain_graph)


def _backward(root, grad, retain_graph):
    grad = _seed_gradient(root, grad)
    if root._creator is None:  # backward on a leaf: d root / d root = grad
        _accumulate_leaf(root, grad, (grad,))
        return
    pending, heap = {}, []
    _send(root, grad, pending, heap)
    while heap:
        fn = heappop(heap)[1]
        grad_outputs = pending.pop(fn)
        grads = _run_backward(fn, grad_outputs)
        for index, x in enumerate(fn._inputs):
            g = grads[index]
            if g is None or not fn.needs_input_grad[index]:  # a constant, or no gradient
                continue
            data = x.data
            # fast path: same type, shape and (identical) dtype; _check_grad decides the rest
            if (g.__class__ is not data.__class__ or g.shape != data.shape
                    or g.dtype is not data.dtype):
                g = _check_grad(g, x, fn, index)
            if x._creator is None:
                _accumulate_leaf(x, g, grad_outputs)
            else:
                _send(x, g, pending, heap)
        if not retain_graph:  # free saved arrays and links to inputs
            vars(fn).clear()
            fn._inputs = None


def _seed_gradient(root, grad):
    """The gradient backward starts from: ones for a one-element root, else ``grad``
    checked against the root's shape, in the root's dtype."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad "
                           "(no input of its graph has requires_grad=True)")
    xp = backend.array_module(root.data)
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar (one-element) tensor; this one "
                f"has shape {root.shape}. Pass grad= of that shape, e.g. y.backward(ones).")
        one = xp.asarray(1, dtype=root.dtype)  # 0.5 us faster than xp.ones
        return one if root.ndim == 0 else one.reshape(root.shape)
    grad = xp.asarray(raw(grad), dtype=root.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"grad has shape {grad.shape}, but the tensor has shape {root.shape}")
    return grad


def _run_backward(fn, grad_outputs):
    """Run ``fn.backward`` on its outputs' gradients, once its inputs and outputs are
    known unchanged: one gradient (or None) per input, to be checked by the caller
    against the input's shape and dtype."""
    fn._check_versions()
    if fn._output_count > 1 and [g for g in grad_outputs if g is None]:
        _fill_unused_outputs(fn, grad_outputs)
    grads = fn.backward(*grad_outputs)
    if type(grads) is not tuple:
        grads = (grads,)
    if len(grads) != len(fn._inputs):
        raise RuntimeError(f"{fn.name}.backward returned {len(grads)} gradients for "
                           f"{len(fn._inputs)} inputs")
    return grads


def _send(x, g, pending, heap):
    """Add ``g``, the gradient of the non-leaf tensor ``x``, to x's slot among its
    creator's pending output gradients; the creator goes on the heap the first time it
    receives one."""
    parent = x._creator
    slots = pending.get(parent)
    if slots is None:
        if parent._inputs is None:
            raise RuntimeError(_FREED)
        slots = pending[parent] = [None] * parent._output_count  # one per output
        heappush(heap, (-parent._sequence, parent))
    previous = slots[x._index]
    slots[x._index] = g if previous is None else previous + g
    if x._retains_grad:
        x.grad = g.copy() if x.grad is None else x.grad + g


def _fill_unused_outputs(fn, grad_outputs):
    """An output that never reached the root has a zero gradient."""
    xp = backend.array_module(next(g for g in grad_outputs if g is not None))
    for i, g in enumerate(grad_outputs):
        if g is None:
            shape, dtype = fn._output_meta[i]
            grad_outputs[i] = xp.zeros(shape, dtype)


def _accumulate_leaf(x, g, grad_outputs):
    if x.grad is None:
        # A leaf's .grad must be its own writeable array: not the upstream gradient
        # passed straight through (d(a+b)/da = upstream, shared with b), nor a view
        # (a read-only broadcast, a slice of another gradient).
        if g.base is not None:
            g = g.copy()
        else:
            for upstream in grad_outputs:
                if g is upstream:
                    g = g.copy()
                    break
        x.grad = g
    else:
        x.grad += g  # in place: the first gradient stored was made the leaf's own above


class ToDevice(Function):
    """Move to 'cpu' or 'cuda'; the gradient moves back. (Here, not in ops/, because
    ``Tensor.to`` needs it and ops sit above autograd.)"""

    def __init__(self, device):
        self.device = backend.check_device(device)

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, g):
        return backend.to_device(g, self.source)
