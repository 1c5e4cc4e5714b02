"""The GPU path end to end: the cupy kernels at sizes the parity tests leave out, device
moves, and a whole training step that stays on the GPU.

Every test here carries @pytest.mark.gpu: tests/conftest.py skips them, with the reason,
where cupy or a CUDA device is missing. Each kernel against the reference on drawn inputs
is in test_kernel_backends.py (its "cupy" cases); the CUDA sources are compiled by nvcc
in test_cuda_sources.py, GPU or not.
"""

import contextlib
import warnings

import numpy as np
import pytest

import tlcore
from tlcore import backend, kernels, nn, optim
from tlcore.kernels import reference
from tlcore.ops import scores as score_ops

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    """cupy, imported only when a GPU test runs (conftest skips them without one)."""
    import cupy
    return cupy


# ----------------------------------------------------------------------- kernels
# tests/test_kernel_backends.py runs every kernel on cupy against the reference on
# hypothesis-drawn small inputs; here, the sizes those leave out.


def test_hinge_forward_reduces_across_the_whole_block(cp):
    """C = 1000 classes over the 128 threads of a row's block, with many ties: the block
    reduction must still pick the first maximal index of the other classes."""
    rng = np.random.default_rng(4)
    scores = rng.integers(-2, 3, (37, 1000)).astype(np.float32)
    target = rng.integers(0, 1000, 37)
    target[:5] = np.argmax(scores[:5], axis=1)  # the true class holds the maximum
    loss, negative = reference.hinge_max_forward(scores, target, 0.5)
    fn = kernels.get("hinge_max_forward", cp.asarray(scores))
    assert fn.__module__ == "tlcore.kernels.backends.cupy_gpu"
    got_loss, got_negative = fn(cp.asarray(scores), cp.asarray(target), 0.5)
    np.testing.assert_array_equal(cp.asnumpy(got_negative), negative)
    np.testing.assert_allclose(cp.asnumpy(got_loss), loss, rtol=1e-6)


def test_conv_kernels_across_several_sample_chunks(cp, monkeypatch):
    """A batch cut into chunks of columns (a small CONV2D_CHUNK_BYTES) gives the result
    of one chunk: each chunk's im2col, GEMMs and col2im land on their own samples."""
    from tlcore.kernels.backends import cupy_gpu
    monkeypatch.setattr(cupy_gpu, "CONV2D_CHUNK_BYTES", 4096)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 3))
    settings = ((1, 2), (1, 1), (1, 1), 2)
    out = reference.conv2d_forward(x, w, *settings)
    g = rng.standard_normal(out.shape)
    gx, gw, gg = cp.asarray(x), cp.asarray(w), cp.asarray(g)
    results = [(cupy_gpu.conv2d_forward(gx, gw, *settings), out),
               (cupy_gpu.conv2d_backward_input(gg, gw, x.shape, *settings),
                reference.conv2d_backward_input(g, w, x.shape, *settings)),
               (cupy_gpu.conv2d_backward_weight(gg, gx, w.shape, *settings),
                reference.conv2d_backward_weight(g, x, w.shape, *settings))]
    for got, expected in results:
        np.testing.assert_allclose(cp.asnumpy(got), expected, rtol=1e-10, atol=1e-10)


def test_grad_reverse_in_place_on_the_gpu(cp):
    grad = cp.asarray(np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32))
    expected = -0.25 * cp.asnumpy(grad)
    fn = kernels.get("grad_reverse_backward", grad)
    assert fn(grad, 0.25, out=grad) is grad
    np.testing.assert_allclose(cp.asnumpy(grad), expected, rtol=1e-6)


def test_hinge_backward_on_the_gpu_is_deterministic(cp):
    """The sorted segmented sum gives the same bits at every run, even with thousands of
    samples per class (where an atomic scatter would add in a new order each time), and
    matches the reference."""
    rng = np.random.default_rng(2)
    rows, classes = 4096, 3
    f = rng.standard_normal((rows, 16)).astype(np.float32)
    g = rng.standard_normal((classes, 16)).astype(np.float32)
    target = rng.integers(0, classes, rows)
    negative = (target + rng.integers(1, classes, rows)) % classes
    weight = (rng.random(rows) * (rng.random(rows) < 0.7)).astype(np.float32)
    expected = reference.hinge_max_backward(f, g, target, negative, weight)
    args = [cp.asarray(a) for a in (f, g, target, negative, weight)]
    fn = kernels.get("hinge_max_backward", *args)
    first = [cp.asnumpy(a) for a in fn(*args)]
    for got, want in zip(first, expected):
        scale = float(np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
    for _ in range(3):
        for a, b in zip(first, fn(*args)):
            np.testing.assert_array_equal(a, cp.asnumpy(b))


# ----------------------------------------------------------------------- devices


def test_tensor_to_cuda_and_back_carries_the_gradient(cp):
    x = tlcore.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and isinstance(y.data, cp.ndarray)
    assert x.to("cpu") is x and y.to("cuda") is y
    z = (y * y).sum()
    assert isinstance(z.data, cp.ndarray)
    z.backward()
    assert isinstance(x.grad, np.ndarray)  # the gradient came back to the CPU leaf
    np.testing.assert_allclose(x.grad, 2 * x.numpy())
    back = y.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_tensor_made_from_a_gpu_array_stays_on_the_gpu(cp):
    data = cp.ones((2, 2), dtype=cp.float32)
    assert tlcore.Tensor(data).device == "cuda"
    compared = tlcore.tensor(np.ones(3), device="cuda") > 0
    assert compared.device == "cuda" and compared.dtype == np.bool_


def _cnn():
    tlcore.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 5))


def test_module_to_cuda_moves_parameters_and_buffers(cp):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to("cuda")
    for name, param in model.named_parameters():
        assert param.device == "cuda" and isinstance(param.data, cp.ndarray), name
    for name, buffer in model.named_buffers():
        assert isinstance(buffer, cp.ndarray), name
    out = model(tlcore.tensor(np.ones((5, 3), np.float32), device="cuda"))
    assert out.device == "cuda"
    model.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in model.parameters())
    assert all(isinstance(b, np.ndarray) for b in model.buffers())


@contextlib.contextmanager
def _no_device_synchronization():
    """cupyx.allow_synchronize(False) where this CuPy still has it (deprecated since CuPy
    10): any copy back to the host or stream synchronisation inside raises."""
    import cupyx
    allow = getattr(cupyx, "allow_synchronize", None)
    if allow is None:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with allow(False):
            yield


def _train(device, steps, x, y, guard=None):
    """``steps`` SGD steps of the CNN on ``device``; ``guard(step)`` wraps the backward
    and the update of each step. Returns the model, its optimizer, the losses."""
    model = _cnn().to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    xb, yb = tlcore.tensor(x, device=device), tlcore.tensor(y, device=device)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        with guard(step) if guard else contextlib.nullcontext():
            loss.backward()
            opt.step()
        losses.append(loss)
    return model, opt, losses


def test_a_training_step_stays_on_the_gpu(cp, monkeypatch):
    """Forward, backward and an SGD step of a CNN (conv, max-pool, linear, cross-entropy)
    on the GPU: every parameter, gradient and momentum buffer is a cupy array, nothing
    is copied to the host during the backward and the update (no tlcore device move,
    no CuPy synchronisation), and the result matches the same steps on the CPU."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 8)
    cpu_model, _, cpu_losses = _train("cpu", 3, x, y)

    moves = []
    real_to_device = backend.to_device

    def recording_to_device(array, device):
        moves.append(device)
        return real_to_device(array, device)

    @contextlib.contextmanager
    def guard(step):
        if step == 0:  # the first step compiles the kernels: leave it unguarded
            yield
            return
        monkeypatch.setattr(backend, "to_device", recording_to_device)
        with _no_device_synchronization():
            yield
        monkeypatch.setattr(backend, "to_device", real_to_device)

    gpu_model, gpu_opt, gpu_losses = _train("cuda", 3, x, y, guard)
    assert moves == [], f"device moves inside the training step: {moves}"
    for name, param in gpu_model.named_parameters():
        assert isinstance(param.data, cp.ndarray), name
        assert isinstance(param.grad, cp.ndarray), name
        assert isinstance(gpu_opt.state[param]["momentum_buffer"], cp.ndarray), name
    for loss in gpu_losses:
        assert isinstance(loss.data, cp.ndarray)
    np.testing.assert_allclose([loss.item() for loss in gpu_losses],
                               [loss.item() for loss in cpu_losses], rtol=1e-4)
    for (name, p_gpu), p_cpu in zip(gpu_model.named_parameters(), cpu_model.parameters()):
        np.testing.assert_allclose(p_gpu.numpy(), p_cpu.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_fused_hinge_loss_on_the_gpu_matches_the_cpu(cp):
    """embedding_hinge_max_loss (the fused sparse backward) on cupy arrays, end to end."""
    rng = np.random.default_rng(3)
    f, g = rng.standard_normal((33, 8)), rng.standard_normal((6, 8))
    target = rng.integers(0, 6, 33)
    results = []
    for device in ("cpu", "cuda"):
        f_t = tlcore.tensor(f, requires_grad=True, dtype=np.float64, device=device)
        g_t = tlcore.tensor(g, requires_grad=True, dtype=np.float64, device=device)
        loss = score_ops.embedding_hinge_max_loss(f_t, g_t, tlcore.tensor(target, device=device))
        loss.backward()
        assert f_t.grad.__class__ is (np.ndarray if device == "cpu" else cp.ndarray)
        results.append([loss.item(), backend.to_device(f_t.grad, "cpu"),
                        backend.to_device(g_t.grad, "cpu")])
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10)
    for got, expected in zip(results[1][1:], results[0][1:]):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
