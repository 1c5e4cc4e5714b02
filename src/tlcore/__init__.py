"""tlcore: a small, readable deep-learning engine on numpy for transfer learning.

    import tlcore
    x = tlcore.tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [[2., 4.]]
"""

__version__ = "0.1.0"


def _choose_engine():
    """The engine is autograd.py. Where setup.py compiled it with Cython, the build lies
    beside it and Python imports the build first; TLCORE_ENGINE=python imports the
    source instead (to step through it in a debugger, or to test it), and
    TLCORE_ENGINE=compiled refuses to run without the build."""
    import os
    wanted = os.environ.get("TLCORE_ENGINE", "")
    if wanted not in ("", "python", "compiled"):
        raise ValueError(f"TLCORE_ENGINE must be 'python' or 'compiled' (or unset: the "
                         f"compiled engine where it was built), got {wanted!r}")
    if wanted == "python":
        import importlib.util
        import pathlib
        import sys
        source = pathlib.Path(__file__).with_name("autograd.py")
        spec = importlib.util.spec_from_file_location("tlcore.autograd", source)
        sys.modules["tlcore.autograd"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    from tlcore import autograd
    if wanted == "compiled" and autograd.ENGINE != "compiled":
        raise ImportError("TLCORE_ENGINE=compiled, but autograd.py was not compiled here "
                          "(setup.py builds it where Cython and a C compiler are present)")
    return autograd


autograd = _choose_engine()

from tlcore import ops  # noqa: E402,F401  (attaches operators and methods to Tensor)
from tlcore.autograd import (Function, Tensor, enable_grad, is_grad_enabled,  # noqa: E402
                             no_grad, tensor)
from tlcore.gradcheck import GradcheckError, gradcheck  # noqa: E402
from tlcore.random import manual_seed  # noqa: E402

__all__ = ["Function", "GradcheckError", "Tensor", "enable_grad", "gradcheck",
           "is_grad_enabled", "load", "manual_seed", "no_grad", "ops", "save", "tensor"]


def __getattr__(name):
    """tlcore.save and tlcore.load, imported on first use: their module brings zipfile,
    hashlib and json, about 10 ms of ``import tlcore`` (bench/import_time.py)."""
    if name in ("save", "load"):
        from tlcore import serialize
        return getattr(serialize, name)
    raise AttributeError(f"module 'tlcore' has no attribute {name!r}")
