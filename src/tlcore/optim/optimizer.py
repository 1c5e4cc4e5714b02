"""The optimizer base class: parameter groups, zero_grad, step, state_dict.

An optimizer holds ``param_groups``, a list of dicts, each with its own parameters and
hyperparameters, so that layers of one model can learn at different rates (fine-tuning
gives the new head a larger learning rate than the transferred trunk)::

    opt = SGD([{"params": trunk.parameters(), "lr": 1e-4},
               {"params": head.parameters()}], lr=1e-2, momentum=0.9)

A group that leaves out a hyperparameter takes the optimizer's default. ``state`` maps a
parameter to its per-parameter memory (SGD's momentum buffer, Adam's moments); it is
created on a parameter's first update. A parameter that does not require grad, or whose
``.grad`` is None, is skipped: no update, no weight decay, no state.

Same names and layout as ``torch.optim.Optimizer``. ``state_dict()`` copies the state
arrays (PyTorch returns references to them), so a saved dict does not change when
training goes on.
"""

import math
from numbers import Integral, Real

from tlcore.autograd import Tensor, enable_grad, no_grad
from tlcore.backend import array_module
from tlcore.loading import checked_copy

_UNORDERED = ("params must be an ordered collection (a list), not a set: their order fixes "
              "the indices of state_dict()")


class Optimizer:
    """Base class: subclasses define ``_step_group(group, params)``, the update rule.

    ``params``: an iterable of Tensors, or of dicts ``{"params": [...], "lr": ...}``
    (param groups). ``defaults``: the hyperparameters a group takes when it leaves one out.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of param-group dicts, "
                            "got a single Tensor; pass [tensor]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- param groups -------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], hyperparameter: value, ...}``; missing
        hyperparameters take the defaults. A parameter may belong to one group only."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs the key 'params'")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        params = list(params)
        index = len(self.param_groups)
        for i, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"param {i} of param group {index} is a "
                                f"{type(param).__name__}; an optimizer updates Tensors only")
            if not param.is_leaf:
                raise ValueError(f"param {i} of param group {index} is not a leaf tensor "
                                 "(it was computed from others); optimize the leaves")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"param group {index} lists the same parameter twice")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")

        group = dict(self.defaults)
        group.update(param_group)
        group["params"] = params
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        """Raise a ValueError naming a bad hyperparameter (subclasses extend this)."""
        check_number("lr", group["lr"], minimum=0)
        if "initial_lr" in group:  # set by a learning-rate schedule
            check_number("initial_lr", group["initial_lr"], minimum=0)

    # -- training -----------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``.grad = None`` (the default, as in PyTorch 2.x), or fill
        the existing gradient arrays with zeros when ``set_to_none=False``."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that requires grad and has a ``.grad``, in place.

        ``closure``, if given, is called first (with grad enabled) to recompute the loss;
        its value is returned, as in PyTorch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for index, group in enumerate(self.param_groups):
                params = []
                for param in group["params"]:
                    if not param.requires_grad or param.grad is None:
                        continue
                    if param.grad.shape != param.shape:
                        raise ValueError(f"a parameter of shape {param.shape} in param group "
                                         f"{index} has a .grad of shape {param.grad.shape}")
                    params.append(param)
                if params:
                    self._step_group(group, params)
        return loss

    def _step_group(self, group, params):
        """Update ``params`` (all with a gradient) with ``group``'s hyperparameters."""
        raise NotImplementedError

    # -- saving and resuming ------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are numbered 0, 1, ... across the groups in order, as in PyTorch.
        The state arrays are copies.
        """
        index_of, groups = {}, []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = []
            for param in group["params"]:
                index_of[id(param)] = len(index_of)
                packed["params"].append(index_of[id(param)])
            groups.append(packed)
        state = {}
        for param, values in self.state.items():
            state[index_of[id(param)]] = {
                name: value.copy() if hasattr(value, "shape") else value
                for name, value in values.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Resume from ``state_dict()``'s output: hyperparameters and state are copied in
        (arrays are copied to each parameter's dtype and device, never shared; a Tensor
        counts as its array).

        Everything is checked before anything changes: the groups must match this
        optimizer's in number and size, every hyperparameter must be valid, and each
        parameter's state must be what ``step()`` leaves (``_load_param_state``). After a
        ValueError the optimizer is as it was.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("state_dict must be a dict with the keys 'state' and "
                             "'param_groups' (what Optimizer.state_dict() returns)")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)):
            raise ValueError("'param_groups' must be a list of dicts, got "
                             f"{type(saved_groups).__name__}")
        if not isinstance(saved_state, dict):
            raise ValueError("'state' must be a dict {parameter index: state}, got "
                             f"{type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        param_of, new_groups = {}, []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict):
                raise ValueError(f"param group {i} of the state dict must be a dict, got "
                                 f"{type(saved).__name__}")
            if "params" not in saved:
                raise ValueError(f"param group {i} of the state dict has no 'params'")
            saved_params = plain(saved["params"])
            if not isinstance(saved_params, tuple):
                raise ValueError(f"'params' of param group {i} of the state dict must be a "
                                 f"list of parameter indices, got {saved_params!r}")
            if len(saved_params) != len(group["params"]):
                raise ValueError(f"parameter group {i} of the state dict has "
                                 f"{len(saved_params)} parameters, this optimizer's has "
                                 f"{len(group['params'])}")
            for index, param in zip(saved_params, group["params"]):
                if not is_int(index):
                    raise ValueError(f"param group {i} of the state dict lists {index!r}; "
                                     "parameter indices are integers")
                if index in param_of:
                    raise ValueError(f"the state dict lists parameter {index} twice in its "
                                     "param groups")
                param_of[index] = param
            new_group = dict(group)
            new_group.update({key: plain(value) for key, value in saved.items()
                              if key != "params"})
            self._check_hyperparameters(new_group)
            new_groups.append(new_group)

        new_state = {}
        for index, saved in saved_state.items():
            index = plain(index)
            if not is_int(index) or index not in param_of:
                raise ValueError(f"the state dict has state for parameter {index!r}, which "
                                 "none of its param groups lists")
            if not isinstance(saved, dict):
                raise ValueError(f"the state of parameter {index} must be a dict, got "
                                 f"{type(saved).__name__}")
            new_state[param_of[index]] = self._load_param_state(saved, param_of[index], index)
        self.param_groups = new_groups
        self.state = new_state

    def _load_param_state(self, saved, param, index):
        """``saved``, the state of parameter ``index``, checked and copied for ``param``
        (subclasses say what their state holds; this base class keeps none)."""
        self._check_state_names(saved, index, required=(), optional=())
        return {}

    def _check_state_names(self, saved, index, required, optional):
        """Raise a ValueError unless ``saved`` has every ``required`` name and no others
        than those and the ``optional`` ones."""
        for name in required:
            if name not in saved:
                raise ValueError(f"the state of parameter {index} has no {name!r}")
        known = tuple(required) + tuple(optional)
        for name in saved:
            if name not in known:
                raise ValueError(f"unexpected state {name!r} for parameter {index}; "
                                 f"{type(self).__name__} keeps {', '.join(known) or 'none'}")

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])


def l2_gradient(param, weight_decay, xp):
    """grad + weight_decay * theta, the gradient of loss + weight_decay/2 ||theta||^2, as a
    new array (``.grad`` stays as backward left it); ``.grad`` itself when there is none."""
    if weight_decay == 0:
        return param.grad
    grad = xp.multiply(param.data, weight_decay)
    grad += param.grad
    return grad


def check_number(name, value, minimum=None, below=None):
    """Raise a ValueError naming ``name`` unless ``minimum <= value`` (and ``value < below``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"invalid {name}={value!r}: expected a finite number")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"invalid {name}={value!r}: expected {name} >= {minimum}")
    if below is not None and not value < below:
        raise ValueError(f"invalid {name}={value!r}: expected {name} < {below}")


def plain(value):
    """A saved number or list as Python values (as a file gives them back): a numpy scalar,
    0-d array or Tensor becomes a number, an array or list (``betas``) a tuple."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return tuple(value) if isinstance(value, list) else value


def state_array(saved, name, param, index, nonnegative=False):
    """``saved[name]``, the state array ``name`` of parameter ``index``, as a copy on
    ``param``'s dtype and device. It must be a finite floating point array of ``param``'s
    shape (and >= 0 if ``nonnegative``): anything else would turn the weights into NaN."""
    where = f"state {name!r} of parameter {index}"
    try:
        array = checked_copy(saved[name], param.data, floats_only=True)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if not array_module(array).isfinite(array).all():
        raise ValueError(f"{where} must be finite")
    if nonnegative and (array < 0).any():
        raise ValueError(f"{where} must be >= 0")
    return array


def is_int(value):
    """True for an int or a numpy integer, False for a bool or anything else."""
    return isinstance(value, Integral) and not isinstance(value, bool)
