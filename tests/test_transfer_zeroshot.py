"""Zero-shot learning (tlcore.transfer.zeroshot) and the zero-shot experiment.

Each model is checked where its answer is known exactly: ConSE with T=1 returns the top
class's vector, DAP with perfect attribute probabilities is always right, the embedding
predicts the largest dot product (or cosine); the cosine's row normalisation passes
gradcheck; a split that leaves an attribute constant over the seen classes is refused,
and the class-level validation never holds out such a split; the experiment runs end to
end with tiny options.
"""

import numpy as np
import pytest

import tlcore
from tlcore import experiments, manual_seed, nn, optim
from tlcore.datasets import ATTRIBUTE_NAMES, DIGIT_ATTRIBUTES, DIGIT_SEMANTIC_VECTORS
from tlcore.experiments import zero_shot
from tlcore.transfer import AttributeClassifier, AttributeEmbedding, ConSE
from tlcore.transfer.zeroshot import (GeneralizedScores, ZeroShotModel, calibrated_stacking,
                                      check_seen_attributes, choose_calibration,
                                      constant_attributes, harmonic_mean,
                                      project_onto_seen_span, seen_span, unit_rows,
                                      zero_shot_accuracies)

from strategies import array, hinge_kink_distance, leaf

ALL = np.arange(10)


def _perfect_attribute_logits(labels, confidence=20.0):
    """Logits whose sigmoids are (almost exactly) the true classes' attributes."""
    return (2.0 * DIGIT_ATTRIBUTES[labels] - 1.0) * confidence


# -- ConSE -------------------------------------------------------------------------------


def test_conse_with_t1_returns_the_top_class_vector():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5, 3))
    logits = rng.standard_normal((8, 5))
    conse = ConSE(nn.Identity(), vectors, T=1)  # the "classifier" returns its input
    np.testing.assert_allclose(conse.semantic_embedding(logits), vectors[logits.argmax(axis=1)])


def test_conse_mixes_the_top_t_vectors_by_their_renormalised_probabilities():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    probabilities = np.array([[0.5, 0.3, 0.2]])
    conse = ConSE(nn.Identity(), vectors, T=2)
    np.testing.assert_allclose(conse.semantic_embedding(np.log(probabilities)),
                               [[0.5 / 0.8, 0.3 / 0.8]])
    full = ConSE(nn.Identity(), vectors, T=3).semantic_embedding(np.log(probabilities))
    np.testing.assert_allclose(full, probabilities @ vectors)


def test_conse_predicts_the_candidate_nearest_by_cosine():
    conse = ConSE(nn.Identity(), np.array([[1.0, 0.0], [0.0, 1.0]]), T=1)
    logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    # Candidate 7 is long but points the wrong way: cosine ignores length.
    candidates = np.array([[10.0, 0.1], [0.1, 1.0]])
    np.testing.assert_array_equal(conse.predict(logits, [3, 7], candidates), [3, 7])


def test_conse_checks_its_arguments():
    with pytest.raises(ValueError, match="T must be an integer from 1 to the number"):
        ConSE(nn.Identity(), np.zeros((3, 2)), T=4)
    conse = ConSE(nn.Identity(), np.eye(3), T=2)
    with pytest.raises(ValueError, match="3 logits but there are"):
        ConSE(nn.Identity(), np.eye(4), T=2).predict(np.zeros((1, 3)), [0, 1], np.eye(4)[:2])
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        conse.predict(np.zeros((1, 3)), [0, 1], np.zeros((2, 4)))
    with pytest.raises(ValueError, match="must not repeat"):
        conse.predict(np.zeros((1, 3)), [1, 1], np.zeros((2, 3)))


# -- DAP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("candidates", [ALL, np.array([0, 3, 7])], ids=["gzsl", "unseen"])
def test_dap_with_perfect_attribute_probabilities_scores_100_percent(candidates):
    seen = np.setdiff1d(ALL, [0, 3, 7])
    dap = AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, seen, ATTRIBUTE_NAMES)
    labels = np.repeat(candidates, 3)
    predicted = dap.predict(_perfect_attribute_logits(labels), candidates,
                            DIGIT_ATTRIBUTES[candidates])
    np.testing.assert_array_equal(predicted, labels)


def test_dap_scores_are_lamperts_product_over_attributes():
    seen = np.array([1, 2, 4, 5, 6, 8, 9])
    dap = AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, seen, clip=0.01)
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, (4, len(ATTRIBUTE_NAMES)))
    prior = DIGIT_ATTRIBUTES[seen].mean(axis=0)
    np.testing.assert_allclose(dap.attribute_prior, prior)
    expected = np.empty((4, 10))
    for z in range(10):
        a = DIGIT_ATTRIBUTES[z]
        clipped = np.clip(p, 0.01, 0.99)
        likelihood = np.where(a == 1, clipped, 1 - clipped)
        expected[:, z] = np.log(np.prod(likelihood / np.where(a == 1, prior, 1 - prior), axis=1))
    np.testing.assert_allclose(dap.class_log_scores(p, DIGIT_ATTRIBUTES.astype(float)),
                               expected, rtol=1e-10)


def test_dap_trains_on_seen_classes_only_and_learns_their_attributes():
    manual_seed(0)
    seen = np.array([1, 2, 4, 5, 6, 8, 9])
    dap = AttributeClassifier(nn.Linear(11, 11), DIGIT_ATTRIBUTES, seen)
    with pytest.raises(ValueError, match="class 3, which is not a seen class"):
        dap.loss(dap(np.zeros((2, 11), np.float32)), np.array([1, 3]))
    x = DIGIT_ATTRIBUTES[seen].astype(np.float32) * 2 - 1  # inputs that show the attributes
    optimizer = optim.Adam(dap.parameters(), lr=0.05)
    for _ in range(100):
        loss = dap.loss(dap(x), seen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    np.testing.assert_array_equal(dap.predict(x, seen, DIGIT_ATTRIBUTES[seen]), seen)


def test_a_split_with_an_attribute_constant_over_the_seen_classes_is_refused():
    # top_bar belongs to 5 and 7 only: with both unseen, no seen class has it.
    with pytest.raises(ValueError, match="attribute 'top_bar' is absent from every seen"):
        check_seen_attributes(DIGIT_ATTRIBUTES, [0, 1, 2, 3, 4, 6, 8, 9], ATTRIBUTE_NAMES)
    with pytest.raises(ValueError, match="attribute 'top_bar'"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, [0, 1, 2, 3, 4, 6, 8, 9],
                            ATTRIBUTE_NAMES)
    with pytest.raises(ValueError, match="attribute 'top_bar'"):
        experiments.run("zero-shot", seeds=(0,), data="digits", unseen="5,7")
    check_seen_attributes(DIGIT_ATTRIBUTES, [1, 2, 4, 5, 6, 8, 9], ATTRIBUTE_NAMES)  # default


def test_dap_checks_its_arguments():
    with pytest.raises(ValueError, match="only 0 and 1"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES * 0.5)
    with pytest.raises(ValueError, match="seen_classes must be rows"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, [1, 2, 12])
    with pytest.raises(ValueError, match="clip must be a number in"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, clip=0.5)
    with pytest.raises(ValueError, match="clip must be a number in"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, clip="small")
    with pytest.raises(ValueError, match="seen_classes must be rows"):
        AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, [1.0, 2.5])
    with pytest.raises(TypeError, match="backbone must be a Module"):
        AttributeClassifier(lambda x: x, DIGIT_ATTRIBUTES)
    with pytest.raises(TypeError, match="g must be a Module"):
        AttributeEmbedding(nn.Identity(), np.eye(3))
    with pytest.raises(TypeError, match="classifier must be a Module"):
        ConSE(lambda x: x, np.eye(3), T=1)
    dap = AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES)
    with pytest.raises(ValueError, match="candidate_classes must be a non-empty 1-D"):
        dap.predict(np.zeros((1, 11)), [0.5, 1.0], DIGIT_ATTRIBUTES[:2])
    with pytest.raises(ValueError, match=r"one row of 11 attributes per candidate"):
        dap.predict(np.zeros((1, 11)), [0, 1, 2], DIGIT_ATTRIBUTES[:2])


# -- attribute embedding -----------------------------------------------------------------


def test_embedding_predicts_the_largest_dot_product():
    model = AttributeEmbedding(nn.Identity(), nn.Identity())
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.2]])
    descriptions = np.array([[2.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(model.predict(x, [4, 9], descriptions), [4, 9, 9])
    np.testing.assert_allclose(model.scores(x, descriptions), x @ descriptions.T)


@pytest.mark.parametrize("cosine_scale", [None, 5.0])  # the dot product, the cosine
def test_embedding_training_meets_every_margin_on_separable_data(cosine_scale):
    manual_seed(0)
    rng = np.random.default_rng(0)
    descriptions = DIGIT_ATTRIBUTES.astype(np.float32)
    target = rng.integers(0, 10, 60)
    x = (descriptions[target] + 0.1 * rng.standard_normal((60, 11))).astype(np.float32)
    model = AttributeEmbedding(nn.Linear(11, 8), nn.Linear(11, 8, bias=False),
                               cosine_scale=cosine_scale)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        loss = model.loss(model(x), target, descriptions, margin=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() == 0.0  # zero once every sample beats every other class by k
    np.testing.assert_array_equal(model.predict(x, ALL, descriptions), target)


def test_cosine_embedding_scores_are_the_scaled_cosine_and_ignore_length():
    model = AttributeEmbedding(nn.Identity(), nn.Identity(), cosine_scale=4.0)
    x = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 1.2]])
    # Class 9's description is ten times longer: the dot product lets it win every input
    # that leans its way a little, the cosine only those that point closer to it.
    descriptions = np.array([[2.0, 0.2], [0.0, 20.0]])
    expected = 4.0 * (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        descriptions / np.linalg.norm(descriptions, axis=1, keepdims=True)).T
    np.testing.assert_allclose(model.scores(x, descriptions), expected, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x, [4, 9], descriptions), [4, 9, 9])
    dot = AttributeEmbedding(nn.Identity(), nn.Identity())
    far = np.array([[1.0, 0.15]])  # closer to class 4 in angle, more along 9 in length
    assert dot.predict(far, [4, 9], descriptions) == [9]
    assert model.predict(far, [4, 9], descriptions) == [4]
    for bad in (0, -1.0, float("inf"), True, "5"):
        with pytest.raises(ValueError, match="cosine_scale must be None"):
            AttributeEmbedding(nn.Identity(), nn.Identity(), cosine_scale=bad)


@pytest.mark.parametrize("shape", [(1, 3), (4, 2), (5, 6)])
@pytest.mark.parametrize("noncontiguous", [False, True])
def test_unit_rows_has_length_one_and_passes_gradcheck(shape, noncontiguous):
    v = array(np.random.default_rng(sum(shape)), shape, noncontiguous)
    out = unit_rows(leaf(v))
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=1), 1.0, rtol=1e-9)
    assert tlcore.gradcheck(unit_rows, [leaf(v)])
    zero_rows = leaf(np.zeros((2, 3)))
    zero = unit_rows(zero_rows)  # a zero row stays zero, its gradient I / eps: finite
    zero.backward(np.ones((2, 3)))
    assert np.all(zero.numpy() == 0)
    np.testing.assert_allclose(zero_rows.grad, 1e6)


def test_cosine_embedding_loss_passes_gradcheck_through_f_and_g():
    rng = np.random.default_rng(3)
    model = AttributeEmbedding(nn.Identity(), nn.Identity(), cosine_scale=3.0)
    target = np.array([0, 2, 1, 2])
    f, g = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    margin = 1.0

    def loss(f, g):
        return tlcore.ops.embedding_hinge_max_loss(model(f), unit_rows(g), target, margin)

    scores = 3.0 * unit_rows(f).numpy() @ unit_rows(g).numpy().T
    assert hinge_kink_distance(scores, target, margin) > 0.05  # draws away from the kinks
    assert loss(leaf(f), leaf(g)).item() > 0                   # some margins are active
    assert tlcore.gradcheck(loss, [leaf(f), leaf(g)])


# -- evaluation and the experiment -------------------------------------------------------


def test_zero_shot_accuracies_of_a_perfect_model_are_all_one():
    unseen, seen = np.array([0, 3, 7]), np.array([1, 2, 4, 5, 6, 8, 9])
    dap = AttributeClassifier(nn.Identity(), DIGIT_ATTRIBUTES, seen)
    y_unseen, y_seen = np.repeat(unseen, 2), np.repeat(seen, 2)
    result = zero_shot_accuracies(dap, _perfect_attribute_logits(y_unseen), y_unseen,
                                  _perfect_attribute_logits(y_seen), y_seen, unseen, seen,
                                  DIGIT_ATTRIBUTES)
    assert result == {"unseen_acc": 1.0, "gzsl_unseen_acc": 1.0, "gzsl_seen_acc": 1.0,
                      "gzsl_h": 1.0}


class _FixedScores(ZeroShotModel):
    """A model whose scores are given: row n of ``table`` for input n, column k for the
    k-th described class (descriptions are one-hot class indicators)."""

    def __init__(self, table):
        super().__init__()
        self.table = np.asarray(table, dtype=np.float64)

    def scores(self, x, class_descriptions):
        return self.table[np.asarray(x)] @ np.asarray(class_descriptions).T


def test_harmonic_mean_and_calibrated_stacking():
    assert harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3) and harmonic_mean(0, 0) == 0.0
    assert harmonic_mean(0.0, 1.0) == 0.0
    scores = np.array([[3.0, 1.0, 2.5]])
    np.testing.assert_allclose(calibrated_stacking(scores, [True, False, False], 1.0),
                               [[2.0, 1.0, 2.5]])


def test_calibration_trades_seen_accuracy_for_unseen_and_is_chosen_on_validation():
    """Classes 0, 1 seen, 2, 3 unseen. Seen inputs beat every unseen class by 2; unseen
    inputs score their own class, but a seen class 1 higher: uncalibrated, every unseen
    input is given a seen label. Any gamma in (1, 2) gets both right."""
    eye = np.eye(4)
    table = np.array([[5, 0, 3, 3], [0, 5, 3, 3],     # seen inputs 0, 1
                      [4, 0, 3, 0], [0, 4, 0, 3.0]])  # unseen inputs 2, 3
    model = _FixedScores(table)
    generalized = GeneralizedScores.of(model, [2, 3], [2, 3], [0, 1], [0, 1], [2, 3],
                                       [0, 1], eye)
    assert generalized.accuracies(0.0) == (0.0, 1.0, 0.0)
    assert generalized.accuracies(1.5) == (1.0, 1.0, 1.0)
    assert generalized.accuracies(2.5)[:2] == (1.0, 0.0)
    gamma = generalized.best_gamma()
    assert 1 < gamma < 2
    assert choose_calibration(model, [2, 3], [2, 3], [0, 1], [0, 1], [2, 3], [0, 1], eye) == gamma
    result = zero_shot_accuracies(model, [2, 3], [2, 3], [0, 1], [0, 1], [2, 3], [0, 1], eye,
                                  gamma)
    assert result == {"unseen_acc": 1.0, "gzsl_unseen_acc": 1.0, "gzsl_seen_acc": 1.0,
                      "gzsl_h": 1.0}
    # a model with no seen bias keeps gamma at 0 (ties go to the gamma nearest 0)
    fair = GeneralizedScores.of(_FixedScores(eye), [2, 3], [2, 3], [0, 1], [0, 1], [2, 3],
                                [0, 1], eye)
    assert fair.best_gamma() == 0.0


# -- what the seen classes can teach ------------------------------------------------------


def test_seen_span_measures_the_unseen_differences_outside_the_seen_ones():
    # seen classes 0-2 differ only in the first two attributes; unseen 3 and 4 differ in
    # the third too: half of their difference's squared length is outside.
    table = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 0.0]])
    span = seen_span(table, [0, 1, 2], [3, 4])
    assert (span.seen_rank, span.rank) == (2, 3) and not span.complete
    assert span.outside == {(3, 4): pytest.approx(1 / 2)}  # (0, -1, 1): 1 of |d|^2 = 2
    message = span.message(["a", "b", "c", "d", "e"])
    assert "2 of the 3 directions" in message and "d-e 50%" in message
    full = seen_span(table, [0, 1, 2, 3], [2, 4])
    assert full.complete and full.outside[(2, 4)] < 1e-20
    # the digits' default split: 6 of 9, and the shares the issue measured
    digits = seen_span(DIGIT_ATTRIBUTES, [1, 2, 4, 5, 6, 8, 9], [0, 3, 7])
    assert (digits.seen_rank, digits.rank) == (6, 9)
    assert [round(v, 2) for v in digits.outside.values()] == [0.34, 0.27, 0.67]


def test_projection_keeps_what_training_reached_and_drops_the_rest():
    rng = np.random.default_rng(0)
    table = rng.integers(0, 2, size=(8, 6)).astype(np.float64)
    seen = np.array([0, 1, 2, 3])
    projected = project_onto_seen_span(table, seen)
    seen_differences = table[seen[1:]] - table[seen[0]]
    # any W: scores of seen differences are unchanged, so the hinge on seen classes is
    W = rng.standard_normal((5, 6))
    np.testing.assert_allclose((projected[seen[1:]] - projected[seen[0]]) @ W.T,
                               seen_differences @ W.T, atol=1e-12)
    # and nothing outside the seen span is left: a W that is zero on it scores 0
    _, _, Vt = np.linalg.svd(seen_differences)
    outside = Vt[3:]  # the directions no seen difference reaches
    np.testing.assert_allclose(projected @ outside.T, 0, atol=1e-12)
    np.testing.assert_allclose(projected[seen].mean(axis=0), 0, atol=1e-12)


def test_sum_hinge_embedding_loss_is_devise_and_passes_gradcheck():
    rng = np.random.default_rng(4)
    model = AttributeEmbedding(nn.Identity(), nn.Identity(), classes="sum")
    target = np.array([0, 2, 1, 2])
    f, g = rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    scores = f @ g.T
    terms = 1.0 - scores[np.arange(4), target][:, None] + scores
    terms[np.arange(4), target] = 0  # the true class is not among the others
    assert np.sort(np.abs(terms), axis=1)[:, 1:].min() > 0.05  # away from the kinks
    expected = np.maximum(terms, 0).sum(axis=1).mean()
    # the model embeds the descriptions in float32, the data's dtype
    assert model.loss(leaf(f), target, g).item() == pytest.approx(expected, rel=1e-6)

    def loss(f, g):  # what model.loss computes for the sum, through f and g in float64
        return tlcore.ops.hinge_sum_loss(tlcore.ops.embedding_scores(f, g), target, 1.0)
    assert loss(leaf(f), leaf(g)).item() == pytest.approx(expected, rel=1e-12)
    assert tlcore.gradcheck(loss, [leaf(f), leaf(g)])
    with pytest.raises(ValueError, match="classes must be 'max' \\(SJE\\) or 'sum'"):
        AttributeEmbedding(nn.Identity(), nn.Identity(), classes="mean")


# -- the experiment ----------------------------------------------------------------------

TINY = dict(epochs=1, hidden=8, embed_dim=4, per_class=8)
METRICS = ("unseen_acc", "gzsl_unseen_acc", "gzsl_seen_acc", "gzsl_h", "gzsl_h_raw")


@pytest.mark.parametrize("data", ["segments", "glyphs", "digits"])
def test_zero_shot_experiment_runs_on_every_world_with_tiny_options(data):
    result = experiments.run("zero-shot", seeds=(0,), data=data, **TINY)
    rows = {(row["method"], row["metric"]): row["values"] for row in result["rows"]}
    assert set(rows) == {(method, metric) for method in ("dap", "embedding", "conse")
                         for metric in METRICS}
    assert all(len(v) == 1 and 0.0 <= v[0] <= 1.0 for v in rows.values())
    assert len(result["claims"]) == 3
    assert result["notes"][0].startswith(f"world {data}")
    assert "directions in which the classes differ" in result["notes"][1]
    again = experiments.run("zero-shot", seeds=(0,), data=data, **TINY)
    assert [r["values"] for r in again["rows"]] == [r["values"] for r in result["rows"]]


def test_zero_shot_experiment_checks_unseen_against_the_world():
    result = experiments.run("zero-shot", seeds=(0,), embedding_descriptions="words",
                             unseen="1,5,8", **TINY)
    assert len(result["rows"]) == 15 and "unseen 1, 5, 8" in result["notes"][0]
    for bad in ("0", "0,3,x", "0,3,10"):
        with pytest.raises(ValueError, match="option 'unseen'"):
            experiments.run("zero-shot", seeds=(0,), unseen=bad, **TINY)
    experiments.get("zero-shot").resolve({"data": "glyphs", "unseen": "0,3,10"})  # 16 classes
    with pytest.raises(ValueError, match="attribute 'top' is present in every seen class"):
        experiments.get("zero-shot").resolve({"unseen": "1,4"})


def test_every_choice_is_made_on_seen_classes_only(monkeypatch):
    """Each model is trained on seen classes, first without the validation's held-out
    classes, and the unseen classes are never among its labels or classes."""
    touched = []
    for name in ("train_dap", "train_embedding", "train_conse"):
        real = getattr(zero_shot, name)

        def recording(X, y, classes, *rest, real=real, name=name):
            touched.append((name, set(np.unique(y).tolist()), set(classes.tolist())))
            return real(X, y, classes, *rest)
        monkeypatch.setattr(zero_shot, name, recording)
    experiments.run("zero-shot", seeds=(0,), **TINY)
    assert [t[0] for t in touched] == ["train_dap"] * 2 + ["train_embedding"] * 5 \
        + ["train_conse"] * 2  # validation, final; four candidates, final; ...
    seen = {1, 2, 4, 5, 6, 8, 9}
    for name, labels, classes in touched:
        assert labels <= classes <= seen
    validation = [t for t in touched if t[2] != seen]
    assert len(validation) == 6 and all(len(t[2]) == 5 for t in validation)


def test_validation_holds_out_only_classes_that_leave_every_attribute_varying():
    seen = np.array([1, 2, 4, 5, 6, 8, 9])
    # middle_bar, top_bar and flat_base are each carried by one seen class (4, 5, 2), so
    # holding any of those out would leave the training classes without the attribute.
    drawn = {tuple(zero_shot.validation_classes(seed, seen, DIGIT_ATTRIBUTES).tolist())
             for seed in range(40)}
    assert drawn == {(1, 6), (1, 8), (1, 9), (8, 9)}
    for held in drawn:
        assert constant_attributes(DIGIT_ATTRIBUTES, np.setdiff1d(seen, held)).size == 0
    # No pair of 1, 3, 5, 7, 9, 0 leaves every attribute varying: then any pair may go.
    odd = np.array([0, 1, 3, 5, 7, 9])
    assert len({tuple(zero_shot.validation_classes(s, odd, DIGIT_ATTRIBUTES).tolist())
                for s in range(40)}) > 4
    # a quarter of twelve seen glyph classes
    glyphs = zero_shot.load_world("glyphs")
    twelve = np.setdiff1d(np.arange(16), glyphs.default_unseen)
    assert len(zero_shot.validation_classes(0, twelve, glyphs.class_attributes)) == 3


def test_embedding_candidates_follow_the_options():
    def candidates(descriptions, similarity):
        return zero_shot.embedding_candidates({"embedding_descriptions": descriptions,
                                               "embedding_similarity": similarity})
    assert len(candidates("validated", "validated")) == 4
    assert candidates("words", "validated") == [("words", "dot"), ("words", "cosine")]
    assert candidates("validated", "cosine") == [("attributes", "cosine"),
                                                 ("words", "cosine")]
    assert candidates("attributes", "dot") == [("attributes", "dot")]


def test_embedding_descriptions_are_centred_for_the_cosine_and_projected_when_asked():
    world = zero_shot.load_world("digits")
    seen = np.array([1, 2, 4, 5, 6, 8, 9])
    table = DIGIT_ATTRIBUTES.astype(np.float64)
    centred = zero_shot.embedding_descriptions(world, "attributes", "cosine", seen, False)
    np.testing.assert_allclose(centred, table - table[seen].mean(axis=0))
    plain = zero_shot.embedding_descriptions(world, "words", "dot", seen, False)
    np.testing.assert_array_equal(plain, DIGIT_SEMANTIC_VECTORS)
    for similarity in ("dot", "cosine"):
        projected = zero_shot.embedding_descriptions(world, "attributes", similarity, seen,
                                                     True)
        np.testing.assert_allclose(projected, project_onto_seen_span(table, seen))


def test_no_method_option_changes_another_methods_result():
    base = experiments.run("zero-shot", seeds=(0,), embedding_descriptions="attributes",
                           embedding_similarity="dot", **TINY)
    other = experiments.run("zero-shot", seeds=(0,), embedding_descriptions="words",
                            embedding_similarity="cosine", cosine_scale=3.0, hinge="sum",
                            seen_span="raw", **TINY)
    values = {(r["method"], r["metric"]): r["values"] for r in base["rows"]}
    for row in other["rows"]:
        if row["method"] != "embedding":
            assert row["values"] == values[(row["method"], row["metric"])]


def test_plot_writes_the_three_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    experiments.run("zero-shot", seeds=(0,), plot=str(tmp_path), **TINY)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["zero-shot-segments-confusion_seed0.png",
                     "zero-shot-segments-examples.png", "zero-shot-segments-space_seed0.png"]
    assert all((tmp_path / name).stat().st_size < 300_000 for name in names)
    assert capsys.readouterr().out.count("wrote ") == 3
