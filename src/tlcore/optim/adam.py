"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019).

Adam, as ``torch.optim.Adam`` computes it, for learning rate gamma, betas (b1, b2),
eps and weight decay lambda, at step t = 1, 2, ... with gradient g_t:

    g_t = g_t + lambda * theta_{t-1}                 (weight decay as an L2 term)
    m_t = b1 * m_{t-1} + (1 - b1) * g_t              (first moment, m_0 = 0)
    v_t = b2 * v_{t-1} + (1 - b2) * g_t^2            (second moment, v_0 = 0)
    m_hat = m_t / (1 - b1^t)    v_hat = v_t / (1 - b2^t)    (bias corrections)
    theta_t = theta_{t-1} - gamma * m_hat / (sqrt(v_hat) + eps)

AdamW decouples the weight decay from the gradient (``torch.optim.AdamW``): no L2 term
in g_t; instead, before the Adam step,

    theta_{t-1} = theta_{t-1} * (1 - gamma * lambda)
"""

import math

from tlcore.backend import array_module
from tlcore.optim.optimizer import (Optimizer, check_number, is_int, l2_gradient, plain,
                                    state_array)


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)``.

    State per parameter: ``"step"`` (an int), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v).
    """

    decoupled_weight_decay = False  # True in AdamW

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                        eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            check_number(f"betas[{i}]", beta, minimum=0, below=1)
        check_number("eps", group["eps"], minimum=0)
        check_number("weight_decay", group["weight_decay"], minimum=0)

    def _load_param_state(self, saved, param, index):
        """Adam's state as step() leaves it: ``step`` counts the updates (>= 1, since the
        state is made by the first), the moments are finite and ``exp_avg_sq`` >= 0.
        There is no amsgrad here, so no ``max_exp_avg_sq``."""
        self._check_state_names(saved, index, required=("step", "exp_avg", "exp_avg_sq"),
                                optional=())
        step = plain(saved["step"])
        if not is_int(step) or step < 1:
            raise ValueError(f"state 'step' of parameter {index} must be an integer >= 1 (the "
                             f"number of updates), got {step!r}")
        return {"step": int(step),
                "exp_avg": state_array(saved, "exp_avg", param, index),
                "exp_avg_sq": state_array(saved, "exp_avg_sq", param, index, nonnegative=True)}

    def _step_group(self, group, params):
        lr, eps = float(group["lr"]), float(group["eps"])
        beta1, beta2 = (float(beta) for beta in group["betas"])
        weight_decay = float(group["weight_decay"])
        for param in params:
            theta, grad = param.data, param.grad
            xp = array_module(theta)
            state = self.state.get(param)
            if state is None:
                state = self.state[param] = {"step": 0, "exp_avg": xp.zeros_like(theta),
                                             "exp_avg_sq": xp.zeros_like(theta)}
            if self.decoupled_weight_decay:
                if weight_decay != 0:
                    param.mul_(1 - lr * weight_decay)
            else:
                grad = l2_gradient(param, weight_decay, xp)
            state["step"] += 1
            step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            scratch = xp.empty_like(theta)  # holds products, so nothing else is allocated

            m *= beta1
            m += xp.multiply(grad, 1 - beta1, out=scratch)
            v *= beta2
            v += xp.multiply(xp.multiply(grad, grad, out=scratch), 1 - beta2, out=scratch)

            # gamma * m_hat / (sqrt(v_hat) + eps), with the corrections as scalars
            denominator = xp.sqrt(v, out=scratch)
            denominator /= math.sqrt(1 - beta2 ** step)
            denominator += eps
            update = xp.divide(m, denominator, out=scratch)
            update *= lr / (1 - beta1 ** step)
            param.sub_(update)


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``:
    Adam with decoupled weight decay. Same state as Adam."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
