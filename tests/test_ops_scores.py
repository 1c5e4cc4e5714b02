"""embedding_scores, hinge_max_loss, hinge_sum_loss and the fused embedding_hinge_max_loss
(ops/scores.py).

Finite differences over hypothesis shapes, every reduction and strided inputs, drawn
away from the losses' kinks (a margin exactly met, a tie for the hardest other class);
the fused loss against the composition of the two ops, in value and gradient, on every
kernel backend this machine has; PyTorch as an oracle; clear errors at the boundary.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import array, check_against_torch, hinge_kink_distance, leaf, torch_or_skip

import tlcore
import tlcore.nn.functional as F
from tlcore import gradcheck, kernels, ops

seeds = st.integers(0, 2**32 - 1)
REDUCTIONS = ["mean", "sum", "none"]
SPACING = 0.7  # scores of one row lie this far apart, plus noise below NOISE
NOISE = 0.1


def _strided(values):
    """The same values as a non-contiguous view (every other element of a larger array)."""
    big = np.zeros(tuple(2 * n for n in values.shape))
    view = big[tuple(slice(None, None, 2) for _ in values.shape)]
    view[...] = values
    return view


def _scores_away_from_kinks(rng, n, c, strided=False):
    """Scores (n, c) whose entries in a row differ by at least SPACING - 2 NOISE (no
    near-ties in the max), with margins (odd multiples of SPACING / 2) that keep every
    hinge argument k - S[n, y_n] + S[n, c], c != y_n, at least SPACING / 2 - 2 NOISE from
    zero (no sample, and no pair of the sum form, on the hinge's kink)."""
    rows = np.stack([rng.permutation(c) for _ in range(n)]) * SPACING
    scores = rows + rng.uniform(-NOISE, NOISE, (n, c))
    return _strided(scores) if strided else scores


def _hinge_max_numpy(scores, target, margin):
    rows = np.arange(len(target))
    others = scores.copy()
    others[rows, target] = -np.inf
    return np.maximum(0, margin - scores[rows, target] + others.max(axis=1))


def _hinge_sum_numpy(scores, target, margin, weight):
    """A plain loop over the pairs: loss (N,) and the gradient of sum_n weight[n] loss[n]."""
    losses, grad = np.zeros(len(target)), np.zeros(scores.shape)
    for n, y in enumerate(target):
        for c in range(scores.shape[1]):
            term = margin - scores[n, y] + scores[n, c]
            if c != y and term > 0:
                losses[n] += term
                grad[n, c] += weight[n]
                grad[n, y] -= weight[n]
    return losses, grad


def _hinge_sum_kink_distance(scores, target, margin):
    """The smallest |margin - S[n, y_n] + S[n, c]| over c != y_n."""
    rows = np.arange(len(target))
    arguments = margin - scores[rows, target][:, None] + scores
    arguments[rows, target] = np.inf
    return np.abs(arguments).min()


def _reduce(losses, reduction):
    return {"mean": losses.mean, "sum": losses.sum}.get(reduction, lambda: losses)()


def _embeddings_away_from_kinks(rng, n, c, d, margin, strided=False, distance=0.05):
    """f (n, d), g (c, d), target (n,) whose scores keep ``distance`` from the kinks."""
    for _ in range(1000):
        f, g = rng.standard_normal((n, d)), rng.standard_normal((c, d))
        target = rng.integers(0, c, n)
        if hinge_kink_distance(f @ g.T, target, margin) > distance:
            return (_strided(f), _strided(g), target) if strided else (f, g, target)
    raise AssertionError("no draw away from the kinks")  # pragma: no cover


# -- embedding_scores --------------------------------------------------------------------


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), seeds, st.booleans())
def test_embedding_scores_is_f_g_transposed_and_passes_gradcheck(n, c, d, seed, strided):
    rng = np.random.default_rng(seed)
    f, g = array(rng, (n, d), noncontiguous=strided), array(rng, (c, d), noncontiguous=strided)
    out = ops.embedding_scores(leaf(f), leaf(g))
    np.testing.assert_allclose(out.numpy(), f @ g.T, rtol=1e-12, atol=1e-12)
    assert gradcheck(ops.embedding_scores, [leaf(f), leaf(g)])


def test_embedding_scores_matches_pytorch():
    rng = np.random.default_rng(0)
    check_against_torch(ops.embedding_scores, lambda f, g: f @ g.T,
                        [rng.standard_normal((5, 3)), rng.standard_normal((4, 3))])


def test_embedding_scores_keeps_float32_and_reaches_only_inputs_that_need_grad():
    f = tlcore.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    g = tlcore.tensor(np.ones((4, 3), np.float32))
    out = F.embedding_scores(f, g)
    assert out.dtype == np.float32
    out.sum().backward()
    assert f.grad.dtype == np.float32 and g.grad is None
    np.testing.assert_allclose(f.grad, np.full((2, 3), 4.0))


# -- hinge_max_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(st.integers(1, 4), st.integers(2, 5), seeds, st.booleans(),
       st.sampled_from([0.5 * SPACING, 1.5 * SPACING]))
def test_hinge_max_loss_forward_and_gradcheck(reduction, n, c, seed, strided, margin):
    rng = np.random.default_rng(seed)
    scores = _scores_away_from_kinks(rng, n, c, strided)
    target = rng.integers(0, c, n)
    out = ops.hinge_max_loss(leaf(scores), target, margin, reduction)
    expected = _reduce(_hinge_max_numpy(scores, target, margin), reduction)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda s: ops.hinge_max_loss(s, target, margin, reduction), [leaf(scores)])


def test_hinge_max_loss_gradient_is_minus_at_the_true_class_plus_at_the_hardest_other():
    scores = leaf(np.array([[3.0, 2.5, 0.0], [0.0, 1.0, 5.0], [0.0, 9.0, 1.0]]))
    target = np.array([0, 1, 1])
    loss = F.hinge_max_loss(scores, target, margin=1.0, reduction="sum")
    assert loss.item() == pytest.approx(0.5 + 5.0 + 0.0)  # the third sample meets its margin
    loss.backward()
    np.testing.assert_array_equal(scores.grad, [[-1, 1, 0], [0, -1, 1], [0, 0, 0]])


def test_hinge_max_loss_matches_pytorch():
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    scores = _scores_away_from_kinks(rng, 6, 4)
    target = rng.integers(0, 4, 6)

    def torch_loss(s):
        t = torch.from_numpy(target)
        true = s.gather(1, t[:, None])[:, 0]
        others = s.masked_fill(torch.nn.functional.one_hot(t, 4).bool(), -float("inf"))
        return torch.clamp(0.35 - true + others.max(dim=1).values, min=0).mean()

    check_against_torch(lambda s: ops.hinge_max_loss(s, target, 0.35), torch_loss, [scores])


def test_hinge_max_loss_is_zero_once_every_margin_is_met():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 5, 8)
    scores = rng.uniform(-1, 1, (8, 5))
    scores[np.arange(8), target] = 3.5  # beats every other class by more than 2
    x = leaf(scores)
    for reduction in REDUCTIONS:
        loss = ops.hinge_max_loss(x, target, margin=2.0, reduction=reduction)
        np.testing.assert_array_equal(loss.numpy(), 0.0)
        x.grad = None
        loss.sum().backward()
        np.testing.assert_array_equal(x.grad, 0.0)
    assert ops.hinge_max_loss(x, target, margin=5.0).item() > 0  # a wider margin is not met


def test_hinge_max_loss_breaks_ties_towards_the_first_other_class():
    x = leaf(np.array([[0.0, 2.0, 2.0]]))
    ops.hinge_max_loss(x, np.array([0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [[-1, 1, 0]])


# -- hinge_sum_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(st.integers(1, 4), st.integers(2, 5), seeds, st.booleans(),
       st.sampled_from([0.5 * SPACING, 1.5 * SPACING]))
def test_hinge_sum_loss_forward_backward_and_gradcheck(reduction, n, c, seed, strided,
                                                        margin):
    rng = np.random.default_rng(seed)
    scores = _scores_away_from_kinks(rng, n, c, strided)
    target = rng.integers(0, c, n)
    assert _hinge_sum_kink_distance(scores, target, margin) >= 0.1
    x = leaf(scores)
    out = ops.hinge_sum_loss(x, target, margin, reduction)
    cotangent = rng.standard_normal(out.shape)
    out.backward(cotangent)
    weight = np.broadcast_to(cotangent / (n if reduction == "mean" else 1), (n,))
    losses, grad = _hinge_sum_numpy(scores, target, margin, weight)
    np.testing.assert_allclose(out.numpy(), _reduce(losses, reduction), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(x.grad, grad, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda s: ops.hinge_sum_loss(s, target, margin, reduction), [leaf(scores)])


def test_hinge_sum_loss_gradient_counts_every_active_wrong_class():
    scores = leaf(np.array([[3.0, 2.5, 2.8], [-0.5, 1.0, 5.0], [0.0, 9.0, 1.0]]))
    target = np.array([0, 1, 1])
    loss = F.hinge_sum_loss(scores, target, margin=1.0, reduction="sum")
    # 0.5 + 0.8; class 0 of the second sample and the whole third sample meet the margin
    assert loss.item() == pytest.approx(1.3 + 5.0)
    loss.backward()
    np.testing.assert_array_equal(scores.grad, [[-2, 1, 1], [0, -1, 1], [0, 0, 0]])


def test_hinge_sum_loss_equals_hinge_max_loss_with_two_classes():
    rng = np.random.default_rng(2)
    scores, target = _scores_away_from_kinks(rng, 6, 2), rng.integers(0, 2, 6)
    x_sum, x_max = leaf(scores), leaf(scores)
    loss_sum = ops.hinge_sum_loss(x_sum, target, 0.35, "none")
    loss_max = ops.hinge_max_loss(x_max, target, 0.35, "none")
    np.testing.assert_allclose(loss_sum.numpy(), loss_max.numpy(), rtol=1e-12, atol=1e-12)
    cotangent = rng.standard_normal(6)
    loss_sum.backward(cotangent)
    loss_max.backward(cotangent)
    np.testing.assert_allclose(x_sum.grad, x_max.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_sum_loss_is_pytorch_multi_margin_loss_times_the_classes(reduction):
    torch = torch_or_skip()
    rng = np.random.default_rng(4)
    scores = _scores_away_from_kinks(rng, 6, 4, strided=True)
    target = rng.integers(0, 4, 6)

    def torch_loss(s):  # PyTorch divides each sample's sum of hinges by C
        return 4 * torch.nn.functional.multi_margin_loss(
            s, torch.from_numpy(target), p=1, margin=1.05, reduction=reduction)

    check_against_torch(lambda s: ops.hinge_sum_loss(s, target, 1.05, reduction),
                        torch_loss, [scores])


def test_hinge_sum_loss_keeps_float32():
    x = tlcore.tensor(np.array([[1.0, 0.5, 0.0]], np.float32), requires_grad=True)
    loss = F.hinge_sum_loss(x, np.array([0]), margin=1.0)
    assert loss.dtype == np.float32 and loss.item() == pytest.approx(0.5)
    loss.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[-1, 1, 0]])


# -- the fused loss ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(st.integers(1, 4), st.integers(2, 4), st.integers(1, 4), seeds, st.booleans())
def test_fused_loss_equals_the_composition_and_passes_gradcheck(reduction, n, c, d, seed,
                                                                 strided):
    rng = np.random.default_rng(seed)
    f, g, target = _embeddings_away_from_kinks(rng, n, c, d, 0.5, strided)
    fused_f, fused_g, plain_f, plain_g = leaf(f), leaf(g), leaf(f), leaf(g)
    fused = ops.embedding_hinge_max_loss(fused_f, fused_g, target, 0.5, reduction)
    plain = ops.hinge_max_loss(ops.embedding_scores(plain_f, plain_g), target, 0.5, reduction)
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-12, atol=1e-12)
    cotangent = rng.standard_normal(fused.shape)
    fused.backward(cotangent)
    plain.backward(cotangent)
    np.testing.assert_allclose(fused_f.grad, plain_f.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused_g.grad, plain_g.grad, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda a, b: ops.embedding_hinge_max_loss(a, b, target, 0.5, reduction),
                     [leaf(f), leaf(g)])


@pytest.mark.parametrize("backend", [name for name in kernels.available() if name != "cupy"])
def test_fused_loss_gives_the_reference_result_on_every_kernel_backend(backend):
    """CPU backends, and gradcheck through each; the cupy kernels are checked on GPU
    arrays in test_gpu.py."""
    rng = np.random.default_rng(7)
    f, g, target = _embeddings_away_from_kinks(rng, 9, 5, 4, 1.0, strided=True)
    results = []
    for name in ("numpy", backend):
        a, b = leaf(f), leaf(g)
        with kernels.use(name):
            loss = F.embedding_hinge_max_loss(a, b, target)
            loss.backward()
        results.append((loss.item(), a.grad, b.grad))
    for reference, other in zip(*results):
        np.testing.assert_allclose(other, reference, rtol=1e-12, atol=1e-12)
    with kernels.use(backend):  # the backend's own forward and backward kernels
        assert gradcheck(lambda a, b: ops.embedding_hinge_max_loss(a, b, target, 1.0),
                         [leaf(f), leaf(g)])


def test_fused_loss_keeps_float32_and_sums_grad_of_classes_shared_by_samples():
    f = tlcore.tensor(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), requires_grad=True)
    g = tlcore.tensor(np.array([[0.0, 0.0], [1.0, 1.0]], np.float32), requires_grad=True)
    loss = F.embedding_hinge_max_loss(f, g, np.array([0, 0]), reduction="sum")
    assert loss.dtype == np.float32 and loss.item() == pytest.approx(4.0)
    loss.backward()
    assert f.grad.dtype == g.grad.dtype == np.float32
    np.testing.assert_allclose(f.grad, [[1, 1], [1, 1]])  # g[1] - g[0] for both samples
    np.testing.assert_allclose(g.grad, [[-1, -1], [1, 1]])  # both samples on both rows


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(st.integers(1, 5), st.integers(2, 6), st.integers(1, 4), seeds, st.booleans())
def test_the_composition_backward_is_the_sparse_one_and_the_dense_one_alike(
        reduction, n, c, d, seed, strided):
    """hinge_max_loss's gradient of the scores reaches embedding_scores as a
    HingeGradient, which takes the sparse products: the same gradients as the two dense
    GEMMs written out in numpy, and a gradcheck through the composition. A retained
    .grad of the scores is a plain array of every entry of dS."""
    rng = np.random.default_rng(seed)
    f, g, target = _embeddings_away_from_kinks(rng, n, c, d, 0.5, strided)
    a, b = leaf(f), leaf(g)
    scores = ops.embedding_scores(a, b)
    scores.retain_grad()
    loss = ops.hinge_max_loss(scores, target, 0.5, reduction)
    sparse_calls = []
    sparse = kernels.hinge_max_backward

    def counted(*args):
        sparse_calls.append(1)
        return sparse(*args)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "hinge_max_backward", counted)
        loss.backward(rng.standard_normal(loss.shape))
    assert sparse_calls == [1]
    dense = scores.grad
    assert type(dense) is np.ndarray
    np.testing.assert_allclose(a.grad, dense @ g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad, dense.T @ f, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda p, q: ops.hinge_max_loss(ops.embedding_scores(p, q), target, 0.5,
                                                     reduction), [leaf(f), leaf(g)])


def test_a_gradient_computed_from_the_hinge_gradient_is_read_densely():
    """Scores used twice: their gradients add up, and the sum (a plain array, no sparse
    form) takes the dense GEMMs, right."""
    rng = np.random.default_rng(3)
    f, g, target = _embeddings_away_from_kinks(rng, 6, 4, 3, 0.5, False)
    a, b = leaf(f), leaf(g)
    scores = ops.embedding_scores(a, b)
    loss = ops.hinge_max_loss(scores, target, 0.5) + (scores * scores).sum()
    loss.backward()
    hinge_part = F.hinge_max_loss(tlcore.tensor(f @ g.T, requires_grad=True), target, 0.5)
    s_leaf = tlcore.tensor(f @ g.T, requires_grad=True)
    total = ops.hinge_max_loss(s_leaf, target, 0.5) + (s_leaf * s_leaf).sum()
    total.backward()
    assert hinge_part.item() == pytest.approx(ops.hinge_max_loss(scores, target, 0.5).item())
    np.testing.assert_allclose(a.grad, np.asarray(s_leaf.grad) @ g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad, np.asarray(s_leaf.grad).T @ f, rtol=1e-12, atol=1e-12)


# -- errors ------------------------------------------------------------------------------


def test_bad_inputs_get_clear_errors():
    scores, target = leaf(np.zeros((3, 4))), np.array([0, 1, 2])
    with pytest.raises(TypeError, match="integer class indices"):
        ops.hinge_max_loss(scores, target.astype(float))
    with pytest.raises(IndexError, match="class 4, outside"):
        ops.hinge_max_loss(scores, np.array([0, 1, 4]))
    with pytest.raises(IndexError, match="class -1"):
        ops.hinge_max_loss(scores, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="target has shape"):
        ops.hinge_max_loss(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        ops.hinge_max_loss(leaf(np.zeros((3, 1))), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"scores of shape \(N, C\)"):
        ops.hinge_max_loss(leaf(np.zeros(4)), np.array(0))
    with pytest.raises(ValueError, match="reduction must be one of"):
        ops.hinge_max_loss(scores, target, reduction="batchmean")
    for margin in (-1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="margin must be a finite number >= 0"):
            ops.hinge_max_loss(scores, target, margin=margin)
    with pytest.raises(ValueError, match="hinge_sum_loss needs at least 2 classes"):
        ops.hinge_sum_loss(leaf(np.zeros((3, 1))), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"hinge_sum_loss needs scores of shape \(N, C\)"):
        ops.hinge_sum_loss(leaf(np.zeros(4)), np.array(0))
    with pytest.raises(IndexError, match="class 4, outside"):
        ops.hinge_sum_loss(scores, np.array([0, 1, 4]))
    with pytest.raises(IndexError, match="class -1"):
        ops.hinge_sum_loss(scores, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="integer class indices"):
        ops.hinge_sum_loss(scores, target.astype(float))
    with pytest.raises(ValueError, match="reduction must be one of"):
        ops.hinge_sum_loss(scores, target, reduction="batchmean")
    for margin in (-1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="margin must be a finite number >= 0"):
            ops.hinge_sum_loss(scores, target, margin=margin)
    f, g = leaf(np.zeros((3, 2))), leaf(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="same space"):
        ops.embedding_scores(f, g)
    with pytest.raises(ValueError, match="same space"):
        ops.embedding_hinge_max_loss(f, g, target)
    with pytest.raises(ValueError, match=r"f of shape \(N, D\)"):
        ops.embedding_scores(leaf(np.zeros(3)), g)
    with pytest.raises(ValueError, match="at least 2 class embeddings"):
        ops.embedding_hinge_max_loss(leaf(np.zeros((3, 2))), leaf(np.zeros((1, 2))),
                                     np.zeros(3, int))
    with pytest.raises(IndexError, match="outside"):
        ops.embedding_hinge_max_loss(leaf(np.zeros((3, 2))), leaf(np.zeros((2, 2))), target)
