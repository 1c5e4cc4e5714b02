"""Containers: ModuleList and ModuleDict (registered collections), Sequential (a chain)."""

from collections import OrderedDict

from tlcore.nn.module import Module


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list hides them).
    Children are named '0', '1', ...; indexing gives a module, slicing a container of
    the same (shared) modules, assignment replaces one under its name."""

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
            return self._from_items(list(self._modules.items())[index])
        return self._modules[self._name_at(index)]

    def __setitem__(self, index, module):
        setattr(self, self._name_at(index), module)

    def _name_at(self, index):
        """The name of the module at integer position ``index`` (negative: from the end)."""
        names = list(self._modules)
        if not -len(names) <= index < len(names):
            raise IndexError(f"{type(self).__name__} index {index} is out of range for "
                             f"{len(names)} modules")
        return names[index]

    @classmethod
    def _from_items(cls, items):
        return cls(module for _, module in items)


class Sequential(ModuleList):
    """Modules applied in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``.
    Children are named '0', '1', ... (or by the keys of an OrderedDict). Slicing keeps
    the names and shares the layers, e.g. the first k layers of a pre-trained network;
    ``model[-1] = Linear(...)`` replaces the head (fine-tuning)."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            super().__init__()
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            super().__init__(modules)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    @classmethod
    def _from_items(cls, items):
        return cls(OrderedDict(items))


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

