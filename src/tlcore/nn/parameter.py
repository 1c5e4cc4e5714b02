"""Parameter: a tensor that a Module owns and an optimizer updates."""

from tlcore.autograd import Tensor


class Parameter(Tensor):
    """A leaf tensor registered by a Module when assigned as an attribute
    (``self.weight = Parameter(...)``); it requires grad unless told otherwise, and
    ``Module.parameters()`` yields it. PyTorch's nn.Parameter."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
