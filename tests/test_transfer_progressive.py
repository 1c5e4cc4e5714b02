"""Progressive networks (tlcore.transfer.progressive) and the progressive experiment."""

import numpy as np
import pytest

import tlcore
from tlcore import experiments, nn, ops, optim
from tlcore.transfer import ProgressiveNet

from strategies import check_module_gradients, leaf


def relu(a):
    return np.maximum(a, 0)


def weights(module):
    return module.weight.numpy(), (None if module.bias is None else module.bias.numpy())


def affine(layer, h):
    W, b = weights(layer)
    return h @ W.T + (0 if b is None else b)


def test_columns_have_the_given_widths_and_a_head_each():
    net = ProgressiveNet(64, [16, 8], 10)
    assert len(net) == 1
    assert net.add_column() == 1 and net.add_column(out_features=3) == 2
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)  # flattened
    assert net(x).shape == (5, 3) and net(x, column=0).shape == (5, 10)
    assert net(x, column=-2).shape == (5, 10)
    column = net.columns[2]
    assert [layer.out_features for layer in column.layers] == [16, 8]
    # Laterals from layer 2 on (layer 2 and the head), one U per earlier column.
    assert len(column.laterals) == 2
    assert [len(lateral.U) for lateral in column.laterals] == [2, 2]
    assert len(net.columns[0].laterals) == 0


def test_forward_is_equation_1():
    rng = np.random.default_rng(1)
    net = ProgressiveNet(4, [5, 3], 2).double()
    net.add_column()
    net.add_column()
    x = rng.standard_normal((6, 4))
    h = [x, x, x]
    L = 2
    for i in range(L + 1):
        new = []
        for k in range(3):
            column = net.columns[k]
            z = affine(column.layer(i), h[k])
            if i >= 1 and k >= 1:  # h_i^(k) += sum_{j<k} U_i^(k:j) h_{i-1}^(j)
                z = z + sum(affine(U, h[j]) for j, U in enumerate(column.laterals[i - 1].U))
            new.append(relu(z) if i < L else z)
        h = new
    for k in range(3):
        np.testing.assert_allclose(net(x, column=k).numpy(), h[k], rtol=1e-12)


def test_forward_is_equation_2_with_adapters():
    rng = np.random.default_rng(2)
    net = ProgressiveNet(4, [5, 6], 2, lateral="adapter", adapter_width=3, alpha_init=0.5)
    net.double()
    net.add_column()
    net.add_column()
    adapter = net.columns[2].laterals[0]
    assert adapter.alpha.shape == () and float(adapter.alpha.item()) == 0.5
    assert adapter.V.in_features == 5 * 2 and adapter.V.out_features == 3  # both columns
    x = rng.standard_normal((6, 4))
    h = [x, x, x]
    for i in range(3):
        new = []
        for k in range(3):
            column = net.columns[k]
            z = affine(column.layer(i), h[k])
            if i >= 1 and k >= 1:
                a = column.laterals[i - 1]
                earlier = float(a.alpha.item()) * np.concatenate(h[:k], axis=1)
                z = z + affine(a.U, relu(affine(a.V, earlier)))
            new.append(relu(z) if i < 2 else z)
        h = new
    np.testing.assert_allclose(net(x).numpy(), h[2], rtol=1e-12)


def test_adapter_defaults_are_small_alpha_and_the_papers_width():
    # Eq. 2: V projects the earlier columns' h_{i-1}, concatenated, onto n_{i-1} units,
    # the width of layer i-1; the receiving layer's own width (the head's 2) plays no part.
    net = ProgressiveNet(8, [6, 4], 2, lateral="adapter")
    net.add_column()
    net.add_column()
    second, third = net.columns[1].laterals, net.columns[2].laterals
    assert float(second[0].alpha.item()) == pytest.approx(0.01)
    assert [(a.V.in_features, a.V.out_features) for a in second] == [(6, 6), (4, 4)]
    assert [(a.V.in_features, a.V.out_features) for a in third] == [(12, 6), (8, 4)]
    assert [a.U.out_features for a in third] == [4, 2]  # h_2 of 4 units, then the head
    given = ProgressiveNet(8, [6, 4], 2, lateral="adapter", adapter_width=3)
    given.add_column()
    assert [a.V.out_features for a in given.columns[1].laterals] == [3, 3]


@pytest.mark.parametrize("lateral", ["linear", "adapter"])
def test_gradcheck_through_the_laterals(lateral, monkeypatch):
    tlcore.manual_seed(3)
    net = ProgressiveNet(3, [4, 3], 2, lateral=lateral, alpha_init=0.7).double()
    net.add_column()
    net.add_column()
    x = leaf(np.random.default_rng(3).standard_normal((4, 3)))
    names = [name for name, p in net.named_parameters() if p.requires_grad]
    assert any("laterals" in name for name in names)  # U (and alpha, V) are checked
    # away from the ReLU kink: every pre-activation of this draw is far from 0
    pre_activations = []
    real_relu = ops.relu
    with monkeypatch.context() as patch:
        patch.setattr(ops, "relu", lambda z: pre_activations.append(z.numpy()) or real_relu(z))
        net(x)
    assert pre_activations and min(np.abs(z).min() for z in pre_activations) > 1e-3
    check_module_gradients(net, x, names, lambda module, x: module(x))


@pytest.mark.parametrize("lateral", ["linear", "adapter"])
def test_add_column_freezes_every_earlier_column(lateral):
    net = ProgressiveNet(6, [5, 4], 3, lateral=lateral)
    net.add_column()
    net.add_column()
    for k, column in enumerate(net.columns):
        expected = k == 2
        assert all(p.requires_grad is expected for p in column.parameters())


@pytest.mark.parametrize("lateral", ["linear", "adapter"])
def test_earlier_columns_stay_bit_identical_while_the_new_one_learns(lateral):
    tlcore.manual_seed(4)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    net = ProgressiveNet(6, [5, 4], 3, lateral=lateral)
    before_add = net(x, column=0).numpy()
    net.add_column()
    frozen = net.columns[0].state_dict()
    new = net.columns[1].state_dict()
    # Every parameter handed to the optimizer, frozen ones included, with weight decay:
    # a frozen parameter has no gradient, so it gets no decay and no state.
    optimizer = optim.Adam(net.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        ops.cross_entropy(net(x), y).backward()
        optimizer.step()
    for name, value in net.columns[0].state_dict().items():
        assert np.array_equal(value, frozen[name]), name
    assert all(p.grad is None for p in net.columns[0].parameters())
    assert all(p not in optimizer.state for p in net.columns[0].parameters())
    assert not all(np.array_equal(v, new[n]) for n, v in net.columns[1].state_dict().items())
    assert np.array_equal(net(x, column=0).numpy(), before_add)  # adding changed nothing


def test_a_frozen_column_gives_gradients_only_to_the_new_one():
    net = ProgressiveNet(6, [5, 4], 3)
    net.add_column()
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    net(x).sum().backward()
    assert all(p.grad is None for p in net.columns[0].parameters())
    assert all(p.grad is not None for p in net.columns[1].parameters())


def test_bad_input_is_refused_with_a_clear_error():
    net = ProgressiveNet(6, [5], 3)
    net.add_column()
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(ValueError, match=r"column must be in \[0, 2\).*got 2"):
        net(x, column=2)
    with pytest.raises(ValueError, match="column must be in"):
        net(x, column=-3)
    with pytest.raises(TypeError, match="column must be an int"):
        net(x, column=1.0)
    with pytest.raises(ValueError, match="x must have 6 features"):
        net(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"x must be a batch of shape \(N, ...\)"):
        net(np.zeros(6, np.float32))
    with pytest.raises(ValueError, match="widths must name at least one"):
        ProgressiveNet(6, [], 3)
    with pytest.raises(TypeError, match="widths must be a list"):
        ProgressiveNet(6, 5, 3)
    with pytest.raises(ValueError, match=r"widths\[1\] must be a positive integer"):
        ProgressiveNet(6, [5, 0], 3)
    with pytest.raises(ValueError, match="lateral must be one of"):
        ProgressiveNet(6, [5], 3, lateral="dense")
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        net.add_column(out_features=0)
    with pytest.raises(TypeError, match="alpha_init must be a number"):
        ProgressiveNet(6, [5], 3, lateral="adapter", alpha_init="small")


def test_state_dict_round_trip_keeps_every_column():
    net = ProgressiveNet(6, [5, 4], 3, lateral="adapter")
    net.add_column()
    copy = ProgressiveNet(6, [5, 4], 3, lateral="adapter")
    copy.add_column()
    copy.load_state_dict(net.state_dict())
    x = np.random.default_rng(6).standard_normal((3, 6)).astype(np.float32)
    assert np.array_equal(copy(x).numpy(), net(x).numpy())
    assert isinstance(net.columns, nn.ModuleList)


TINY = dict(task1_epochs=3, task2_epochs=5, hidden=16)


@pytest.mark.parametrize("lateral", ["linear", "adapter"])
def test_random_column_baseline_trains_only_a_new_column_beside_a_random_one(lateral):
    from tlcore.experiments.progressive import make_net, random_column_net
    options = dict(hidden=8, depth=2, lateral=lateral)
    tlcore.manual_seed(7)
    net = random_column_net(options)
    tlcore.manual_seed(7)
    untrained = make_net(options)  # the same draw: column 0 is an initialisation
    random_column = untrained.columns[0].state_dict()
    assert len(net) == 2
    for name, value in net.columns[0].state_dict().items():
        assert np.array_equal(value, random_column[name]), name
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in net.columns[1].parameters()}
    assert any(p is q for lateral_term in net.columns[1].laterals
               for q in lateral_term.parameters() for p in trainable)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    second, laterals = net.columns[1].state_dict(), net.columns[1].laterals.state_dict()
    optimizer = optim.Adam(trainable, lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        ops.cross_entropy(net(x), y).backward()
        optimizer.step()
    for name, value in net.columns[0].state_dict().items():
        assert np.array_equal(value, random_column[name]), name  # frozen
    for now, before in ((net.columns[1].state_dict(), second),
                        (net.columns[1].laterals.state_dict(), laterals)):
        assert not all(np.array_equal(v, before[n]) for n, v in now.items())


@pytest.mark.parametrize("lateral", ["linear", "adapter"])
def test_experiment_runs_and_checks_its_invariant(lateral):
    # The run itself asserts that column 0 is bit-identical and scores as before, and
    # that the random column of random-column did not move either.
    result = experiments.run("progressive", seeds=(0,), lateral=lateral, **TINY)
    rows = {(r["method"], r["metric"]): r["mean"] for r in result["rows"]}
    assert set(rows) == {(m, metric) for m in ("scratch", "fine-tune", "progressive")
                         for metric in ("task2_acc", "task1_acc")} | \
        {("random-column", "task2_acc")}  # no task-1 model: no task1_acc
    assert all(0.0 <= value <= 1.0 for value in rows.values())
    assert rows[("progressive", "task1_acc")] > 0.5  # three epochs of clean digits, kept
    assert [(c["baseline"], c["source"]) for c in result["claims"]] == \
        [("scratch", "Rusu et al. 2016"), ("fine-tune", "Rusu et al. 2016"),
         ("random-column", "Rusu et al. 2016")]


def test_experiment_repeats_exactly_and_draws_its_figures(tmp_path, capsys):
    plain = experiments.run("progressive", seeds=(0,), **TINY)
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    drawn = experiments.run("progressive", seeds=(0,), plot=str(tmp_path), **TINY)
    assert [r["values"] for r in drawn["rows"]] == [r["values"] for r in plain["rows"]]
    out = capsys.readouterr().out
    for name in ("progressive-linear-columns_seed0.png", "progressive-linear-accuracy.png"):
        path = tmp_path / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size < 300 * 1024
        assert f"wrote {path}" in out


def test_figure_titles_name_the_command_that_made_them():
    from tlcore.experiments.progressive import EXPERIMENT
    options = EXPERIMENT.resolve({})
    assert EXPERIMENT.command_line(options, EXPERIMENT.default_seeds) == \
        "tlcore run progressive --plot DIR"
    assert EXPERIMENT.command_line({**options, "lateral": "adapter", "plot": "out"}, (0,)) \
        == "tlcore run progressive --seeds 0 --lateral adapter --plot DIR"


def test_experiment_check_catches_a_column_that_moves(monkeypatch):
    from tlcore.transfer import progressive
    monkeypatch.setattr(progressive.Column, "requires_grad_", lambda self, flag=True: self)
    with pytest.raises(AssertionError, match="progressive column 0 changed"):
        experiments.run("progressive", seeds=(0,), task1_epochs=1, task2_epochs=2)
