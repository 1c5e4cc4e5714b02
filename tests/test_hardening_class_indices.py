"""Class indices and row indices, one check for every op that takes them: any integer
dtype, signed or unsigned, in either byte order, is range-checked the same way and
computes the same result as native int64; bool, float and complex labels are refused."""

import re

import numpy as np
import pytest

import tlcore
from tlcore import ops

INTEGER_DTYPES = sorted({np.dtype(order + kind + str(size)).str
                         for order in "<>" for kind in "iu" for size in (1, 2, 4, 8)})


def _scores(n=4, c=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c))


def _embeddings():
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 2)), rng.standard_normal((3, 2))


# op name -> (call(labels) returning a tensor, the number of classes)
def _class_ops():
    f, g = _embeddings()
    return {
        "cross_entropy": (lambda t: ops.cross_entropy(tlcore.tensor(_scores()), t), 3),
        "nll_loss": (lambda t: ops.nll_loss(tlcore.tensor(_scores()), t), 3),
        "hinge_max_loss": (lambda t: ops.hinge_max_loss(tlcore.tensor(_scores()), t), 3),
        "hinge_sum_loss": (lambda t: ops.hinge_sum_loss(tlcore.tensor(_scores()), t), 3),
        "embedding_hinge_max_loss": (lambda t: ops.embedding_hinge_max_loss(
            tlcore.tensor(f), tlcore.tensor(g), t), 3),
        "embedding": (lambda t: ops.embedding(t, tlcore.tensor(_scores(3, 2))), 3),
    }


OPS = list(_class_ops())


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_every_integer_dtype_and_byte_order_gives_the_int64_result(op, dtype):
    call, _ = _class_ops()[op]
    labels = np.array([0, 2, 1, 2])
    expected = call(labels).numpy()
    np.testing.assert_allclose(call(labels.astype(dtype)).numpy(), expected, rtol=1e-12)
    strided = np.array([0, 9, 2, 9, 1, 9, 2, 9]).astype(dtype)[::2]
    np.testing.assert_allclose(call(strided).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [d for d in INTEGER_DTYPES if "i" in d])
@pytest.mark.parametrize("op", OPS)
def test_a_negative_label_is_refused_in_every_byte_order(op, dtype):
    call, classes = _class_ops()[op]
    with pytest.raises(IndexError, match=re.escape(f"{op}: ") + r".* -1, outside "
                       + re.escape(f"[0, {classes})")):
        call(np.array([0, -1, 1, 2]).astype(dtype))


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_a_label_past_the_last_class_is_refused_in_every_byte_order(op, dtype):
    call, classes = _class_ops()[op]
    with pytest.raises(IndexError, match=re.escape(f"{op}: ") + r".* 3, outside "
                       + re.escape(f"[0, {classes})")):
        call(np.array([0, 3, 1, 2]).astype(dtype))


@pytest.mark.parametrize("order", "<>")
@pytest.mark.parametrize("op", OPS)
def test_a_uint64_label_past_the_int64_range_is_named_as_it_is(op, order):
    call, _ = _class_ops()[op]
    huge = 2**63 + 5  # wraps to a negative number if cast to int64 first
    with pytest.raises(IndexError, match=re.escape(f"{huge}, outside")):
        call(np.array([0, huge, 1, 2], dtype=order + "u8"))


@pytest.mark.parametrize("labels", [
    np.array([True, False, True, False]),
    np.array([0.0, 1.0, 2.0, 1.0]),  # integral floats too, as PyTorch refuses them
    np.array([0.0, 1.0, 2.0, 1.0], dtype=">f8"),
    np.array([0, 1, 2, 1], dtype=object),
], ids=lambda a: a.dtype.str)
@pytest.mark.parametrize("op", OPS)
def test_non_integer_labels_are_refused_naming_op_and_dtype(op, labels):
    call, _ = _class_ops()[op]
    with pytest.raises(TypeError, match=re.escape(f"{op}: ") + r".*integer.*"
                       + re.escape(f"got dtype {labels.dtype}")):
        call(labels)


@pytest.mark.parametrize("op", OPS)
def test_complex_labels_are_refused_naming_the_dtype(op):
    call, _ = _class_ops()[op]
    with pytest.raises(TypeError, match="complex128"):
        call(np.array([0, 1, 2, 1], dtype=np.complex128))


@pytest.mark.parametrize("op", OPS)
def test_python_lists_of_ints_still_work(op):
    call, _ = _class_ops()[op]
    np.testing.assert_allclose(call([0, 2, 1, 2]).numpy(), call(np.array([0, 2, 1, 2])).numpy())


@pytest.mark.parametrize("dtype", [">i8", "<u2", ">u4"])
def test_big_endian_and_unsigned_labels_give_the_int64_gradient(dtype):
    logits = tlcore.tensor(_scores(), requires_grad=True)
    ops.cross_entropy(logits, np.array([0, 2, 1, 2])).backward()
    expected = logits.grad.copy()
    logits.grad = None
    ops.cross_entropy(logits, np.array([0, 2, 1, 2]).astype(dtype)).backward()
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-12)
