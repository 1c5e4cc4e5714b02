"""Imports go down the house, never up or sideways (docs/design.md, "Layers").

Every ``import`` and ``from ... import`` in src/tlcore, at any depth of a module (inside
functions too), is read with ``ast`` and checked against LAYERS, the one written order
of the layers, bottom first. A module may import its own package and the layers below
its own; two packages of one layer may not import each other.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# Bottom first. A name is a module or a package of tlcore; "tlcore" is the package face
# (tlcore/__init__.py), which users, examples and tests import, and the command reads
# the version from.
LAYERS = (
    ("foundations", ("tlcore.backend", "tlcore.random", "tlcore.arguments", "tlcore._native")),
    ("kernels", ("tlcore.kernels",)),
    ("autograd", ("tlcore.autograd",)),
    ("ops", ("tlcore.ops", "tlcore.gradcheck", "tlcore.loading", "tlcore.serialize")),
    ("layers, optimizers, data", ("tlcore.nn", "tlcore.optim", "tlcore.datasets")),
    ("transfer methods", ("tlcore.transfer",)),
    ("experiments", ("tlcore.experiments", "tlcore.benchmark")),
    ("the face", ("tlcore",)),
    ("the command", ("tlcore.cli",)),
)
# Kernels are reached through ops, and through Tensor.add_ (SGD's update, kernels.axpy);
# the command and the benchmark report on them.
KERNEL_USERS = ("tlcore.ops", "tlcore.autograd", "tlcore.kernels", "tlcore.benchmark",
                "tlcore.cli")
# Each optional library is imported in one place.
OPTIONAL = {"numba": ("tlcore.kernels.backends.numba_cpu",),
            "cupy": ("tlcore.backend", "tlcore.kernels.backends.cupy_gpu"),
            "tlcore._native": ("tlcore.kernels.backends.native",
                               "tlcore.kernels.backends.routes"),
            "matplotlib": ("tlcore.experiments",),
            "threadpoolctl": ("tlcore.kernels.backends.threads",)}


def unit_of(module):
    """The LAYERS entry that holds ``module`` (the longest matching name)."""
    names = [name for _, names in LAYERS for name in names
             if module == name or module.startswith(name + ".")]
    if not names:
        raise AssertionError(f"{module} is in no layer of LAYERS: add it there and to "
                             f"docs/design.md")
    return max(names, key=len)


def level_of(unit):
    return next(i for i, (_, names) in enumerate(LAYERS) if unit in names)


def module_name(path):
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path):
    """Every tlcore module and optional library that the file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tlcore":  # from tlcore import nn, no_grad: which is which?
                for alias in node.names:
                    name = f"tlcore.{alias.name}"
                    submodule = any((SRC / "tlcore" / alias.name).with_suffix(suffix).exists()
                                    for suffix in (".py", "")) or alias.name == "_native"
                    found.add(name if submodule else "tlcore")
            else:
                found.add(node.module)
    return found


SOURCES = sorted((SRC / "tlcore").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path):
    module = module_name(path)
    unit = unit_of(module)
    problems = []
    for name in sorted(imported(path)):
        library = name.split(".")[0]
        for optional, places in OPTIONAL.items():
            if name == optional or name.startswith(optional + "."):
                if not any(module == p or module.startswith(p + ".") for p in places):
                    problems.append(f"imports {optional}, which only {places} may import")
        if library != "tlcore" or name == "tlcore._native":
            continue
        target = unit_of(name)
        if target == unit:
            continue
        if level_of(target) >= level_of(unit):
            problems.append(f"imports {name} ({LAYERS[level_of(target)][0]}) from the layer "
                            f"'{LAYERS[level_of(unit)][0]}': up or sideways")
        if target == "tlcore.kernels" and unit not in KERNEL_USERS:
            problems.append(f"imports {name}: kernels are reached through ops")
    assert not problems, f"{module}: " + "; ".join(problems)


def test_the_design_page_states_the_same_order():
    """docs/design.md lists the layers in the order this test checks, bottom first."""
    text = (ROOT / "docs" / "design.md").read_text()
    found = re.search(r"Layers, bottom first: (.*?)\.\n", text, re.S)
    assert found, "docs/design.md must say 'Layers, bottom first: ...' once"
    stated = [part.strip() for part in found.group(1).replace("\n", " ").split(";")]
    assert stated == [name for name, _ in LAYERS]
