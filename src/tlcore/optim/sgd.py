"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update of ``torch.optim.SGD``, for learning rate gamma, momentum mu, dampening tau
and weight decay lambda, at step t with gradient g_t:

    g_t = g_t + lambda * theta_{t-1}                     (if lambda != 0)
    b_t = g_t                                            (t = 1: the buffer starts at g)
    b_t = mu * b_{t-1} + (1 - tau) * g_t                 (t > 1)
    g_t = g_t + mu * b_t   (nesterov)   or   g_t = b_t   (if mu != 0)
    theta_t = theta_{t-1} - gamma * g_t

Momentum: Polyak 1964; the Nesterov form is Sutskever et al. 2013's, as PyTorch writes it.
"""

from tlcore.backend import array_module
from tlcore.optim.optimizer import Optimizer, check_number, l2_gradient, state_array


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False)``.

    State per parameter (only when momentum != 0): ``"momentum_buffer"``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        check_number("momentum", group["momentum"], minimum=0)
        check_number("dampening", group["dampening"])
        check_number("weight_decay", group["weight_decay"], minimum=0)
        if not isinstance(group["nesterov"], bool):
            raise ValueError(f"nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _load_param_state(self, saved, param, index):
        """SGD's state: a finite ``momentum_buffer`` (None, or no state, before the first
        update with momentum)."""
        self._check_state_names(saved, index, required=(), optional=("momentum_buffer",))
        if saved.get("momentum_buffer") is None:
            return dict(saved)
        return {"momentum_buffer": state_array(saved, "momentum_buffer", param, index)}

    def _step_group(self, group, params):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
        nesterov = bool(group["nesterov"])
        for param in params:
            theta = param.data
            xp = array_module(theta)
            grad = l2_gradient(param, weight_decay, xp)
            if momentum != 0:
                scratch = xp.empty_like(theta)  # holds products: nothing else is allocated
                state = self.state.setdefault(param, {})
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = grad.astype(theta.dtype)  # a copy
                else:
                    buffer *= momentum
                    buffer += grad if dampening == 0 else \
                        xp.multiply(grad, 1 - dampening, out=scratch)
                if nesterov:
                    grad = xp.add(grad, xp.multiply(buffer, momentum, out=scratch), out=scratch)
                else:
                    grad = buffer
            param.add_(grad, alpha=-lr)  # theta -= lr * g, in one pass on large arrays
