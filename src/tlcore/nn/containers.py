"""Containers: Sequential (a chain), ModuleList and ModuleDict (registered collections)."""

from collections import OrderedDict

from tlcore.nn.module import Module


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``.
    Children are named '0', '1', ... (or by the keys of an OrderedDict). Indexing gives a
    layer; slicing gives a Sequential of the same (shared) layers, e.g. the first k
    layers of a pre-trained network."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return _at(self._modules, index, type(self).__name__)

    def __setitem__(self, index, module):
        """Replace the layer at ``index`` under its name (fine-tuning's new head)."""
        _at(self._modules, index, type(self).__name__)
        setattr(self, list(self._modules)[index], module)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list hides them)."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return _at(self._modules, index, type(self).__name__)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        for name, module in (modules or {}).items():
            self[name] = module

    def __setitem__(self, name, module):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"a ModuleDict key must be a non-empty str without '.', got {name!r}")
        self.add_module(name, module)

    def __getitem__(self, name):
        return self._modules[name]

    def __contains__(self, name):
        return name in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


def _at(modules, index, owner):
    """The module at integer position ``index`` (negative counts from the end)."""
    values = list(modules.values())
    if not -len(values) <= index < len(values):
        raise IndexError(f"{owner} index {index} is out of range for {len(values)} modules")
    return values[index]
