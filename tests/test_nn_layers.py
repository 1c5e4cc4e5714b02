"""The layers of tlcore.nn against PyTorch's with the same weights (forward, and the
gradients of the input and of every parameter), batch norm's running statistics over
training steps, Embedding's padding row, Dropout's mask, and GradientReversal."""

import numpy as np
import pytest
from strategies import array, leaf, torch_or_skip

import tlcore
from tlcore import nn, ops
from tlcore.nn import functional as F


def _torch_twin(ours, theirs):
    """Copy ours' parameters and buffers into the torch module ``theirs`` (float64)."""
    torch = torch_or_skip()
    theirs = theirs.double()
    state = {name: torch.from_numpy(np.array(value, np.float64))
             for name, value in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=False)
    return theirs


def _compare(ours, theirs, x_data, seed=0, rtol=1e-10, atol=1e-12, integer_input=False):
    """One forward and backward of a random cotangent through both modules: outputs,
    input gradients, parameter gradients (by name) and buffers (by name) agree."""
    torch = torch_or_skip()
    if integer_input:
        x, twin = x_data, torch.from_numpy(x_data)
    else:
        x = leaf(x_data)
        twin = torch.from_numpy(np.array(x_data)).requires_grad_()
    out = ours(x)
    expected = theirs(twin)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    expected.backward(torch.from_numpy(v))
    if not integer_input:
        np.testing.assert_allclose(x.grad, twin.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg="input gradient")
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad, their_params[name].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"gradient of {name}")
    their_buffers = dict(theirs.named_buffers())
    for name, buffer in ours.named_buffers():
        np.testing.assert_allclose(buffer, their_buffers[name].numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


# -- Linear, Conv2d, pooling -------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 5, 3)])
def test_linear_matches_pytorch(x_shape, bias):
    torch = torch_or_skip()
    ours = nn.Linear(3, 2, bias=bias, dtype=np.float64)
    theirs = _torch_twin(ours, torch.nn.Linear(3, 2, bias=bias))
    _compare(ours, theirs, np.random.default_rng(1).standard_normal(x_shape))


CONV_CASES = [
    dict(in_channels=2, out_channels=4, kernel_size=3, padding=1),
    dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=2, dilation=(1, 2)),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=(1, 2), padding=2, groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=2, groups=3, bias=False),
    dict(in_channels=1, out_channels=2, kernel_size=1, stride=3),
]


@pytest.mark.parametrize("config", CONV_CASES, ids=lambda c: "-".join(f"{k[:4]}{v}" for k, v
                                                                       in c.items()))
def test_conv2d_matches_pytorch(config):
    torch = torch_or_skip()
    ours = nn.Conv2d(**config, dtype=np.float64)
    theirs = _torch_twin(ours, torch.nn.Conv2d(**config))
    x = np.random.default_rng(2).standard_normal((2, config["in_channels"], 7, 6))
    _compare(ours, theirs, x)
    _compare(ours.double(), theirs, x[:1], seed=1)  # a batch of one


def test_conv2d_on_a_strided_input_and_its_repr():
    rng = np.random.default_rng(3)
    layer = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    x_data = array(rng, (2, 2, 5, 5), noncontiguous=True)
    contiguous = layer(leaf(np.ascontiguousarray(x_data))).numpy()
    np.testing.assert_allclose(layer(leaf(x_data)).numpy(), contiguous, rtol=1e-12, atol=1e-12)
    assert repr(layer) == "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"


POOL_CASES = [
    ("MaxPool2d", dict(kernel_size=2)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
]


@pytest.mark.parametrize("name, config", POOL_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(POOL_CASES)])
def test_pooling_modules_match_pytorch(name, config):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(**config), getattr(torch.nn, name)(**config)
    _compare(ours, theirs, np.random.default_rng(4).standard_normal((2, 3, 7, 6)))


def test_small_cnn_matches_pytorch_through_its_state_dict():
    torch = torch_or_skip()
    tlcore.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).double()
    theirs = _torch_twin(ours, torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _compare(ours, theirs, np.random.default_rng(5).standard_normal((3, 1, 8, 8)))


# -- BatchNorm ---------------------------------------------------------------------------


BN_CASES = [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (3, 3, 4, 2))]


@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("name, shape", BN_CASES, ids=[c[0] + str(len(c[1])) for c in BN_CASES])
def test_batch_norm_three_training_steps_then_eval_match_pytorch(name, shape, momentum):
    torch = torch_or_skip()
    ours = getattr(nn, name)(3, momentum=momentum, dtype=np.float64)
    with tlcore.no_grad():
        ours.weight.copy_(np.array([0.5, 2.0, -1.0]))
        ours.bias.copy_(np.array([0.1, 0.0, 1.0]))
    theirs = _torch_twin(ours, getattr(torch.nn, name)(3, momentum=momentum))
    rng = np.random.default_rng(6)
    for step in range(3):  # running_mean / running_var move each step, as in PyTorch
        ours.zero_grad()
        theirs.zero_grad()
        _compare(ours, theirs, rng.standard_normal(shape) * (step + 1) + step, seed=step)
    assert not np.allclose(ours.running_mean, 0)
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    before = ours.state_dict()
    _compare(ours, theirs, rng.standard_normal(shape), seed=3)
    for key, value in ours.state_dict().items():  # evaluation moves nothing
        np.testing.assert_array_equal(value, before[key])


def test_batch_norm_running_statistics_follow_the_momentum_formula():
    norm = nn.BatchNorm1d(2, momentum=0.25, dtype=np.float64)
    rng = np.random.default_rng(7)
    mean, var = np.zeros(2), np.ones(2)
    for _ in range(3):
        x = rng.standard_normal((5, 2)) * [1.0, 3.0] + [2.0, -1.0]
        norm(leaf(x))
        mean = 0.75 * mean + 0.25 * x.mean(axis=0)
        var = 0.75 * var + 0.25 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(norm.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(norm.running_var, var, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_without_affine_matches_pytorch(training):
    torch = torch_or_skip()
    ours = nn.BatchNorm2d(3, affine=False, dtype=np.float64).train(training)
    assert list(ours.named_parameters()) == [] and ours.weight is None
    assert list(ours.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    theirs = _torch_twin(ours, torch.nn.BatchNorm2d(3, affine=False)).train(training)
    with tlcore.no_grad():
        ours.running_mean[...] = [1.0, -1.0, 0.5]
        theirs.running_mean.copy_(torch.tensor([1.0, -1.0, 0.5]))
    _compare(ours, theirs, np.random.default_rng(8).standard_normal((2, 3, 3, 3)))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_without_running_statistics_always_uses_the_batch(training):
    torch = torch_or_skip()
    ours = nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64).train(training)
    assert list(ours.named_buffers()) == [] and ours.running_mean is None
    assert list(ours.state_dict()) == ["weight", "bias"]
    theirs = _torch_twin(ours, torch.nn.BatchNorm1d(3, track_running_stats=False))
    theirs.train(training)
    x = np.random.default_rng(9).standard_normal((4, 3)) * 5 + 3
    _compare(ours, theirs, x)
    np.testing.assert_allclose(ours(leaf(x)).numpy().mean(axis=0), 0, atol=1e-12)


def test_batch_norm_starts_at_identity_statistics_and_float32():
    norm = nn.BatchNorm2d(4)
    for value, expected in ((norm.weight.numpy(), 1), (norm.bias.numpy(), 0),
                            (norm.running_mean, 0), (norm.running_var, 1)):
        np.testing.assert_array_equal(value, np.full(4, expected, np.float32))
        assert value.dtype == np.float32
    x = tlcore.tensor(np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32))
    assert norm(x).dtype == np.float32 and norm.running_mean.dtype == np.float32


@pytest.mark.parametrize("layer, shape, message", [
    (nn.BatchNorm1d(3), (2, 3, 4, 5), "BatchNorm1d expects input with 2 or 3 dimensions"),
    (nn.BatchNorm2d(3), (2, 3, 4), "BatchNorm2d expects input with 4 dimensions"),
    (nn.BatchNorm1d(3), (2, 4), r"BatchNorm1d\(3\) got input with 4 channels"),
    (nn.BatchNorm2d(3), (1, 3, 1, 1), "more than one value per channel"),
])
def test_batch_norm_module_names_a_bad_input(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(leaf(np.zeros(shape)))


# -- Embedding, Flatten, activations -----------------------------------------------------


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_module_matches_pytorch(padding_idx):
    torch = torch_or_skip()
    ours = nn.Embedding(5, 3, padding_idx=padding_idx, dtype=np.float64)
    theirs = _torch_twin(ours, torch.nn.Embedding(5, 3, padding_idx=padding_idx))
    indices = np.array([[0, 2, 4, 2], [1, 4, 4, 3]])
    _compare(ours, theirs, indices, integer_input=True)
    assert ours.padding_idx == theirs.padding_idx


def test_embedding_module_init_is_standard_normal_with_a_zero_padding_row():
    table = nn.Embedding(2000, 50, padding_idx=-1)
    weight = table.weight.numpy()
    assert table.padding_idx == 1999 and weight.dtype == np.float32
    np.testing.assert_array_equal(weight[1999], 0)
    assert abs(weight[:-1].mean()) < 0.01 and abs(weight[:-1].std() - 1) < 0.01
    out = table(tlcore.tensor(np.array([3, 1999])))
    out.sum().backward()
    np.testing.assert_array_equal(table.weight.grad[1999], 0)
    np.testing.assert_array_equal(table.weight.grad[3], 1)
    assert repr(table) == "Embedding(2000, 50, padding_idx=1999)"


@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1)])
def test_flatten_matches_pytorch(start_dim, end_dim):
    torch = torch_or_skip()
    _compare(nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim),
             np.random.default_rng(10).standard_normal((2, 3, 4, 2)))


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [1, -1, 0])
def test_softmax_modules_match_pytorch(name, axis):
    torch = torch_or_skip()
    _compare(getattr(nn, name)(axis=axis), getattr(torch.nn, name)(dim=axis),
             np.random.default_rng(11).standard_normal((3, 4, 2)))


@pytest.mark.parametrize("name, args", [("ReLU", ()), ("Tanh", ()), ("Sigmoid", ()),
                                         ("LeakyReLU", (0.2,)), ("Identity", ())])
def test_activation_modules_match_pytorch(name, args):
    torch = torch_or_skip()
    x = array(np.random.default_rng(12), (3, 5), away_from=0.0)  # away from relu's kink
    _compare(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x)


def test_identity_returns_its_input():
    x = tlcore.tensor([1.0, 2.0])
    assert nn.Identity()(x) is x


# -- Dropout -----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_drops_at_rate_p_and_scales_survivors(p):
    tlcore.manual_seed(0)
    x = tlcore.tensor(np.ones((200, 500)))
    out = nn.Dropout(p)(x).numpy()
    dropped = out == 0
    # 100,000 Bernoulli draws: the rate is within 5 standard deviations of p
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / out.size)
    np.testing.assert_allclose(out[~dropped], 1 / (1 - p), rtol=1e-15)


def test_dropout_is_the_identity_in_eval_and_for_p_zero():
    x = tlcore.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert F.dropout(x, 0.9, training=False) is x


def test_dropout_with_p_one_zeros_everything_and_every_gradient():
    x = tlcore.tensor(np.ones((3, 4)), requires_grad=True)
    out = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(out.numpy(), np.zeros((3, 4)))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))


def test_dropout_gradient_is_the_mask_times_the_scale():
    rng = np.random.default_rng(13)
    p = 0.4
    x_data = array(rng, (20, 30), away_from=0.0)
    x = leaf(x_data)
    out = ops.dropout(x, p)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    mask = out.numpy() / x_data  # 0 or 1 / (1 - p)
    kept = mask != 0
    np.testing.assert_allclose(mask[kept], 1 / (1 - p), rtol=1e-12)
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(x.grad, g * mask, rtol=1e-12, atol=0)


def test_dropout_is_repeatable_under_manual_seed_and_keeps_float32():
    x = tlcore.tensor(np.ones((8, 8), np.float32))
    tlcore.manual_seed(3)
    first, second = F.dropout(x).numpy(), F.dropout(x).numpy()
    tlcore.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x).numpy(), second)
    assert not np.array_equal(first, second)  # each call draws a new mask
    assert first.dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_refuses_p_outside_zero_one(p):
    with pytest.raises(ValueError, match=f"dropout probability p must be in \\[0, 1\\], got {p}"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="dropout probability p must be in"):
        F.dropout(tlcore.tensor([1.0]), p)


def test_dropout_in_a_model_follows_train_and_eval():
    tlcore.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 50), nn.Dropout(0.5))
    x = tlcore.tensor(np.ones((2, 4), np.float32))
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())
    model.train()
    assert (model(x).numpy() == 0).any()


# -- GradientReversal --------------------------------------------------------------------


def test_gradient_reversal_is_the_identity_forward_and_negates_backward():
    rng = np.random.default_rng(14)
    x = leaf(rng.standard_normal((3, 4)))
    layer = nn.GradientReversal(0.5)
    out = layer(x)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    assert out is not x and out.requires_grad
    g = rng.standard_normal(out.shape)
    out.backward(g)
    np.testing.assert_array_equal(x.grad, -0.5 * g)
    assert repr(layer) == "GradientReversal(lambda_=0.5)"


def test_gradient_reversal_lambda_changed_between_steps_takes_effect():
    """DANN's schedule raises lambda_ as training goes; the same layer must follow."""
    x = leaf(np.ones((2, 3)))
    layer = nn.GradientReversal()
    g = np.arange(6.0).reshape(2, 3)
    for lambda_ in (1.0, 0.25, 0.0, 2.0):
        layer.lambda_ = lambda_
        x.grad = None
        layer(x).backward(g)
        np.testing.assert_array_equal(x.grad, -lambda_ * g)


def test_gradient_reversal_flips_the_feature_gradient_of_a_model():
    """features -> reversal -> classifier: the classifier's gradient is unchanged, the
    features' is negated and scaled, the functional form F.grad_reverse agrees."""
    tlcore.manual_seed(2)
    features, classifier = nn.Linear(3, 4), nn.Linear(4, 2)
    x = tlcore.tensor(np.random.default_rng(15).standard_normal((5, 3)).astype(np.float32))

    def gradients(reverse):
        features.zero_grad()
        classifier.zero_grad()
        classifier(reverse(features(x))).sum().backward()
        return features.weight.grad.copy(), classifier.weight.grad.copy()

    plain = gradients(lambda h: h)
    reversed_ = gradients(nn.GradientReversal(0.3))
    functional = gradients(lambda h: F.grad_reverse(h, lambda_=0.3))
    np.testing.assert_allclose(reversed_[0], -0.3 * plain[0], rtol=1e-6)
    np.testing.assert_array_equal(reversed_[1], plain[1])
    np.testing.assert_array_equal(functional[0], reversed_[0])


def test_gradient_reversal_leaves_a_shared_upstream_gradient_alone():
    """h feeds the reversal and a plain branch: h.grad = g - lambda_ * g, so the reversal
    must not negate the upstream array that the other branch also receives."""
    h = leaf(np.ones((2, 2)))
    g = np.full((2, 2), 2.0)
    (nn.GradientReversal(0.5)(h) + h).backward(g)
    np.testing.assert_array_equal(h.grad, g - 0.5 * g)


@pytest.mark.parametrize("momentum", [0.3, None])
def test_batch_norm_counts_batches_and_averages_like_pytorch(momentum):
    torch = torch_or_skip()
    ours = nn.BatchNorm1d(3, momentum=momentum).double()
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=(5, 3)) * 2 + 1
        ours(x)
        theirs(torch.from_numpy(x))
    state, expected = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(expected)  # num_batches_tracked included: the same keys
    for key in state:
        np.testing.assert_allclose(state[key], expected[key].numpy(), rtol=1e-12, err_msg=key)
    nn.BatchNorm1d(3).load_state_dict({k: v.numpy() for k, v in expected.items()})
