"""Every kernel of every backend (numpy, numba, native, cupy) against the plain reference.

The reference (kernels/reference.py) is the definition, run by no backend: the "numpy"
backend (kernels/backends/numpy_fast.py, memory-bounded and tuned) is tested against it
as every other. Each backend must give the same
shapes, dtypes and values on hypothesis-drawn inputs: odd sizes, a single row,
non-contiguous views, float32 and float64, and exact ties in a max (integer-valued
floats), where every backend must pick the same, first, index.

Tolerance. Values agree to a relative error of 1e-6 in float64 and 1e-4 in float32. A
sum whose terms cancel (a convolution, a scatter-add, margin - S[y] + S[m]) can be near
0 while its rounding error is not: that error is proportional to the sum of the terms'
magnitudes, not to the result. So each comparison also allows an absolute error of rtol
times the largest such magnitude, computed by the reference on |inputs| (``scale``).

A backend that lacks an op would silently run the numpy backend (the registry falls
back per op), so registration is a test of its own. The cupy backend runs where a GPU is
(``@pytest.mark.gpu``; conftest skips it elsewhere, with the reason).
"""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies import hinge_kink_distance, leaf
from backend_marks import CPU_BACKENDS

import tlcore
from tlcore import kernels, ops
from tlcore.kernels import entries, reference
from tlcore.kernels.backends import numpy_fast


BACKENDS = CPU_BACKENDS + [pytest.param("cupy", marks=pytest.mark.gpu)]
DTYPES = [(np.float32, 1e-4), (np.float64, 1e-6)]


# ----------------------------------------------------------------------------- helpers


def strided(data, noncontiguous):
    """``data`` itself, or the same values as a non-contiguous view (every other element
    of a twice larger array)."""
    if not noncontiguous:
        return data
    big = np.zeros(tuple(2 * n for n in data.shape), data.dtype)
    view = big[tuple(slice(None, None, 2) for _ in data.shape)]
    view[...] = data
    return view


def to_device(array):
    """A cupy copy of a numpy array, non-contiguous where ``array`` is."""
    import cupy
    if array.flags.c_contiguous:
        return cupy.asarray(array)
    big = cupy.zeros(tuple(2 * n for n in array.shape), array.dtype)
    view = big[tuple(slice(None, None, 2) for _ in array.shape)]
    view[...] = cupy.asarray(np.ascontiguousarray(array))
    return view


def run(backend, op, *args):
    """The ``backend`` kernel ``op`` on numpy ``args``; its results as numpy arrays."""
    assert op in kernels.ops(backend), f"backend {backend!r} has no kernel {op!r}"
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    if backend == "cupy":
        import cupy
        args = [to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        result = kernels.get(op, *args)(*args)
        if isinstance(result, tuple):
            return tuple(cupy.asnumpy(r) for r in result)
        return cupy.asnumpy(result)
    with kernels.use(backend):
        kernel = kernels.get(op, *arrays)
    return kernel(*args)


def assert_matches(result, expected, rtol, scale=None):
    """Same shape and dtype, and values within rtol, plus rtol * max(scale) absolutely
    (scale: the magnitudes whose sum the rounding error is proportional to)."""
    assert result.shape == expected.shape, (result.shape, expected.shape)
    assert result.dtype == expected.dtype, (result.dtype, expected.dtype)
    atol = 0.0 if scale is None else rtol * float(np.max(scale, initial=0.0))
    np.testing.assert_allclose(result, expected, rtol=rtol, atol=atol)


def flushed(expected, backend):
    """The reference's result as ``backend`` computes it: CuPy compiles every kernel with
    -ftz=true, so a float32 result below the smallest normal number is 0 there (as in
    cupy's own arithmetic)."""
    if backend != "cupy" or expected.dtype != np.float32:
        return expected
    return np.where(np.abs(expected) < np.finfo(np.float32).smallest_normal, 0, expected)


def values(rng, shape, dtype, ties):
    """Normal values, or with ``ties`` small integers (exact in any float dtype), so that
    maxima are shared by several elements."""
    if ties:
        return rng.integers(-2, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------- registry


# The kernels: one named entry each (kernels/entries.py), each defined in reference.py.
KERNELS = sorted(name for name, value in vars(entries).items()
                 if callable(value) and getattr(value, "__module__", "") == entries.__name__)


def test_every_kernel_has_a_plain_definition():
    assert len(KERNELS) == 11
    for name in KERNELS:
        assert callable(getattr(reference, name, None)), name
    assert not hasattr(reference, "register")  # the definition is not a backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_registers_every_kernel_of_the_reference(backend):
    """A missing op would fall back to numpy without a word: make it a failure."""
    missing = set(KERNELS) - set(kernels.ops(backend))
    assert not missing, f"backend {backend!r} lacks kernels {sorted(missing)}"
    assert set(kernels.ops(backend)) <= set(KERNELS)


# ----------------------------------------------------------------------------- conv2d


@st.composite
def conv_cases(draw):
    """(x shape, weight shape, stride, padding, dilation, groups) with a non-empty output."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = [max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 5))
            for k, p, d in zip(kernel, padding, dilation)]
    x_shape = (draw(st.integers(1, 3)), c_in, *size)
    w_shape = (c_out, c_in // groups, *kernel)
    return x_shape, w_shape, stride, padding, dilation, groups


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(case=conv_cases(), noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
@example(case=((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), (0, 0), (1, 1), 1), noncontiguous=False,
         seed=0)  # a single sample, a single pixel
def test_conv2d_kernels_match_reference(backend, dtype, rtol, case, noncontiguous, seed):
    x_shape, w_shape, *settings = case
    rng = np.random.default_rng(seed)
    x = strided(values(rng, x_shape, dtype, False), noncontiguous)
    w = strided(values(rng, w_shape, dtype, False), noncontiguous)
    out = reference.conv2d_forward(x, w, *settings)
    g = strided(values(rng, out.shape, dtype, False), noncontiguous)
    ax, aw, ag = np.abs(x), np.abs(w), np.abs(g)

    assert_matches(run(backend, "conv2d_forward", x, w, *settings), out, rtol,
                   reference.conv2d_forward(ax, aw, *settings))
    assert_matches(run(backend, "conv2d_backward_input", g, w, x_shape, *settings),
                   reference.conv2d_backward_input(g, w, x_shape, *settings), rtol,
                   reference.conv2d_backward_input(ag, aw, x_shape, *settings))
    assert_matches(run(backend, "conv2d_backward_weight", g, x, w_shape, *settings),
                   reference.conv2d_backward_weight(g, x, w_shape, *settings), rtol,
                   reference.conv2d_backward_weight(ag, ax, w_shape, *settings))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("c_in", [2, 9])  # K <= P and K > P: a GEMM per sample, or one
def test_conv2d_kernels_in_chunks_match_reference(backend, c_in, monkeypatch):
    """A batch whose columns exceed CONV2D_CHUNK_BYTES (numpy_fast's, which numba
    follows) goes in chunks of samples (here forced to one sample per chunk): the results
    must not change."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((5, c_in, 3, 4)), rng.standard_normal((4, c_in, 2, 2))
    settings = ((1, 1), (1, 1), (1, 1), 1)
    g = rng.standard_normal(reference.conv2d_forward(x, w, *settings).shape)
    expected = (reference.conv2d_forward(x, w, *settings),
                reference.conv2d_backward_input(g, w, x.shape, *settings),
                reference.conv2d_backward_weight(g, x, w.shape, *settings))
    monkeypatch.setattr(numpy_fast, "CONV2D_CHUNK_BYTES", 1)
    got = (run(backend, "conv2d_forward", x, w, *settings),
           run(backend, "conv2d_backward_input", g, w, x.shape, *settings),
           run(backend, "conv2d_backward_weight", g, x, w.shape, *settings))
    for result, reference_result in zip(got, expected):
        assert_matches(result, reference_result, 1e-12, np.abs(reference_result))


# ----------------------------------------------------------------------------- pooling


@st.composite
def pool_cases(draw):
    """(x shape, kernel, stride, padding), padding at most half the kernel (PyTorch)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    size = [max(1, k - 2 * p) + draw(st.integers(0, 5)) for k, p in zip(kernel, padding)]
    x_shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *size)
    return x_shape, kernel, stride, padding


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(case=pool_cases(), noncontiguous=st.booleans(), ties=st.booleans(),
       minus_inf=st.booleans(), seed=st.integers(0, 2**16))
@example(case=((1, 1, 2, 2), (2, 2), (2, 2), (0, 0)), noncontiguous=False, ties=True,
         minus_inf=False, seed=0)  # one window of ties
def test_maxpool2d_kernels_match_reference(backend, dtype, rtol, case, noncontiguous, ties,
                                           minus_inf, seed):
    """Same maxima and the same indices, ties included: the first maximum in row-major
    window order (and with -inf values, a window of -inf takes its first real element)."""
    x_shape, *settings = case
    rng = np.random.default_rng(seed)
    data = values(rng, x_shape, dtype, ties)
    if minus_inf:
        data[data < 0] = -np.inf
    x = strided(data, noncontiguous)
    out, argmax = reference.maxpool2d_forward(x, *settings)
    got_out, got_argmax = run(backend, "maxpool2d_forward", x, *settings)
    assert_matches(got_out, out, rtol)
    assert got_argmax.dtype == np.int64
    np.testing.assert_array_equal(got_argmax, argmax)

    g = strided(values(rng, out.shape, dtype, False), noncontiguous)
    assert_matches(run(backend, "maxpool2d_backward", g, argmax, x_shape),
                   reference.maxpool2d_backward(g, argmax, x_shape), rtol,
                   reference.maxpool2d_backward(np.abs(g), argmax, x_shape))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 3), c=st.integers(1, 3), height=st.integers(2, 9),
       width=st.integers(2, 9), noncontiguous=st.booleans(), ties=st.booleans(),
       nan=st.booleans(), seed=st.integers(0, 2**16))
def test_maxpool2d_2x2_matches_reference(backend, dtype, rtol, n, c, height, width,
                                         noncontiguous, ties, nan, seed):
    """The most common pooling (2x2, stride 2, odd sizes drop the last row or column),
    which a backend may run by a kernel of its own. A NaN makes its window's output NaN."""
    rng = np.random.default_rng(seed)
    data = values(rng, (n, c, height, width), dtype, ties)
    if nan:
        data[rng.random(data.shape) < 0.1] = np.nan
    x = strided(data, noncontiguous)
    out, argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2), (0, 0))
    got_out, got_argmax = run(backend, "maxpool2d_forward", x, (2, 2), (2, 2), (0, 0))
    assert_matches(got_out, out, rtol)  # NaN where the reference has NaN
    if not nan:
        np.testing.assert_array_equal(got_argmax, argmax)


# -------------------------------------------------------------------- embedding scores


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 9), c=st.integers(1, 9), d=st.integers(1, 9),
       noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
def test_embedding_scores_match_reference(backend, dtype, rtol, n, c, d, noncontiguous,
                                          seed):
    rng = np.random.default_rng(seed)
    f = strided(values(rng, (n, d), dtype, False), noncontiguous)
    g = strided(values(rng, (c, d), dtype, False), noncontiguous)
    paired_g = strided(values(rng, (n, d), dtype, False), noncontiguous)
    assert_matches(run(backend, "embedding_scores", f, g), reference.embedding_scores(f, g),
                   rtol, np.abs(f) @ np.abs(g).T)
    assert_matches(run(backend, "embedding_scores", f, paired_g, True),
                   reference.embedding_scores(f, paired_g, paired=True), rtol,
                   np.sum(np.abs(f) * np.abs(paired_g), axis=1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 9), c=st.integers(2, 9), ties=st.booleans(),
       noncontiguous=st.booleans(), margin=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
@example(n=1, c=2, ties=True, noncontiguous=False, margin=1.0, seed=0)  # a single row
def test_hinge_max_forward_matches_reference(backend, dtype, rtol, n, c, ties, noncontiguous,
                                             margin, seed):
    """With ties the arg-max over the other classes is the first such index, and the
    true class is never taken, even when it holds the maximum. Ties include -0 == +0."""
    rng = np.random.default_rng(seed)
    data = values(rng, (n, c), dtype, ties)
    data[data == 0] *= rng.choice(np.array([-1, 1], dtype), np.count_nonzero(data == 0))
    scores = strided(data, noncontiguous)
    target = rng.integers(0, c, n)
    loss, negative = reference.hinge_max_forward(scores, target, margin)
    got_loss, got_negative = run(backend, "hinge_max_forward", scores, target, margin)
    assert got_negative.dtype == np.int64
    np.testing.assert_array_equal(got_negative, negative)
    rows = np.arange(n)
    scale = margin + np.abs(scores[rows, target]) + np.abs(scores[rows, negative])
    assert_matches(got_loss, loss, rtol, scale)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [2, 3, 17, 70])
def test_hinge_max_forward_special_scores_follow_the_reference(backend, dtype, c):
    """Scores among small integers, +-0, +-inf and NaNs of either sign (x86's default
    NaN, from inf * 0 or inf - inf, has its sign bit set): the first NaN is the arg-max,
    else the first largest (-0 == +0), else class 0 where every other score is -inf."""
    rng = np.random.default_rng(c)
    pool = np.array([-2, -1, 1, 2, 0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dtype)
    chance = np.array([1, 1, 1, 1, 2, 2, 1, 6, 0.2, 0.2])
    scores = rng.choice(pool, (60, c), p=chance / chance.sum())
    scores[0] = -np.inf  # every other score -inf, and the true one too
    target = rng.integers(0, c, 60)
    loss, negative = reference.hinge_max_forward(scores, target, 1.0)
    got_loss, got_negative = run(backend, "hinge_max_forward", scores, target, 1.0)
    np.testing.assert_array_equal(got_negative, negative)
    np.testing.assert_array_equal(got_loss, loss)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 60), c=st.integers(2, 70), d=st.sampled_from([1, 3, 17, 300]),
       ties=st.booleans(), noncontiguous=st.booleans(), margin=st.floats(0.0, 2.0),
       seed=st.integers(0, 2**16))
@example(n=1, c=2, d=1, ties=True, noncontiguous=False, margin=1.0, seed=0)
@example(n=60, c=70, d=300, ties=False, noncontiguous=True, margin=1.0, seed=1)  # 2 blocks
# a last panel of classes that holds less than one vector on every route (NR 32 or 16),
# which its tile and fold leave the padding vectors out of
@example(n=60, c=36, d=300, ties=True, noncontiguous=False, margin=1.0, seed=2)
def test_embedding_hinge_max_forward_matches_reference(backend, dtype, rtol, n, c, d, ties,
                                                       noncontiguous, margin, seed):
    """The forward from the embeddings, across the fused kernel's blocks (48 rows, 32
    classes, 256 steps of D). With ties (small integers: exact scores in any order) the
    arg-max is the reference's exactly; otherwise a backend's scores are the same sums
    in another order, so its pick must be a maximum to rounding, and the loss match."""
    rng = np.random.default_rng(seed)
    f = strided(values(rng, (n, d), dtype, ties), noncontiguous)
    g = strided(values(rng, (c, d), dtype, ties), noncontiguous)
    target = rng.integers(0, c, n)
    loss, negative = reference.embedding_hinge_max_forward(f, g, target, margin)
    got_loss, got_negative = run(backend, "embedding_hinge_max_forward", f, g, target, margin)
    assert got_negative.dtype == np.int64 and got_loss.dtype == loss.dtype
    rows = np.arange(n)
    scores, scale = f @ g.T, np.abs(f) @ np.abs(g).T
    if ties:
        np.testing.assert_array_equal(got_negative, negative)
    else:
        assert np.all(got_negative != target)
        tolerance = rtol * scale.max(axis=1)
        np.testing.assert_array_less(scores[rows, negative] - scores[rows, got_negative],
                                     tolerance + np.finfo(dtype).tiny)
    assert_matches(got_loss, loss, rtol, margin + scale[rows, target] + scale.max(axis=1))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_embedding_hinge_max_forward_nan_scores_follow_the_reference(backend):
    """A NaN score is the arg-max (the first one), and its loss stays NaN."""
    f = np.ones((3, 4), np.float32)
    f[1, 2] = np.nan  # every score of sample 1 is NaN
    g = np.arange(20, dtype=np.float32).reshape(5, 4)
    target = np.array([4, 0, 1])
    loss, negative = reference.embedding_hinge_max_forward(f, g, target, 1.0)
    got_loss, got_negative = run(backend, "embedding_hinge_max_forward", f, g, target, 1.0)
    np.testing.assert_array_equal(got_negative, negative)
    np.testing.assert_array_equal(got_loss, loss)  # NaN where the reference has NaN
    assert np.isnan(got_loss[1]) and got_negative[1] == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, c, d", [(7, 5, 3), (50, 70, 17), (60, 40, 300)])
def test_embedding_hinge_max_forward_infinite_scores_follow_the_reference(backend, dtype,
                                                                           n, c, d):
    """Scores of +-inf and NaN (from an infinite f times a g of +-1 or 0) amid exact
    integer scores, across the fused kernel's blocks of rows and classes and, at D = 300,
    its chunks of D: a NaN column is the arg-max, +inf beats every finite score, and a
    row whose other scores are all -inf takes class 0 (its own) with a loss of 0, as
    np.argmax and np.maximum do."""
    rng = np.random.default_rng(n)
    f = rng.integers(-2, 3, (n, d)).astype(dtype)
    g = rng.integers(-2, 3, (c, d)).astype(dtype)
    target = rng.integers(0, c, n)
    target[0] = favoured = 0  # the only class with g[:, 0] = +1; the arg-max of none
    g[:, 0] = -1
    g[favoured, 0] = 1
    if d > 1:  # inf * 0: a NaN score (x86's default NaN, its sign bit set)
        g[:, 1] = rng.choice(np.array([-1, 0, 1], dtype), c)
        f[:, 1] = rng.choice(np.array([1, np.inf, -np.inf], dtype), n)
    f[:, 0] = rng.choice(np.array([0, np.inf, -np.inf], dtype), n)
    f[0, 0] = np.inf  # every other score of sample 0 is -inf
    f[0, 1:] = 0
    with np.errstate(invalid="ignore"):  # inf * 0 in the score GEMMs: NaN on purpose
        loss, negative = reference.embedding_hinge_max_forward(f, g, target, 1.0)
        got_loss, got_negative = run(backend, "embedding_hinge_max_forward", f, g, target,
                                     1.0)
    assert d == 1 or np.isnan(loss).any()
    assert got_negative[0] == 0 and got_loss[0] == 0
    np.testing.assert_array_equal(got_negative, negative)
    np.testing.assert_array_equal(got_loss, loss)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 12), c=st.integers(2, 5), d=st.integers(1, 9),
       noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
@example(n=1, c=2, d=1, noncontiguous=False, seed=0)  # a single row
def test_hinge_max_backward_matches_reference(backend, dtype, rtol, n, c, d, noncontiguous,
                                              seed):
    """Few classes for many samples: the rows of grad_g gather several samples each, as
    negatives and as targets (the scatter-add every backend must get right)."""
    rng = np.random.default_rng(seed)
    f = strided(values(rng, (n, d), dtype, False), noncontiguous)
    g = strided(values(rng, (c, d), dtype, False), noncontiguous)
    target = rng.integers(0, c, n)
    negative = (target + rng.integers(1, c, n)) % c  # any other class
    weight = values(rng, (n,), dtype, False) * (rng.random(n) < 0.7)  # some margins met
    grad_f, grad_g = reference.hinge_max_backward(f, g, target, negative, weight)
    got_f, got_g = run(backend, "hinge_max_backward", f, g, target, negative, weight)
    magnitude = np.abs(weight)[:, None] * np.abs(f)
    scale_g = np.zeros(g.shape, dtype)
    np.add.at(scale_g, negative, magnitude)
    np.add.at(scale_g, target, magnitude)
    assert_matches(got_f, grad_f, rtol, np.abs(weight)[:, None] * (np.abs(g[negative])
                                                                   + np.abs(g[target])))
    assert_matches(got_g, grad_g, rtol, scale_g)


# ------------------------------------------------------------------- gradient reversal


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 9), m=st.integers(1, 9), noncontiguous=st.booleans(),
       lambda_=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_grad_reverse_backward_matches_reference(backend, dtype, rtol, n, m, noncontiguous,
                                                 lambda_, seed):
    grad = strided(values(np.random.default_rng(seed), (n, m), dtype, False), noncontiguous)
    assert_matches(run(backend, "grad_reverse_backward", grad, lambda_),
                   flushed(reference.grad_reverse_backward(grad, lambda_), backend), rtol)


# ------------------------------------------------------------------ the update's axpy


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, rtol", DTYPES)
@given(n=st.integers(1, 9), m=st.integers(1, 9), x_strided=st.booleans(),
       y_strided=st.booleans(), alpha=st.floats(-2.0, 2.0), seed=st.integers(0, 2**16))
def test_axpy_matches_reference(backend, dtype, rtol, n, m, x_strided, y_strided, alpha,
                                seed):
    rng = np.random.default_rng(seed)
    x = strided(values(rng, (n, m), dtype, False), x_strided)
    y = strided(values(rng, (n, m), dtype, False), y_strided)
    expected = reference.axpy(alpha, x, y.copy())
    scale = np.abs(alpha * x.astype(np.float64)) + np.abs(y)  # what y + alpha x rounds
    assert_matches(run(backend, "axpy", alpha, x, y), flushed(expected, backend), rtol,
                   scale)


# ----------------------------------------------------------------------------- gradcheck
# Through the ops, with each CPU backend forced: the kernels inside a real graph, against
# central finite differences in float64. Inputs are drawn away from kinks (max ties,
# hinge margins met exactly), never by loosening tolerances.


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 1, 1, 1), ((2, 1), (0, 2), (1, 2), 2)])
def test_gradcheck_conv2d_through_each_backend(backend, stride, padding, dilation, groups):
    rng = np.random.default_rng(2)
    x = leaf(strided(rng.standard_normal((2, 4, 6, 5)), True))
    w = leaf(rng.standard_normal((4, 4 // groups, 3, 2)))
    b = leaf(rng.standard_normal(4))
    with kernels.use(backend):
        assert tlcore.gradcheck(lambda x, w, b: ops.conv2d(x, w, b, stride, padding,
                                                           dilation, groups), [x, w, b])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 2, 1)])
def test_gradcheck_max_pool2d_through_each_backend(backend, kernel_size, stride, padding):
    """Distinct values 0.01 apart (a shuffled ramp): no two elements of a window are
    within gradcheck's step of a tie."""
    rng = np.random.default_rng(3)
    x = leaf(strided(rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.01, True))
    with kernels.use(backend):
        assert tlcore.gradcheck(lambda x: ops.max_pool2d(x, kernel_size, stride, padding),
                                [x])


def good_case(scores, target, margin, gap):
    """True if the hinge is more than ``gap`` from its kinks (a margin exactly met, a tie
    for the arg-max) and some samples are active, some not."""
    loss, _ = reference.hinge_max_forward(scores, target, margin)
    return (hinge_kink_distance(scores, target, margin) > gap and np.any(loss > 0)
            and np.any(loss == 0))


def embedding_case(n=5, c=4, d=3, margin=0.5, gap=1e-3):
    """(f, g, target) whose scores f @ g.T are away from every kink of the hinge, with
    active and inactive samples: the first seed that gives one (checked, not assumed)."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        f, g = rng.standard_normal((n, d)), rng.standard_normal((c, d))
        target = rng.integers(0, c, n)
        if good_case(f @ g.T, target, margin, gap):
            return f, g, target
    raise AssertionError("no case away from the kinks in 100 seeds")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gradcheck_embedding_hinge_ops_through_each_backend(backend):
    """embedding_scores, hinge_max_loss on scores, and the fused embedding_hinge_max_loss
    (its backward is the sparse hinge_max_backward kernel); the case has active and
    inactive samples."""
    margin = 0.5
    f, g, target = embedding_case(margin=margin)
    scores = f @ g.T
    f_leaf, g_leaf = leaf(strided(f, True)), leaf(g)
    with kernels.use(backend):
        assert tlcore.gradcheck(lambda f, g: ops.embedding_scores(f, g), [f_leaf, g_leaf])
        assert tlcore.gradcheck(lambda s: ops.hinge_max_loss(s, target, margin),
                                [leaf(scores)])
        for reduction in ("mean", "none"):
            assert tlcore.gradcheck(lambda f, g: ops.embedding_hinge_max_loss(
                f, g, target, margin, reduction), [f_leaf, g_leaf])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_fused_hinge_loss_equals_the_composition_through_each_backend(backend):
    """embedding_hinge_max_loss has the value and gradients of hinge_max_loss on
    embedding_scores (sparse backward vs the dense (N, C) one)."""
    f, g, target = embedding_case(n=7, c=5, d=4)
    fused = [leaf(f), leaf(g)]
    composed = [leaf(f), leaf(g)]
    with kernels.use(backend):
        ops.embedding_hinge_max_loss(*fused, target, 0.5).backward()
        ops.hinge_max_loss(ops.embedding_scores(*composed), target, 0.5).backward()
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-14)
