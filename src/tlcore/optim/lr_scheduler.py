"""Learning-rate schedules: StepLR and LambdaLR, as in ``torch.optim.lr_scheduler``.

A schedule rewrites each param group's ``"lr"`` when its ``step()`` is called, once per
epoch, after the optimizer's steps::

    scheduler = StepLR(optimizer, step_size=10, gamma=0.1)
    for epoch in range(30):
        train_one_epoch(optimizer)
        scheduler.step()

On creation it records each group's starting rate as ``group["initial_lr"]`` (the base
rate its formula starts from) and counts ``last_epoch`` from 0, as PyTorch does.
"""

from tlcore.optim.optimizer import Optimizer, check_number, is_int


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a tlcore.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the rates for epoch ``last_epoch``."""

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param group {i} has no 'initial_lr': resuming at "
                                   f"last_epoch={last_epoch} needs the optimizer's state "
                                   "from a run that had a scheduler")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()  # epoch 0: sets the starting rates

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        """Move to the next epoch and set every group's learning rate."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates the last ``step()`` set, one per param group."""
        return list(self._last_lr)

    # -- saving and resuming ------------------------------------------------------------
    _not_saved = ("optimizer",)

    def state_dict(self):
        """The schedule's counters and settings (everything but the optimizer and any
        callables): ``last_epoch``, ``base_lrs``, ...; lists are copied."""
        return {key: list(value) if isinstance(value, list) else value
                for key, value in self.__dict__.items() if key not in self._not_saved}

    def load_state_dict(self, state_dict):
        """Resume from ``state_dict()``'s output (the same keys, one rate per group).
        Every value is checked before any is set."""
        expected = set(self.state_dict())
        missing, unexpected = expected - set(state_dict), set(state_dict) - expected
        if missing or unexpected:
            raise KeyError(f"scheduler state dict does not match {type(self).__name__}: "
                           f"missing keys {sorted(missing)}, unexpected keys "
                           f"{sorted(unexpected)}")
        state = {}
        for key, value in state_dict.items():
            if hasattr(value, "tolist"):  # an array or numpy scalar after a save and load
                value = value.tolist()
            state[key] = list(value) if isinstance(value, (list, tuple)) else value
        self._check_state(state)
        self.__dict__.update(state)

    def _check_state(self, state):
        """Raise a ValueError naming the first bad value of ``state`` (subclasses extend
        this with their settings)."""
        if not is_int(state["last_epoch"]) or state["last_epoch"] < 0:
            raise ValueError(f"last_epoch must be an integer >= 0, got {state['last_epoch']!r}")
        groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            rates = state[key]
            if not isinstance(rates, list):
                raise ValueError(f"{key} must be a list of rates, one per param group, got "
                                 f"{rates!r}")
            if len(rates) != groups:
                raise ValueError(f"{key} of the state dict has {len(rates)} rates, "
                                 f"the optimizer has {groups} param groups")
            for i, rate in enumerate(rates):
                check_number(f"{key}[{i}]", rate, minimum=0)


class StepLR(LRScheduler):
    """``StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)``: multiply the rate by
    ``gamma`` every ``step_size`` epochs::

        lr(epoch) = initial_lr * gamma ** (epoch // step_size)

    Like PyTorch, the multiplication is applied to the group's current rate at each
    multiple of ``step_size``, so it composes with other changes to ``group["lr"]``.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self._check_settings(step_size, gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _check_settings(step_size, gamma):
        if not is_int(step_size) or step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        check_number("gamma", gamma, minimum=0)

    def _check_state(self, state):
        super()._check_state(state)
        self._check_settings(state["step_size"], state["gamma"])

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class LambdaLR(LRScheduler):
    """``LambdaLR(optimizer, lr_lambda, last_epoch=-1)``: the rate is the initial rate
    times a factor the function gives for the epoch::

        lr(epoch) = initial_lr * lr_lambda(epoch)

    ``lr_lambda`` is one callable for all groups or a list with one per group. The
    callables are not part of ``state_dict()``: pass them again when resuming.
    """

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer)
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"lr_lambda has {len(lr_lambda)} functions, the optimizer "
                                 f"has {groups} param groups: give one per group, or one "
                                 "for all")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        for i, function in enumerate(self.lr_lambdas):
            if not callable(function):
                raise TypeError(f"lr_lambda must be callable (epoch -> factor); item {i} is "
                                f"a {type(function).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * function(self.last_epoch)
                for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]
