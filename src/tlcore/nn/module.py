"""Module: the base class of layers and models (PyTorch's nn.Module).

A Module registers what is assigned to it: a ``Parameter`` goes to its parameters, a
``Module`` to its children, and ``register_buffer`` keeps arrays that are state but not
parameters (batch norm's running statistics). Everything else walks these three ordered
dicts: ``named_parameters()`` in definition order, ``state_dict()``, ``to(device)``,
``train()/eval()``, ``requires_grad_(False)`` to freeze.
"""

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from tlcore import backend
from tlcore.autograd import Tensor, no_grad, raw
from tlcore.loading import checked_copy
from tlcore.nn.parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Subclasses set their parameters and sub-modules in ``__init__`` (after calling
    ``super().__init__()``) and compute in ``forward``; call the module, not forward."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration ------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            target = params
        elif isinstance(value, Module):
            target = modules
        elif name in params or name in modules:
            if value is not None:
                kind = "parameter" if name in params else "child module"
                expected = "Parameter" if name in params else "Module"
                raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} "
                                f"({expected} or None expected)")
            target = params if name in params else modules
        elif name in buffers:
            target, value = buffers, raw(value)
        else:
            object.__setattr__(self, name, value)
            return
        for registry in (params, buffers, modules):
            if registry is not target:
                registry.pop(name, None)
        target[name] = value  # an existing key keeps its place: definition order holds
        self.__dict__.pop(name, None)  # the registry, not __dict__, holds it

    def __getattr__(self, name):  # called only when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """Keep ``array`` (or None) as state: saved in state_dict, moved by to(), no grad."""
        if isinstance(array, Tensor):
            array = array.data
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as a bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{name} must be a Parameter or None, got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name} must be a Module, got {type(module).__name__}")
        self._modules[name] = module

    # -- walking the tree --------------------------------------------------------------
    def named_modules(self, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, each once, pre-order."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, recurse=True):
        modules = self.named_modules() if recurse else [("", self)]
        seen = set()
        for prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))  # a parameter shared by two layers is listed once
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse=True):
        """(dotted name, Parameter) in definition order, e.g. ('0.weight', ...)."""
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse):
            yield param

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse):
            yield buffer

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, then on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes, gradients, devices -----------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout drops, batch norm uses batch statistics)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: dropout is the identity, batch norm uses running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Switch gradients of every parameter on or off (off = frozen)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    def to(self, device_or_dtype):
        """Move parameters and buffers to a device ('cpu', 'cuda'), or cast their floating
        point arrays to a dtype (np.float64, ...). In place; returns self."""
        convert = _converter(device_or_dtype)
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param.data = convert(param.data)
                    if param.grad is not None:
                        param.grad = convert(param.grad)
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    module._buffers[name] = convert(buffer)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # -- state -------------------------------------------------------------------------
    def state_dict(self):
        """{dotted name: array} of every parameter and buffer, as copies (so a snapshot
        does not change as training goes on; PyTorch returns views instead)."""
        state = OrderedDict()
        for prefix, module in self.named_modules(remove_duplicate=False):
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        array = raw(value)
                        state[f"{prefix}.{name}" if prefix else name] = array.copy()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Every value is checked before any is copied (see ``checked_copy``): it must have
        its parameter's shape and real numbers that convert to its dtype. NaN and inf
        load, as in PyTorch. A Tensor counts as its array. On any problem nothing is
        changed and the ValueError names every bad key. strict=True also refuses missing
        and unexpected keys; strict=False loads the keys that match and returns
        (missing_keys, unexpected_keys).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError("state_dict must be a mapping {name: array} (what state_dict() "
                            f"returns), got {type(state_dict).__name__}")
        targets = OrderedDict()
        for prefix, module in self.named_modules(remove_duplicate=False):
            for registry in ("_parameters", "_buffers"):
                for name, value in getattr(module, registry).items():
                    if value is not None:
                        key = f"{prefix}.{name}" if prefix else name
                        targets[key] = (module, registry, name)
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        ready, bad = {}, []
        for key, (module, registry, name) in targets.items():
            if key in state_dict:
                try:
                    ready[key] = checked_copy(state_dict[key], raw(getattr(module, registry)[name]))
                except ValueError as error:
                    bad.append(f"{key}: {error}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if bad:
            problems.append("bad values: " + "; ".join(bad))
        if problems:
            raise ValueError(f"cannot load state dict into {type(self).__name__}: "
                             + " | ".join(problems))
        with no_grad():
            for key, value in ready.items():
                module, registry, name = targets[key]
                if registry == "_parameters":
                    module._parameters[name].copy_(value)  # moves the version counter
                else:
                    module._buffers[name][...] = value  # the buffer keeps its array
        return IncompatibleKeys(missing, unexpected)

    # -- printing ----------------------------------------------------------------------
    def extra_repr(self):
        """The settings shown between the parentheses of repr(module)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ")
                 for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _converter(device_or_dtype):
    """The array conversion Module.to applies: a device move, or a float cast."""
    if isinstance(device_or_dtype, str) and device_or_dtype in backend.DEVICES:
        return lambda array: backend.to_device(array, device_or_dtype)
    try:
        dtype = np.dtype(device_or_dtype)
    except TypeError:
        raise ValueError(f"to() takes a device {backend.DEVICES} or a floating dtype, "
                         f"got {device_or_dtype!r}") from None
    if not backend.is_floating(dtype):
        raise ValueError(f"to() casts to a floating dtype only, got {dtype}")
    return lambda array: array.astype(dtype) if backend.is_floating(array.dtype) else array

