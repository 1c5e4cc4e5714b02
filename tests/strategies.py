"""Hypothesis strategies and input makers shared by the op tests.

Inputs are float64 (gradcheck's dtype) and may be non-contiguous views, so every op is
also checked on strided data.
"""

import numpy as np
from hypothesis import strategies as st

import tlcore

dims = st.integers(min_value=1, max_value=4)


@st.composite
def shapes(draw, min_dims=1, max_dims=3):
    """A small shape, e.g. (3,), (2, 4), (1, 3, 2)."""
    return tuple(draw(st.lists(dims, min_size=min_dims, max_size=max_dims)))


@st.composite
def broadcastable_shapes(draw, min_dims=1, max_dims=3):
    """(shape_a, shape_b) that broadcast together: b may drop leading axes or have 1s."""
    a = draw(shapes(min_dims, max_dims))
    drop = draw(st.integers(0, len(a) - 1))
    b = [1 if draw(st.booleans()) else n for n in a[drop:]]
    if draw(st.booleans()):
        return a, tuple(b)
    return tuple(b), a


def array(rng, shape, noncontiguous=False, low=None, high=None, away_from=None, gap=0.1):
    """A float64 array of ``shape``: standard normal, or uniform in [low, high).

    ``noncontiguous`` returns a strided view (every other element of a larger array).
    ``away_from`` moves values within ``gap`` of that point (a kink) away from it.
    """
    big = tuple(2 * n for n in shape) if noncontiguous else shape
    if low is None:
        data = rng.standard_normal(big)
    else:
        data = rng.uniform(low, high, big)
    if away_from is not None:
        near = np.abs(data - away_from) < gap
        data[near] = away_from + np.where(data[near] >= away_from, gap, -gap) * 2
    if noncontiguous:
        data = data[tuple(slice(None, None, 2) for _ in shape)]
        assert shape == () or not data.flags.c_contiguous or data.size <= 1
    return data


def leaf(data, requires_grad=True):
    """A float64 tensor over ``data`` itself (no copy: strides are kept)."""
    return tlcore.tensor(data, requires_grad=requires_grad, dtype=np.float64)


def torch_or_skip():
    """The PyTorch module, or a skip that says it is not installed (oracle tests)."""
    import pytest
    return pytest.importorskip("torch", reason="PyTorch is not installed: oracle test skipped")


def check_against_torch(fn, torch_fn, arrays, seed=0, rtol_out=1e-12, rtol=1e-10, atol=1e-12,
                        name=""):
    """The PyTorch oracle: run ``fn`` on tlcore leaves and ``torch_fn`` on torch leaves over
    the same float64 arrays, backpropagate one random cotangent through both, and compare
    the outputs and every input's gradient."""
    torch = torch_or_skip()
    leaves = [leaf(a) for a in arrays]
    out = fn(*leaves)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    twins = [torch.from_numpy(np.asarray(a)).requires_grad_() for a in arrays]
    expected = torch_fn(*twins)
    expected.backward(torch.from_numpy(v))
    assert out.shape == tuple(expected.shape), name
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol_out,
                               atol=atol, err_msg=name)
    for i, (t, x) in enumerate(zip(leaves, twins)):
        np.testing.assert_allclose(t.grad, x.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{name}: gradient of input {i}")


def hinge_kink_distance(scores, target, margin):
    """How far the hinge-max loss of ``scores`` (N, C) is from its kinks: the smallest
    |margin - S[n, y_n] + max_{c != y_n} S[n, c]| (a margin exactly met) and the smallest
    gap between the two best other classes of a row (a tie for the arg-max)."""
    rows = np.arange(len(target))
    others = np.array(scores, dtype=np.float64)
    others[rows, target] = -np.inf
    top2 = np.sort(others, axis=1)[:, -2:]
    argument = margin - np.asarray(scores)[rows, target] + top2[:, 1]
    gap = top2[:, 1] - top2[:, 0] if others.shape[1] > 2 else np.inf
    return min(np.abs(argument).min(), np.min(gap))


def bind_parameters(module, names, values):
    """Put ``values`` in place of the parameters called ``names`` (dotted), so that a
    gradcheck's float64 leaves are what the module computes with."""
    for name, value in zip(names, values):
        *path, last = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        owner._parameters[last] = value


def check_module_gradients(module, x, names, output_of):
    """gradcheck of ``output_of(module, x)`` with respect to x and the named parameters."""
    params = dict(module.named_parameters())
    values = [params[name] for name in names]

    def fn(x, *values):
        bind_parameters(module, names, values)
        return output_of(module, x)
    assert tlcore.gradcheck(fn, [x, *values])
