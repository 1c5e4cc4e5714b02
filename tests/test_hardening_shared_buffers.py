"""One version counter per memory buffer: every Tensor or Parameter over the same numpy
memory (the array itself, a second wrap of it, a view of it) shares one counter, so an
in-place change through any of them is caught by a graph that saved another one."""

import gc
import weakref

import numpy as np
import pytest

import tlcore
from tlcore import Function, autograd, nn


def _graph_saving(w):
    """A loss whose Mul node saved the tensor ``w`` (the gradient to x is w)."""
    x = tlcore.tensor(np.ones(w.shape), requires_grad=True)
    return (x * w).sum()


def _changed_in_place(alias):
    with tlcore.no_grad():
        alias.add_(1.0)


ALIASES = {
    "a second tensor(w)": lambda w: tlcore.tensor(w),
    "a Parameter(w)": lambda w: nn.Parameter(w),
    "Tensor(tensor)": lambda w: tlcore.Tensor(tlcore.tensor(w)),
    "a tensor over a slice of w": lambda w: tlcore.tensor(w[1:]),
    "a tensor over a strided view of w": lambda w: tlcore.tensor(w[::2]),
    "a tensor over w transposed": lambda w: tlcore.tensor(w.reshape(2, 2).T),
    "a tensor over w.base": lambda w: tlcore.tensor(w.base),
}


@pytest.mark.parametrize("alias", ALIASES)
def test_an_in_place_change_through_an_alias_is_caught(alias):
    w = np.arange(8.0)[2:6]  # itself a view: the buffer is w.base
    loss = _graph_saving(tlcore.tensor(w))
    _changed_in_place(ALIASES[alias](w))
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_an_in_place_change_through_a_parameter_is_seen_by_a_graph_of_another():
    w = np.ones(3)
    first = nn.Parameter(w)
    loss = (first * first).sum()
    second = nn.Parameter(w)
    with tlcore.no_grad():
        second.sub_(0.5)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_an_in_place_change_through_a_wrap_of_an_op_result_is_caught():
    x = tlcore.tensor(np.array([0.5, 1.0]), requires_grad=True)
    e = x.exp()  # Exp saves its output
    _changed_in_place(tlcore.tensor(e.numpy()))
    with pytest.raises(RuntimeError, match="modified in place"):
        e.sum().backward()


def test_the_wrap_order_does_not_matter():
    w = np.ones(4)
    view = tlcore.tensor(w[:2])  # the view is wrapped first, the whole array second
    loss = _graph_saving(view)
    _changed_in_place(tlcore.tensor(w))
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_unrelated_arrays_do_not_share_a_counter():
    a, b = np.ones(3), np.ones(3)
    loss = _graph_saving(tlcore.tensor(a))
    _changed_in_place(tlcore.tensor(b))
    _changed_in_place(tlcore.tensor(a.copy()))
    _changed_in_place(tlcore.tensor(a, dtype=np.float32))  # a converted copy
    loss.backward()


def test_a_reused_address_does_not_inherit_a_dead_buffers_counter():
    x = tlcore.tensor(np.ones(3), requires_grad=True)
    w = tlcore.tensor(np.ones(3))
    loss = (x * w).sum()
    for _ in range(200):  # fresh arrays come and go, often at the same address
        _changed_in_place(tlcore.tensor(np.ones(3)))
        _changed_in_place(x * 2.0)
    loss.backward()
    np.testing.assert_allclose(x.grad, np.ones(3))


def test_a_result_over_a_changed_buffer_starts_clean():
    class Identity(Function):  # returns its input array itself, not marked as a view
        def forward(self, a):
            return a

        def backward(self, g):
            return g

    w = np.ones(3)
    _changed_in_place(tlcore.tensor(w))  # the buffer's counter is now 1
    x = tlcore.tensor(w * 1.0, requires_grad=True)
    y = Identity()(x)
    (y * tlcore.tensor(w)).sum().backward()  # nothing changed after the forward pass
    np.testing.assert_allclose(x.grad, w)


def test_detach_still_shares_the_counter():
    w = tlcore.tensor(np.ones(3))
    loss = _graph_saving(w)
    _changed_in_place(w.detach())
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_tensors_do_not_keep_their_arrays_alive_after_they_die():
    arrays = [np.ones(5) for _ in range(50)]
    refs = [weakref.ref(a) for a in arrays]
    tensors = [tlcore.tensor(a) for a in arrays] + [tlcore.tensor(a[1:]) for a in arrays]
    del arrays, tensors
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_the_registry_forgets_dead_arrays(monkeypatch):
    monkeypatch.setattr(autograd, "_buffer_counters", {})  # this test's own registry
    monkeypatch.setattr(autograd, "_sweep_at", autograd._SWEEP_MIN)
    keep = [tlcore.tensor(np.ones(2)) for _ in range(10)]
    for _ in range(50):  # batches alive at once, so not every address is reused
        batch = [tlcore.tensor(np.ones(2)) * 2.0 for _ in range(500)]
        del batch
    assert len(autograd._buffer_counters) < 5_000  # of the 50,000 buffers made
    batch = [tlcore.tensor(np.ones(2)) for _ in range(5_000)]
    del batch
    autograd._sweep_dead_buffers()  # what the next registration past _sweep_at runs
    assert len(autograd._buffer_counters) == len(keep)
    assert autograd._sweep_at == autograd._SWEEP_MIN
    assert all(tlcore.tensor(t.data)._version is t._version for t in keep)  # still there
