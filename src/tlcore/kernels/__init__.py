"""Hot-path kernels on raw arrays, several implementations each, one dispatcher.

See registry.py. The numpy reference is registered at import; numba, the native
module and cupy are imported on first use.
"""

from tlcore.kernels import reference  # noqa: F401  (registers the numpy kernels)
from tlcore.kernels.registry import (BACKENDS, available, forced, get, ops, preferred,
                                     register, unavailable, use)

__all__ = ["BACKENDS", "available", "forced", "get", "ops", "preferred", "register",
           "unavailable", "use"]
