"""The engine: backward order and depth, accumulation, retain_graph, no_grad, leaf
semantics, broadcast reduction, gradient checks, in-place safety, graph freeing."""

import gc

import numpy as np
import pytest

import tlcore
from tlcore import Function, Tensor, autograd, ops


def leaf(values, dtype=np.float64):
    return tlcore.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_simple_chain_rule():
    x = leaf([1.0, 2.0, 3.0])
    y = (x * x + 3.0 * x).sum()  # dy/dx = 2x + 3
    y.backward()
    np.testing.assert_allclose(x.grad, [5.0, 7.0, 9.0])


def test_chain_of_ten_thousand_ops_has_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-9)


def test_diamond_graph_gets_each_path_once():
    x = leaf([2.0])
    a = x * 3.0
    b = x * x
    y = (a * b).sum()  # y = 3 x^3, dy/dx = 9 x^2
    y.backward()
    np.testing.assert_allclose(x.grad, [36.0])


def test_tensor_used_twice_in_one_op():
    x = leaf([3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0])
    z = leaf([1.0, 2.0])
    (z + z).sum().backward()
    np.testing.assert_allclose(z.grad, [2.0, 2.0])


def test_backward_twice_accumulates_like_pytorch():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])


def test_second_backward_without_retain_graph_is_a_clear_error():
    x = leaf([1.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_a_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 20.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tlcore.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_is_restored():
    x = leaf([1.0])
    with tlcore.no_grad():
        y = x * 2.0
        assert not tlcore.is_grad_enabled()
        with tlcore.enable_grad():
            z = x * 2.0
    assert tlcore.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf


def test_no_grad_is_thread_local():
    import threading
    seen = []
    with tlcore.no_grad():
        thread = threading.Thread(target=lambda: seen.append(tlcore.is_grad_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]


def test_leaf_and_non_leaf_semantics():
    x = leaf([1.0, 2.0])
    c = tlcore.tensor([5.0, 5.0])  # a constant leaf
    h = x * 2.0
    y = (h * c).sum()
    assert x.is_leaf and c.is_leaf and not h.is_leaf
    assert h.requires_grad and not c.requires_grad
    y.backward()
    assert h.grad is None  # non-leaf: not kept ...
    assert c.grad is None  # ... nor for a leaf that does not require grad
    np.testing.assert_allclose(x.grad, [10.0, 10.0])


def test_which_inputs_need_a_gradient_is_fixed_when_forward_runs():
    """needs_input_grad is recorded with the node, as PyTorch's ctx: a tensor that starts
    requiring grad after the forward is not part of that graph."""
    x = leaf([1.0, 2.0])
    w = tlcore.tensor(np.array([3.0, 4.0]))
    y = (x * w).sum()
    w.requires_grad_(True)
    y.backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])
    assert w.grad is None


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h = (x * 2.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, [4.0, 8.0])
    np.testing.assert_allclose(x.grad, [8.0, 16.0])


def test_detach_cuts_the_graph():
    x = leaf([1.0])
    d = (x * 2.0).detach()
    assert d.is_leaf and not d.requires_grad
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0])


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating"):
        tlcore.tensor([1, 2], requires_grad=True)


def test_broadcast_gradient_is_reduced_once_by_the_engine():
    x = leaf(np.ones((2, 1, 3)))
    b = leaf(np.ones((4, 1)))
    y = (x * b).sum()  # broadcast to (2, 4, 3)
    y.backward()
    np.testing.assert_allclose(x.grad, np.full((2, 1, 3), 4.0))
    np.testing.assert_allclose(b.grad, np.full((4, 1), 6.0))


class _WrongShape(Function):
    def forward(self, x):
        return x * 1.0

    def backward(self, g):
        return np.ones(g.shape[:-1] + (g.shape[-1] + 1,))


class _WrongDtype(Function):
    def forward(self, x):
        return x * 1.0

    def backward(self, g):
        return np.ones(g.shape, dtype=np.int64)


class _WrongCount(Function):
    def forward(self, x):
        return x * 1.0

    def backward(self, g):
        return g, g


@pytest.mark.parametrize("op, message", [(_WrongShape, "shape"), (_WrongDtype, "dtype"),
                                         (_WrongCount, "2 gradients for 1 inputs")])
def test_engine_checks_every_gradient_an_op_returns(op, message):
    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=message):
        op()(x).sum().backward()


def test_mixed_precision_gradient_is_cast_to_the_input_dtype():
    a = tlcore.tensor(np.ones(3, np.float32), requires_grad=True)
    b = tlcore.tensor(np.ones(3, np.float64), requires_grad=True)
    y = (a * b).sum()
    assert y.dtype == np.float64
    y.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


class _TwoOutputs(Function):
    """(x * 2, x * 3): checks multi-output nodes and an output left unused."""

    def forward(self, x):
        return x * 2.0, x * 3.0

    def backward(self, g2, g3):
        return 2.0 * g2 + 3.0 * g3


def test_multi_output_function_with_an_unused_output():
    x = leaf([1.0, 1.0])
    twice, thrice = _TwoOutputs()(x)
    thrice.sum().backward()  # `twice` never reaches the root: its gradient is zero
    np.testing.assert_allclose(x.grad, [3.0, 3.0])
    x.grad = None
    twice, thrice = _TwoOutputs()(x)
    (twice * thrice).sum().backward()  # 6 x^2 -> 12 x
    np.testing.assert_allclose(x.grad, [12.0, 12.0])


def test_leaf_gradients_are_not_aliased_between_leaves():
    a, b = leaf([1.0]), leaf([1.0])
    (a + b).sum().backward()
    a.grad *= 0
    np.testing.assert_allclose(b.grad, [1.0])


def test_leaf_gradient_is_writeable_after_a_broadcast():
    x = leaf(np.ones((2, 3)))
    x.sum().backward()
    x.grad *= 2  # the engine must not hand out a read-only broadcast view
    np.testing.assert_allclose(x.grad, np.full((2, 3), 2.0))


# ----------------------------------------------------------------------------- in place


def test_in_place_change_of_a_saved_input_is_detected():
    x = leaf([1.0, 2.0])
    w = tlcore.tensor([3.0, 4.0])  # no grad: in-place allowed
    y = (x * w).sum()  # Mul saves w
    w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


@pytest.mark.parametrize("size", [5, autograd.AXPY_MIN_SIZE])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("other_kind", ["same", "broadcast", "other dtype", "strided"])
def test_add_with_alpha_equals_numpy_on_both_paths(size, dtype, other_kind):
    """add_(other, alpha=): numpy's data += alpha * other below AXPY_MIN_SIZE elements,
    kernels.axpy from it (same shape and dtype only); the same values either way, and a
    version bump, so that a graph that saved the tensor sees the change."""
    rng = np.random.default_rng(size)
    data = rng.standard_normal(size).astype(dtype)
    other = {"same": rng.standard_normal(size).astype(dtype),
             "broadcast": np.asarray(1.5, dtype),
             "other dtype": rng.standard_normal(size),  # float64 into float32 data too
             "strided": rng.standard_normal(2 * size).astype(dtype)[::2]}[other_kind]
    expected = data.copy()
    expected += -0.25 * other
    t = tlcore.tensor(data)
    before = t._version[0]
    assert t.add_(tlcore.tensor(other), alpha=-0.25) is t
    assert t._version[0] == before + 1 and t.data is data
    tolerance = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(data, expected, rtol=tolerance, atol=tolerance)


def test_in_place_change_through_a_view_is_detected():
    x = leaf(np.ones((2, 2)))
    w = tlcore.tensor(np.ones((2, 2)))
    y = (x * w).sum()
    view = w.reshape(4)
    view[0] = 5.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_in_place_change_of_a_saved_output_is_detected():
    x = leaf([0.5])
    e = x.exp()  # Exp saves its output
    with tlcore.no_grad():
        e.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        e.sum().backward()


def test_in_place_on_a_leaf_that_requires_grad_needs_no_grad():
    w = leaf([1.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        w.sub_(0.1)
    with tlcore.no_grad():
        w -= 0.5  # the manual SGD step
    np.testing.assert_allclose(w.data, [0.5])
    assert w.requires_grad and w.is_leaf


def test_in_place_after_backward_is_fine():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    loss.backward()
    with tlcore.no_grad():
        w.sub_(0.1 * w.grad)
    np.testing.assert_allclose(w.data, [0.8, 1.6])


# ----------------------------------------------------------------------------- memory


def _live_graph_objects():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, (Tensor, Function)))


def test_graph_is_freed_after_a_training_step():
    rng = np.random.default_rng(0)
    w = leaf(rng.standard_normal((4, 3)) * 0.1)
    b = leaf(np.zeros(3))
    x = tlcore.tensor(rng.standard_normal((8, 4)))
    t = rng.integers(0, 3, 8)

    def step():
        loss = ops.cross_entropy(ops.relu(x @ w + b).tanh(), t)
        loss.backward()
        with tlcore.no_grad():
            w.sub_(0.1 * w.grad)
            b.sub_(0.1 * b.grad)
        w.grad = b.grad = None

    step()
    before = _live_graph_objects()
    for _ in range(5):
        step()
    assert _live_graph_objects() == before


def test_no_reference_cycles_in_a_graph():
    gc.collect()
    gc.disable()
    try:
        x = leaf(np.ones(3))
        y = ((x * 2.0).exp() + x).sum()
        del y  # never backpropagated: refcounting alone must free the graph
        collected = gc.collect()
    finally:
        gc.enable()
    assert collected == 0


def test_backward_frees_saved_arrays():
    x = leaf(np.ones(3))
    e = x.exp()
    fn = e.creator
    e.sum().backward()
    assert not hasattr(fn, "out")


# ----------------------------------------------------------------------------- Tensor API


def test_tensor_construction_dtype_defaults():
    assert tlcore.tensor([1.0, 2.0]).dtype == np.float32
    assert tlcore.tensor(1.5).dtype == np.float32
    assert tlcore.tensor([1, 2]).dtype == np.int64
    assert tlcore.tensor(np.ones(2)).dtype == np.float64  # an array keeps its dtype
    assert tlcore.tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_tensor_basic_api():
    x = tlcore.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and len(x) == 2
    assert x.device == "cpu"
    assert x.sum().item() == 10.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(x.numpy(), np.ndarray)
    assert (x > 2.0).dtype == np.bool_ and not (x > 2.0).requires_grad
    np.testing.assert_array_equal((x == x).numpy(), np.ones((2, 2), bool))
    assert "requires_grad=True" in repr(leaf([1.0]))
    with pytest.raises(ValueError, match="one element"):
        x.item()


def test_numpy_array_on_the_left_defers_to_tensor():
    x = leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_bad_device_is_refused():
    with pytest.raises(ValueError, match="device"):
        tlcore.tensor([1.0], device="tpu")


def test_zero_dimensional_results_are_arrays():
    """numpy ufuncs turn 0-d arrays into scalars; the engine keeps tensors on arrays."""
    x = tlcore.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.sum() * 0.5).exp()
    assert isinstance(loss.data, np.ndarray) and loss.shape == ()
    assert loss.numpy().shape == () and "tensor(" in repr(loss)
    loss.backward()
    s = tlcore.tensor(3.0, requires_grad=True)
    (s * s).backward()
    assert isinstance(s.grad, np.ndarray) and s.grad == 6.0


def test_no_grad_as_a_decorator():
    x = leaf([1.0])

    @tlcore.no_grad()
    def evaluate(t):
        return t * 2.0

    y = evaluate(x)
    assert not y.requires_grad and tlcore.is_grad_enabled()


def test_gradient_flows_into_a_function_used_after_its_consumers_were_built():
    """Reverse creation order: a node built early but used late is still handled after
    all of its consumers (the heap walk of backward)."""
    x = leaf([1.0, 2.0])
    early = x * 3.0
    late = (x * x).sum()
    y = late + early.sum() + (early * early).sum()  # 3x + x^2 + 9x^2 per element
    y.backward()
    np.testing.assert_allclose(x.grad, 3.0 + 20.0 * np.array([1.0, 2.0]))


def test_a_function_instance_is_one_node():
    from tlcore.ops.elementwise import Exp
    exp = Exp()
    exp(leaf([1.0]))
    with pytest.raises(RuntimeError, match="called twice"):
        exp(leaf([2.0]))
