"""Shape ops: reshape, permute, transpose, .T, flatten, indexing, concat, stack.

Gradients are checked by finite differences (float64, hypothesis shapes, strided
inputs), forwards against numpy, indexing with repeated indices against PyTorch, and
bad shapes against clear error messages.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (array, broadcastable_shapes, check_against_torch, leaf, shapes,
                        torch_or_skip)

import tlcore
from tlcore import gradcheck, ops

seeds = st.integers(0, 2**32 - 1)


# -- reshape -----------------------------------------------------------------------------


@st.composite
def reshape_targets(draw):
    """(shape, new_shape): the same elements in another arrangement, maybe with a -1."""
    shape = draw(shapes(max_dims=3))
    size = int(np.prod(shape))
    factors = [d for d in range(1, size + 1) if size % d == 0]
    first = draw(st.sampled_from(factors))
    new = [first, size // first]
    if draw(st.booleans()):
        new[draw(st.integers(0, 1))] = -1
    if draw(st.booleans()):
        new.append(1)
    return shape, tuple(new)


@given(case=reshape_targets(), seed=seeds, strided=st.booleans())
def test_reshape_gradcheck_and_forward(case, seed, strided):
    shape, new = case
    data = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(data)
    np.testing.assert_array_equal(ops.reshape(x, new).numpy(), np.reshape(data, new))
    np.testing.assert_array_equal(x.reshape(*new).numpy(), np.reshape(data, new))
    assert gradcheck(lambda t: t.reshape(new), [x])


def test_reshape_to_incompatible_shape_names_both_shapes():
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape(
            "cannot reshape a tensor of shape (2, 3) (6 elements) into shape (4, 2)")):
        x.reshape(4, 2)


# -- permute, transpose, .T --------------------------------------------------------------


@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_permute_gradcheck_and_forward(shape, data, seed, strided):
    axes = data.draw(st.permutations(range(len(shape))))
    # a negative spelling of some axes means the same permutation
    axes = tuple(a - len(shape) if data.draw(st.booleans()) else a for a in axes)
    values = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(values)
    np.testing.assert_array_equal(ops.permute(x, axes).numpy(), np.transpose(values, axes))
    np.testing.assert_array_equal(x.permute(*axes).numpy(), np.transpose(values, axes))
    assert gradcheck(lambda t: t.permute(axes), [x])


@given(shape=shapes(min_dims=1, max_dims=4), seed=seeds, strided=st.booleans())
def test_transpose_without_axes_and_T_reverse_the_axes(shape, seed, strided):
    values = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(values)
    np.testing.assert_array_equal(x.transpose().numpy(), values.T)
    np.testing.assert_array_equal(x.T.numpy(), values.T)
    assert gradcheck(lambda t: t.T, [x])


@given(shape=shapes(min_dims=3, max_dims=4), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_transpose_with_two_axes_swaps_them(shape, data, seed, strided):
    n = len(shape)
    i = data.draw(st.integers(-n, n - 1))
    j = data.draw(st.integers(-n, n - 1))
    values = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(values)
    np.testing.assert_array_equal(x.transpose(i, j).numpy(), np.swapaxes(values, i, j))
    assert gradcheck(lambda t: t.transpose(i, j), [x])


@given(shape=shapes(min_dims=3, max_dims=4), data=st.data(), seed=seeds)
def test_transpose_with_all_axes_permutes(shape, data, seed):
    """Three or more axes given one by one are a permutation (numpy); two axes always
    swap (PyTorch), which for a matrix differs from numpy's transpose(0, 1)."""
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    values = array(np.random.default_rng(seed), shape)
    x = leaf(values)
    np.testing.assert_array_equal(x.transpose(*axes).numpy(), np.transpose(values, axes))
    np.testing.assert_array_equal(ops.transpose(x, axes).numpy(), np.transpose(values, axes))
    assert gradcheck(lambda t: t.transpose(axes), [x])


def test_transpose_two_axes_of_a_matrix_swaps_like_pytorch():
    torch = torch_or_skip()
    values = np.arange(6.0).reshape(2, 3)
    x = leaf(values)
    for i, j in [(1, 0), (-1, 0), (1, -2)]:
        expected = torch.from_numpy(values).transpose(i, j).numpy()
        np.testing.assert_array_equal(x.transpose(i, j).numpy(), expected)


def test_transpose_0_1_of_a_matrix_swaps_like_pytorch():
    x = leaf(np.arange(6.0).reshape(2, 3))
    assert x.transpose(0, 1).shape == (3, 2)


@pytest.mark.parametrize("axes", [(0, 0), (0, 5), (0,), (1, 0, 2)])
def test_permute_with_bad_axes_is_a_clear_error(axes):
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape(
            f"permute: axes {axes} are not a permutation of the 2 axes of a tensor of "
            "shape (2, 3)")):
        x.permute(axes)


# -- flatten -----------------------------------------------------------------------------


@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_flatten_gradcheck_and_forward(shape, data, seed, strided):
    n = len(shape)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, n - 1))
    # either spelling of an axis, like PyTorch
    start_arg = start - n if data.draw(st.booleans()) else start
    end_arg = end - n if data.draw(st.booleans()) else end
    values = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(values)
    expected_shape = shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    out = x.flatten(start_arg, end_arg)
    assert out.shape == expected_shape
    np.testing.assert_array_equal(out.numpy(), values.reshape(expected_shape))
    np.testing.assert_array_equal(ops.flatten(x).numpy(), values.reshape(-1))
    assert gradcheck(lambda t: ops.flatten(t, start_arg, end_arg), [x])


def test_flatten_matches_pytorch():
    torch = torch_or_skip()
    values = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for start, end in [(0, -1), (1, -1), (1, 2), (-3, -2), (2, 2)]:
        expected = torch.from_numpy(values).flatten(start, end).numpy()
        np.testing.assert_array_equal(leaf(values).flatten(start, end).numpy(), expected)


# -- indexing ----------------------------------------------------------------------------

BASE = (4, 5, 3)

BASIC_INDICES = [
    np.s_[1], np.s_[-1], np.s_[1:3], np.s_[::-1], np.s_[::2, 1], np.s_[..., -1],
    np.s_[None, 2, ..., ::-2], np.s_[:, None, 1:4:2], np.s_[-3:-1, ::-1, 0],
    np.s_[1, 2, 0], np.s_[...], np.s_[3:0:-2, -2:, None], np.s_[:, 10:],
]


INTEGER_INDICES = [  # each repeats at least one element
    np.s_[[0, 0, 2]],
    np.s_[np.array([3, 1, 3, 3])],
    np.s_[:, [4, 0, 4]],
    np.s_[[1, 1], :, [2, 2]],
    np.s_[np.array([[0, 1], [1, 0]])],
    np.s_[[-1, -1, 3]],
    np.s_[[0, 0], 1:3],
    np.s_[..., [2, 2, 2, 0]],
    np.s_[np.array([0, 0])[:, None], np.array([1, 1, 4])],
]


def _scatter_add(shape, index, out_grad):
    """The gradient of x[index] by a loop over the output: every element adds its own."""
    grad = np.zeros(shape)
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    for flat, g in zip(positions.ravel(), out_grad.ravel()):
        grad[np.unravel_index(flat, shape)] += g
    return grad


@pytest.mark.parametrize("index", BASIC_INDICES + INTEGER_INDICES, ids=repr)
@given(seed=seeds, strided=st.booleans())
def test_indexing_gradcheck_and_forward(index, seed, strided):
    """Basic and integer-array indices; repeated integer indices add their gradients up."""
    values = array(np.random.default_rng(seed), BASE, noncontiguous=strided)
    x = leaf(values)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), values[index])
    out_grad = np.random.default_rng(seed + 1).standard_normal(out.shape)
    out.backward(out_grad)
    np.testing.assert_allclose(x.grad, _scatter_add(BASE, index, out_grad), rtol=1e-12)
    assert gradcheck(lambda t: t[index], [x])


@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_drawn_integer_indices_with_repeats(shape, data, seed, strided):
    n = shape[0]
    index = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)))
    index = np.concatenate([index, index[:1]])  # at least one repeat
    values = array(np.random.default_rng(seed), shape, noncontiguous=strided)
    x = leaf(values)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), values[index])
    ones = np.ones(out.shape)
    out.backward(ones)
    counts = np.array([np.sum((index % n) == i) for i in range(n)], dtype=float)
    np.testing.assert_array_equal(x.grad, counts.reshape((n,) + (1,) * (len(shape) - 1))
                                  * np.ones(shape))
    assert gradcheck(lambda t: t[index], [x])


def test_repeated_index_gradient_counts_each_use():
    x = leaf(np.arange(4.0))
    x[[1, 1, 1, 3]].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, strided=st.booleans(),
       whole=st.booleans())
def test_boolean_mask_indexing(shape, seed, strided, whole):
    rng = np.random.default_rng(seed)
    values = array(rng, shape, noncontiguous=strided)
    mask = rng.random(shape if whole else shape[:1]) < 0.5
    x = leaf(values)
    out = x[mask]
    np.testing.assert_array_equal(out.numpy(), values[mask])
    out.backward(np.ones(out.shape))
    expected = np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)),
                               shape).astype(float)
    np.testing.assert_array_equal(x.grad, expected)
    assert gradcheck(lambda t: t[mask], [x])  # an empty selection included


@given(seed=seeds, strided=st.booleans())
def test_tensor_as_index(seed, strided):
    values = array(np.random.default_rng(seed), BASE, noncontiguous=strided)
    x = leaf(values)
    integer = tlcore.tensor([2, 0, 2])
    assert integer.dtype.kind == "i"
    np.testing.assert_array_equal(x[integer].numpy(), values[[2, 0, 2]])
    np.testing.assert_array_equal(x[integer, 1:].numpy(), values[[2, 0, 2], 1:])
    positive = x > 0  # a bool Tensor from a comparison
    np.testing.assert_array_equal(x[positive].numpy(), values[values > 0])
    x[integer].sum().backward()
    expected = np.zeros(BASE)
    expected[0] = 1.0
    expected[2] = 2.0
    np.testing.assert_array_equal(x.grad, expected)
    assert gradcheck(lambda t: t[integer, 1:], [x])
    assert gradcheck(lambda t: t[positive], [x])


def _torch_index(torch, index):
    """The same index for a torch tensor: arrays and lists become integer tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(torch.as_tensor(np.asarray(p)) if isinstance(p, (list, np.ndarray)) else p
                  for p in parts)
    return parts if isinstance(index, tuple) else parts[0]


@pytest.mark.parametrize("index", INTEGER_INDICES + [np.s_[1:, 1], np.s_[None, ..., 0]],
                         ids=repr)
def test_indexing_matches_pytorch(index):
    torch = torch_or_skip()
    rng = np.random.default_rng(7)
    values = rng.standard_normal(BASE)
    check_against_torch(lambda x: x[index], lambda x: x[_torch_index(torch, index)], [values],
                        rtol_out=0, rtol=1e-12, atol=0, name=repr(index))


# -- concat and stack --------------------------------------------------------------------


@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_concat_gradcheck_and_forward(shape, data, seed, strided):
    n = len(shape)
    axis = data.draw(st.integers(-n, n - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    rng = np.random.default_rng(seed)
    arrays = []
    for size in sizes:
        part = list(shape)
        part[axis] = size
        arrays.append(array(rng, tuple(part), noncontiguous=strided))
    xs = [leaf(a) for a in arrays]
    np.testing.assert_array_equal(ops.concat(xs, axis).numpy(), np.concatenate(arrays, axis))
    assert gradcheck(lambda *ts: ops.concat(ts, axis), xs)


@given(shape=shapes(min_dims=1, max_dims=3), data=st.data(), seed=seeds,
       strided=st.booleans())
def test_stack_gradcheck_and_forward(shape, data, seed, strided):
    n = len(shape)
    axis = data.draw(st.integers(-n - 1, n))
    count = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(seed)
    arrays = [array(rng, shape, noncontiguous=strided) for _ in range(count)]
    xs = [leaf(a) for a in arrays]
    np.testing.assert_array_equal(ops.stack(xs, axis).numpy(), np.stack(arrays, axis))
    assert gradcheck(lambda *ts: ops.stack(ts, axis), xs)


def test_concat_and_stack_gradients_match_pytorch():
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    check_against_torch(
        lambda x, y: ops.concat([x, y], axis=-1) * ops.stack([x[:, :1], y], axis=0).sum(axis=0),
        lambda x, y: torch.cat([x, y], dim=-1) * torch.stack([x[:, :1], y], dim=0).sum(dim=0),
        [a, b], rtol_out=1e-12, rtol=1e-12, atol=0)


def test_concat_shape_mismatch_names_the_shapes():
    a, b = leaf(np.zeros((2, 3))), leaf(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=re.escape(
            "concat along axis 0: shapes [(2, 3), (2, 4)] do not match")):
        ops.concat([a, b], axis=0)
    with pytest.raises(ValueError, match=re.escape(
            "concat along axis 1: shapes [(2, 3), (3,)] do not match")):
        ops.concat([a, leaf(np.zeros(3))], axis=1)
    with pytest.raises(ValueError, match=re.escape(
            "concat along axis 2: shapes [(2, 3), (2, 4)] do not match")):
        ops.concat([a, b], axis=2)
    with pytest.raises(ValueError, match="concat needs at least one tensor"):
        ops.concat([], axis=0)


def test_stack_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "stack needs tensors of one shape, got [(2, 3), (3, 2)]")):
        ops.stack([leaf(np.zeros((2, 3))), leaf(np.zeros((3, 2)))])


# -- errors shared by every op -----------------------------------------------------------


@given(pair=broadcastable_shapes(), seed=seeds, strided=st.booleans())
def test_broadcast_add_gradcheck(pair, seed, strided):
    rng = np.random.default_rng(seed)
    a = leaf(array(rng, pair[0], noncontiguous=strided))
    b = leaf(array(rng, pair[1], noncontiguous=strided))
    np.testing.assert_array_equal((a + b).numpy(), a.numpy() + b.numpy())
    assert gradcheck(lambda s, t: (s + t).reshape(-1)[::-1], [a, b])


def test_broadcast_mismatch_in_add_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "add: shapes (2, 3) and (4,) cannot be broadcast together")):
        leaf(np.zeros((2, 3))) + leaf(np.zeros(4))


def test_backward_on_a_non_scalar_without_a_gradient_is_an_error():
    y = leaf(np.zeros((2, 3)))[:, ::2]
    with pytest.raises(RuntimeError, match=re.escape(
            "backward() without a gradient needs a scalar (one-element) tensor; this one "
            "has shape (2, 2)")):
        y.backward()
