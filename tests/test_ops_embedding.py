"""ops.embedding (the Embedding Function): rows of a table picked by integer indices.

Its backward accumulates repeated indices by sort + np.add.reduceat; it is checked by
finite differences over 0-D to 3-D index arrays, against np.add.at on random repeated
indices, against PyTorch's F.embedding (padding_idx included), for dtypes, and for
clear errors."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, leaf, torch_or_skip

import tlcore
from tlcore import gradcheck, ops
from tlcore.ops.embedding import accumulate_rows

seeds = st.integers(0, 2**32 - 1)
INDEX_SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


def _repeated_indices(rng, shape, num_rows):
    """Random indices of ``shape`` in [0, num_rows), drawn so that some repeat."""
    return rng.integers(0, num_rows, shape)


def _numpy_embedding_grad(indices, g, num_rows, padding_idx=None):
    """The scatter-add definition: grad[indices[k]] += g[k], with np.add.at."""
    flat, rows = indices.reshape(-1), g.reshape(-1, g.shape[-1])
    grad = np.zeros((num_rows, g.shape[-1]), g.dtype)
    np.add.at(grad, flat, rows)
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad


@pytest.mark.parametrize("index_shape", INDEX_SHAPES, ids=["0d", "1d", "2d", "3d"])
@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
def test_embedding_gradcheck_with_repeated_indices(index_shape, strided):
    rng = np.random.default_rng(0)
    weight = leaf(array(rng, (4, 3), noncontiguous=strided))
    indices = _repeated_indices(rng, index_shape, 4)
    out = ops.embedding(indices, weight)
    assert out.shape == index_shape + (3,)
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[indices])
    assert gradcheck(lambda w: ops.embedding(indices, w), [weight])


def test_embedding_gradcheck_every_row_read_several_times():
    rng = np.random.default_rng(1)
    weight = leaf(rng.standard_normal((3, 2)))
    indices = np.array([[2, 0, 2, 1], [0, 0, 1, 2]])
    assert gradcheck(lambda w: ops.embedding(indices, w), [weight])


@given(num_rows=st.integers(1, 6), dim=st.integers(1, 4),
       index_shape=st.lists(st.integers(1, 5), max_size=3).map(tuple), seed=seeds,
       use_padding=st.booleans())
def test_embedding_backward_matches_add_at(num_rows, dim, index_shape, seed, use_padding):
    rng = np.random.default_rng(seed)
    weight = leaf(rng.standard_normal((num_rows, dim)))
    indices = _repeated_indices(rng, index_shape, num_rows)
    padding_idx = int(rng.integers(0, num_rows)) if use_padding else None
    out = ops.embedding(indices, weight, padding_idx)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    np.testing.assert_allclose(weight.grad,
                               _numpy_embedding_grad(indices, g, num_rows, padding_idx),
                               rtol=1e-12, atol=1e-12)


def test_accumulate_rows_sums_runs_of_equal_indices():
    rows = np.arange(10.0).reshape(5, 2)
    out = accumulate_rows(np.array([3, 0, 3, 3, 1]), rows, 5)
    np.testing.assert_array_equal(out, [[2, 3], [8, 9], [0, 0], [0 + 4 + 6, 1 + 5 + 7], [0, 0]])


# -- padding_idx -------------------------------------------------------------------------


@pytest.mark.parametrize("padding_idx", [0, 2])
def test_embedding_padding_row_is_read_but_gets_zero_gradient(padding_idx):
    rng = np.random.default_rng(2)
    weight = leaf(rng.standard_normal((4, 3)))
    indices = np.array([[0, 2, 2], [1, 0, 3]])
    out = ops.embedding(indices, weight, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[indices])  # still read
    out.backward(rng.standard_normal(out.shape))
    np.testing.assert_array_equal(weight.grad[padding_idx], 0)
    assert np.all(weight.grad[3] != 0)


def test_embedding_padding_only_indices_give_a_zero_gradient():
    weight = leaf(np.ones((3, 2)))
    ops.embedding(np.array([1, 1, 1]), weight, padding_idx=1).sum().backward()
    np.testing.assert_array_equal(weight.grad, np.zeros((3, 2)))


def test_embedding_negative_padding_idx_counts_from_the_end():
    """PyTorch's F.embedding: padding_idx=-1 is the last row (num_embeddings - 1)."""
    weight = leaf(np.ones((4, 2)))
    ops.embedding(np.array([3, 1, 3]), weight, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(weight.grad, [[0, 0], [1, 1], [0, 0], [0, 0]])


# -- PyTorch oracle ----------------------------------------------------------------------


@pytest.mark.parametrize("padding_idx", [None, 1, -2])
@pytest.mark.parametrize("index_shape", INDEX_SHAPES[1:], ids=["1d", "2d", "3d"])
def test_embedding_matches_pytorch(index_shape, padding_idx):
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    weight_data = rng.standard_normal((5, 3))
    indices = _repeated_indices(rng, index_shape, 5)
    weight = leaf(weight_data)
    out = ops.embedding(indices, weight, padding_idx)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    twin = torch.from_numpy(weight_data).requires_grad_()
    expected = torch.nn.functional.embedding(torch.from_numpy(indices), twin, padding_idx)
    expected.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(weight.grad, twin.grad.numpy(), rtol=1e-12, atol=1e-14)


# -- inputs and dtypes -------------------------------------------------------------------


def test_embedding_float32_stays_float32():
    weight = tlcore.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    out = ops.embedding(np.array([0, 3, 3]), weight)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    assert weight.grad.dtype == np.float32
    np.testing.assert_array_equal(weight.grad[:, 0], [1, 0, 0, 2])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_embedding_takes_any_integer_indices_and_a_tensor_of_them(dtype):
    weight = leaf(np.arange(8.0).reshape(4, 2))
    indices = np.array([[3, 0]], dtype)
    for given_indices in (indices, tlcore.tensor(indices)):
        out = ops.embedding(given_indices, weight)
        np.testing.assert_array_equal(out.numpy(), [[[6, 7], [0, 1]]])


def test_embedding_of_no_indices_is_empty_with_a_zero_gradient():
    weight = leaf(np.ones((3, 2)))
    out = ops.embedding(np.zeros((0,), np.int64), weight)
    assert out.shape == (0, 2)
    out.backward(np.zeros((0, 2)))
    np.testing.assert_array_equal(weight.grad, np.zeros((3, 2)))


def test_embedding_weight_without_grad_records_nothing():
    weight = leaf(np.ones((3, 2)), requires_grad=False)
    out = ops.embedding(np.array([0, 2]), weight)
    assert not out.requires_grad and out.creator is None


# -- errors ------------------------------------------------------------------------------


def test_embedding_float_indices_are_refused():
    with pytest.raises(TypeError, match="embedding: indices must hold integer row indices, "
                                        "got dtype float64"):
        ops.embedding(np.array([0.0, 1.0]), leaf(np.ones((3, 2))))


@pytest.mark.parametrize("bad", [-1, -4, 3, 7])
def test_embedding_index_out_of_range_is_named(bad):
    indices = np.array([0, bad, 1])
    with pytest.raises(IndexError, match=re.escape(f"embedding: indices holds row {bad}, "
                                                   "outside [0, 3)")):
        ops.embedding(indices, leaf(np.ones((3, 2))))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 2)])
def test_embedding_weight_must_be_2d(shape):
    with pytest.raises(ValueError, match=re.escape(f"weight must be 2-D (num_embeddings, dim), "
                                                   f"got shape {shape}")):
        ops.embedding(np.array([0]), leaf(np.ones(shape)))


@pytest.mark.parametrize("padding_idx", [3, -4])
def test_embedding_padding_idx_out_of_range_is_refused(padding_idx):
    """PyTorch asserts 'Padding_idx must be within num_embeddings'."""
    with pytest.raises(ValueError, match="padding_idx"):
        ops.embedding(np.array([0]), leaf(np.ones((3, 2))), padding_idx=padding_idx)


def test_indices_changed_after_the_call_do_not_misdirect_the_gradient():
    weight = tlcore.tensor(np.ones((4, 2)), requires_grad=True)
    indices = np.array([0, 1])
    out = ops.embedding(indices, weight)
    indices[:] = 3
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad, [[1, 1], [1, 1], [0, 0], [0, 0]])


def test_indices_may_be_a_list():
    weight = tlcore.tensor(np.arange(8.0).reshape(4, 2))
    np.testing.assert_array_equal(ops.embedding([3, 0], weight).data, [[6, 7], [0, 1]])
