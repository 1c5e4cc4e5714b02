"""A differentiable op of your own: swish(x) = x * sigmoid(x) (Ramachandran et al. 2017).

A Function is a forward and a backward on raw numpy arrays; the chain rule is written
next to the forward it inverts. Claim: tlcore.gradcheck compares backward with central
finite differences in float64, and it catches a backward that forgets a term.
"""
import numpy as np

import tlcore


class Swish(tlcore.Function):
    def forward(self, x):
        self.x = x
        self.s = 0.5 * (1 + np.tanh(0.5 * x))  # sigmoid(x), without overflow for any x
        return x * self.s

    def backward(self, g):  # d/dx x s(x) = s + x s (1 - s): the product rule
        return g * (self.s + self.x * self.s * (1 - self.s))


class WrongSwish(Swish):
    def backward(self, g):  # forgets the x s'(x) term of the product rule
        return g * self.s


def swish(x):
    return Swish()(x)


# Use it in a Tensor expression like any built-in op: a small layer, then a loss.
rng = np.random.default_rng(0)  # the inputs: float64, so gradcheck sees them unchanged
x = tlcore.tensor(rng.standard_normal((5, 3)), requires_grad=True)
w = tlcore.tensor(rng.standard_normal((3, 4)), requires_grad=True)
loss = (swish(x @ w) ** 2).mean()
loss.backward()
print(f"loss {loss.item():.4f}, w.grad shape {w.grad.shape}, x.grad shape {x.grad.shape}")

# The same with a random upstream gradient, against swish built from tlcore's own ops.
upstream = rng.standard_normal((5, 4))
x.grad = None
swish(x @ w).backward(upstream)
ours = x.grad
x.grad = None
((x @ w) * (x @ w).sigmoid()).backward(upstream)
print(f"max |ours - built from ops| of x.grad: {np.abs(ours - x.grad).max():.2e}")

# gradcheck: a random cotangent v, analytic gradient of sum(fn * v) vs central differences.
ok = tlcore.gradcheck(lambda x, w: swish(x @ w), [x, w])
print(f"gradcheck Swish: {'passed' if ok else 'failed'}")
wrong = tlcore.gradcheck(lambda x: WrongSwish()(x), [x], raise_exception=False)
print(f"gradcheck WrongSwish: {'passed' if wrong else 'failed, as it should'}")
