"""Optimizers and learning-rate schedules, with PyTorch's names and defaults.

    from tlcore.optim import SGD, Adam, AdamW
    from tlcore.optim.lr_scheduler import StepLR, LambdaLR

Files: optimizer.py (the base class: param groups, zero_grad, state_dict), sgd.py,
adam.py (Adam and AdamW), lr_scheduler.py.
"""

from tlcore.optim import lr_scheduler
from tlcore.optim.adam import Adam, AdamW
from tlcore.optim.optimizer import Optimizer
from tlcore.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
