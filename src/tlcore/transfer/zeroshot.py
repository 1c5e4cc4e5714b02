"""Zero-shot learning: recognise classes never seen in training from their descriptions.

Training sees images of the *seen* classes only. Every class, seen or not, comes with a
description: a vector of attributes ("has a closed loop at the top") or a semantic
vector (a word vector of its name). At test time a class never seen is predicted from
its description alone. Three ways, one per part of the lecture:

* ``AttributeClassifier``: train by attributes, Direct Attribute Prediction (DAP,
  Lampert, Nickisch & Harmeling, CVPR 2009 / TPAMI 2014). Learn one sigmoid per
  attribute; a class is as likely as its attribute pattern is under those sigmoids.
* ``AttributeEmbedding``: map the input by f and the class description by g into one
  space and make f(x) closest to g(its class), by dot product or cosine, trained with
  the lecture's hinge loss: the max over the other classes (the structured hinge of SJE,
  Akata et al., CVPR 2015) or, as an option, the sum over them (DeViSE, Frome et al.,
  NIPS 2013).
* ``ConSE``: convex combination of semantic embeddings (Norouzi et al., ICLR 2014). No
  new training: a classifier of the seen classes weighs their semantic vectors by its
  top-T probabilities, and the nearest description (cosine) wins.

All three have ``scores(x, class_descriptions)`` (N, K) and ``predict(x,
candidate_classes, class_descriptions)``: row k of ``class_descriptions`` describes class
``candidate_classes[k]``, and the answer for each input is the candidate with the
largest score. Standard zero-shot evaluation gives the unseen classes as candidates;
generalized zero-shot (GZSL) gives seen and unseen together, where a model trained on
seen classes only favours them; calibrated stacking (Chao et al., ECCV 2016) lowers the
seen classes' scores by a constant chosen without the unseen classes
(``zero_shot_accuracies``, ``choose_calibration``).

Before any training, ``seen_span`` says whether the seen classes' descriptions can teach
what the unseen classes need: a scorer trained on seen classes learns only along the
differences between seen descriptions, and ``project_onto_seen_span`` removes from every
description the directions it never learned.
"""

import itertools
import numbers
from dataclasses import dataclass

import numpy as np

from tlcore import backend, nn, ops
from tlcore.autograd import no_grad, raw

PREDICT_BATCH = 1024  # inputs per forward pass at prediction time


# -- class descriptions and candidates ---------------------------------------------------


def _numpy(value):
    """A tensor's data, an array (nn.Identity returns its input) or a list, as numpy."""
    value = raw(value)
    return value if isinstance(value, (list, tuple)) else backend.to_device(value, "cpu")


def _table(values, name, ndim=2):
    """A float64 array of ``ndim`` dimensions, or a ValueError naming the argument."""
    table = np.asarray(_numpy(values), dtype=np.float64)
    if table.ndim != ndim or 0 in table.shape:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {table.shape}")
    if not np.all(np.isfinite(table)):
        raise ValueError(f"{name} holds NaN or Inf")
    return table


def _check_candidates(candidate_classes, class_descriptions, width=None, what="values"):
    """candidate_classes as a 1-D int array and class_descriptions (one row each, of
    ``width`` columns if given), or a ValueError that says what does not match."""
    candidates = np.asarray(candidate_classes)
    if candidates.ndim != 1 or candidates.size == 0 or candidates.dtype.kind not in "iu":
        raise ValueError(f"candidate_classes must be a non-empty 1-D list of integer class "
                         f"labels, got {candidate_classes!r}")
    if len(np.unique(candidates)) != len(candidates):
        raise ValueError(f"candidate_classes must not repeat a class, got {candidates.tolist()}")
    descriptions = _table(class_descriptions, "class_descriptions")
    width = descriptions.shape[1] if width is None else width
    if descriptions.shape != (len(candidates), width):
        raise ValueError(f"class_descriptions must have one row of {width} {what} per "
                         f"candidate class, i.e. shape ({len(candidates)}, {width}); got "
                         f"{descriptions.shape}")
    return candidates, descriptions


def _outputs(module, x):
    """module(x) as a numpy array, in evaluation mode and without a graph, in batches."""
    module.eval()
    with no_grad():
        return np.concatenate([_numpy(module(x[i:i + PREDICT_BATCH]))
                               for i in range(0, len(x), PREDICT_BATCH)])


def constant_attributes(class_attributes, seen_classes):
    """The attributes (column indices) that have one value over all ``seen_classes``."""
    rows = _table(class_attributes, "class_attributes")[np.asarray(seen_classes)]
    return np.flatnonzero(rows.min(axis=0) == rows.max(axis=0))


def check_seen_attributes(class_attributes, seen_classes, attribute_names=None):
    """Refuse a split on which some attribute has one value over all seen classes.

    Nothing trained on the seen classes can learn such an attribute (its sigmoid never
    sees the other value), and DAP's prior p(a) over the seen classes is then 0 or 1, so
    the attribute alone would decide every unseen class that differs from the seen ones
    in it. The error names the first such attribute.
    """
    table = _table(class_attributes, "class_attributes")
    seen = np.asarray(seen_classes)
    constant = constant_attributes(table, seen)
    if constant.size:
        a = constant[0]
        name = attribute_names[a] if attribute_names is not None else f"number {a}"
        where = "present in" if table[seen[0], a] else "absent from"
        raise ValueError(
            f"attribute {name!r} is {where} every seen class {sorted(seen.tolist())}: a model "
            "trained on them cannot learn it. Choose unseen classes that leave, among the "
            "seen ones, a class with the attribute and a class without it.")


def _seen_basis(table, seen_classes, tolerance=1e-9):
    """An orthonormal basis (rows) of the span of the differences between the seen
    classes' descriptions: the only directions a hinge over seen classes trains."""
    rows = table[np.asarray(seen_classes)]
    return _row_basis(rows[1:] - rows[0], tolerance)


def _row_basis(matrix, tolerance=1e-9):
    if matrix.size == 0:
        return np.zeros((0, matrix.shape[1]))
    _, singular, Vt = np.linalg.svd(matrix, full_matrices=False)
    return Vt[singular > tolerance * max(1.0, singular.max(initial=0.0))]


@dataclass(frozen=True)
class SeenSpan:
    """What the seen classes' descriptions span: ``seen_rank`` independent differences
    among the seen classes, against ``rank`` among all classes; ``outside[(u, v)]``: the
    share of |a_u - a_v|^2 outside the seen span, for each pair of unseen classes."""
    seen_rank: int
    rank: int
    outside: dict

    @property
    def complete(self):
        """Every unseen pair's difference lies in the seen span (to 1e-9)."""
        return all(share < 1e-9 for share in self.outside.values())

    def message(self, class_names=None):
        """Two lines a person can read: the ranks, and the shares outside."""
        def name(c):
            return class_names[c] if class_names is not None else str(c)
        shares = ", ".join(f"{name(u)}-{name(v)} {share:.0%}"
                           for (u, v), share in self.outside.items())
        verdict = ("every difference between unseen classes lies in it" if self.complete
                   else "what lies outside it, a scorer trained on the seen classes never "
                        "learned")
        return (f"the seen classes' descriptions differ along {self.seen_rank} of the "
                f"{self.rank} directions in which the classes differ; {verdict}.\n"
                f"share of each unseen pair's difference outside the seen span: {shares}")


def seen_span(class_descriptions, seen_classes, unseen_classes):
    """``SeenSpan`` of a split: how much of what tells the unseen classes apart the seen
    classes' descriptions can teach.

    A scorer f(x) . W a trained by a hinge over seen classes only ever sees differences
    a_y - a_m of seen descriptions, so W learns along their span and keeps its initial
    values elsewhere; an unseen pair whose difference lies partly outside is told apart
    partly by those untrained values (for DAP each attribute is its own classifier, so
    this is the embedding's and ConSE's concern)."""
    table = _table(class_descriptions, "class_descriptions")
    seen, unseen = np.asarray(seen_classes), np.asarray(unseen_classes)
    basis = _seen_basis(table, seen)
    outside = {}
    for u, v in itertools.combinations(sorted(unseen.tolist()), 2):
        difference = table[u] - table[v]
        residual = difference - basis.T @ (basis @ difference)
        length2 = difference @ difference  # 0: one description for two classes
        outside[(u, v)] = float(residual @ residual / length2) if length2 else 0.0
    return SeenSpan(len(basis), len(_row_basis(table[1:] - table[0])), outside)


def project_onto_seen_span(class_descriptions, seen_classes):
    """Every description centred on the seen classes' mean and projected onto the span
    of the seen differences (C, M): P (a_c - mean_seen). A scorer then never reads a
    direction that training did not reach; scores change only by a constant per input
    for every direction it did reach, so nothing trained is lost."""
    table = _table(class_descriptions, "class_descriptions")
    basis = _seen_basis(table, seen_classes)
    centred = table - table[np.asarray(seen_classes)].mean(axis=0)
    return centred @ basis.T @ basis


# -- the three models ------------------------------------------------------------------


class ZeroShotModel(nn.Module):
    """What the three share: ``predict`` is the candidate with the largest score.
    Subclasses give ``scores(x, class_descriptions)`` and ``description_width`` (None:
    any width)."""
    description_width = None
    description_kind = "values"

    def predict(self, x, candidate_classes, class_descriptions):
        candidates, descriptions = _check_candidates(
            candidate_classes, class_descriptions, self.description_width,
            self.description_kind)
        return candidates[self.scores(x, descriptions).argmax(axis=1)]


# -- DAP -------------------------------------------------------------------------------


class AttributeClassifier(ZeroShotModel):
    """Direct Attribute Prediction (DAP, Lampert et al. 2009): zero-shot by attributes.

    ``backbone`` maps an input to M logits, one per attribute; sigmoid(logit_m) is
    p(a_m = 1 | x). ``class_attributes`` (C, M) is the 0/1 table of every class's
    attributes, row c for class label c. Training sees only ``seen_classes`` (default:
    all rows): its loss is the binary cross-entropy of each attribute against the table
    row of the input's class. To predict, a candidate class z with attributes a^z scores

        log p(z | x) = sum_m log p(a_m = a^z_m | x) - log p(a_m = a^z_m) + const

    (Lampert's p(z|x) = prod_m p(a^z_m | x) / p(a^z_m), with equal class priors), where
    the attribute prior p(a_m = 1) is the mean of a_m over the seen classes. Probabilities
    are clipped to [clip, 1 - clip] before the log, so no single confident attribute can
    veto a class by itself: each adds at most log(1/clip) to a score.
    """

    def __init__(self, backbone, class_attributes, seen_classes=None, attribute_names=None,
                 clip=0.01):
        super().__init__()
        table = _table(class_attributes, "class_attributes")
        if not np.all((table == 0) | (table == 1)):
            raise ValueError("class_attributes must hold only 0 and 1 (attribute absent, "
                             "present)")
        if isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not 0 < clip < 0.5:
            raise ValueError(f"clip must be a number in (0, 0.5), got {clip!r}")
        seen = np.arange(len(table)) if seen_classes is None else np.unique(seen_classes)
        if (seen.size == 0 or seen.dtype.kind not in "iu" or seen.min() < 0
                or seen.max() >= len(table)):
            raise ValueError(f"seen_classes must be rows of class_attributes (0 to "
                             f"{len(table) - 1}), got {seen_classes!r}")
        check_seen_attributes(table, seen, attribute_names)
        self.add_module("backbone", backbone)  # a TypeError unless it is a Module
        self.class_attributes = table
        self.seen_classes = seen
        self.clip = clip
        self.attribute_prior = table[seen].mean(axis=0)  # p(a_m = 1), seen classes only
        self.description_width, self.description_kind = table.shape[1], "attributes"

    def forward(self, x):
        """The attribute logits (N, M)."""
        return self.backbone(x)

    def loss(self, logits, labels):
        """Mean binary cross-entropy of the attribute logits against the attributes of
        each input's class; ``labels`` must all be seen classes."""
        labels = np.asarray(labels)
        unseen = np.setdiff1d(labels, self.seen_classes)
        if unseen.size:
            raise ValueError(f"labels hold class {unseen[0]}, which is not a seen class "
                             f"{self.seen_classes.tolist()}: DAP trains on seen classes only")
        target = self.class_attributes[labels].astype(logits.dtype)
        return ops.binary_cross_entropy_with_logits(logits, target)

    def attribute_probabilities(self, x):
        """p(a_m = 1 | x) for every input and attribute (N, M), as a numpy array."""
        logits = _outputs(self.backbone, x)
        return 0.5 * np.tanh(0.5 * logits.astype(np.float64)) + 0.5  # sigmoid, stable

    def class_log_scores(self, probabilities, class_descriptions):
        """DAP's log p(z | x) + const (N, K) for attribute probabilities (N, M) and the
        0/1 attributes of K classes (K, M)."""
        p = np.clip(probabilities, self.clip, 1 - self.clip)
        prior = np.clip(self.attribute_prior, self.clip, 1 - self.clip)
        a = class_descriptions
        likelihood = np.log(p) @ a.T + np.log1p(-p) @ (1 - a).T
        return likelihood - (a @ np.log(prior) + (1 - a) @ np.log1p(-prior))

    def scores(self, x, class_descriptions):
        """DAP's log p(z | x) + const for every input and described class (N, K)."""
        return self.class_log_scores(self.attribute_probabilities(x), class_descriptions)


# -- attribute embedding -----------------------------------------------------------------


class AttributeEmbedding(ZeroShotModel):
    """Zero-shot by attribute embedding: f maps an input, g maps a class description
    (an attribute or word vector) into one space; the score of class c for x is
    f(x) . g(y_c). Training on the seen classes minimises the lecture's loss

        sum_n max(0, k - f(x^n) . g(y^n) + max_{m != y^n} f(x^n) . g(y^m))

    (``F.embedding_hinge_max_loss``; the structured hinge of SJE, Akata et al. 2015):
    the true class must beat the best *other class* by the margin k. The max runs over the other classes' descriptions, not over the other
    samples of the batch: a batch usually holds two samples of one class, and then
    "another sample's description" is the true description itself, whose score can never
    beat itself by k, so the loss would stay at k for ever and push f(x) away from its own
    class. Once every input beats every other class by k the loss is zero, and training
    stops moving the embeddings.

    ``cosine_scale`` s (default None: the dot product above) scores by cosine instead,

        score(x, c) = s * f(x) . g(y_c) / (|f(x)| |g(y_c)|),

    the same loss on those scores (a margin k asks for a cosine gap k / s). A dot product
    lets a class win by the length of its embedding; for an unseen class that length is
    g's, never trained, so it can favour one unseen class over the others whatever the
    input. The cosine compares directions only (cosine classifiers: Gidaris & Komodakis
    2018; in zero-shot learning, Liu et al. 2018 "Generalized zero-shot learning with deep
    calibration network").

    ``classes="sum"`` sums the hinge over every other class instead of taking the max
    (DeViSE, Frome et al. 2013): every class that comes within k of the true one pushes,
    not only the hardest.

    Prediction: the candidate class whose description's embedding has the largest score
    with f(x). An unseen class needs only its description, through g.
    """

    def __init__(self, f, g, cosine_scale=None, classes="max"):
        super().__init__()
        if cosine_scale is not None and (
                isinstance(cosine_scale, bool) or not isinstance(cosine_scale, numbers.Real)
                or not np.isfinite(cosine_scale) or cosine_scale <= 0):
            raise ValueError(f"cosine_scale must be None (dot product) or a finite number "
                             f"> 0, got {cosine_scale!r}")
        if classes not in ("max", "sum"):
            raise ValueError(f"classes must be 'max' (SJE) or 'sum' (DeViSE): how the "
                             f"hinge treats the other classes; got {classes!r}")
        self.add_module("f", f)  # add_module: a TypeError unless it is a Module
        self.add_module("g", g)
        self.cosine_scale = None if cosine_scale is None else float(cosine_scale)
        self.classes = classes

    def forward(self, x):
        """The input embeddings (N, D): f(x), or s * f(x) / |f(x)| for the cosine."""
        embeddings = self.f(x)
        if self.cosine_scale is None:
            return embeddings
        return unit_rows(embeddings) * self.cosine_scale

    def embed_classes(self, class_descriptions):
        """g of every description (K, D), scaled to length 1 for the cosine."""
        embeddings = self.g(_table(class_descriptions, "class_descriptions")
                            .astype(np.float32))
        return embeddings if self.cosine_scale is None else unit_rows(embeddings)

    def loss(self, input_embeddings, target, class_descriptions, margin=1.0):
        """The hinge loss (max or sum over the other classes) of the input embeddings
        (N, D), ``self(x)``, against the K training classes' descriptions; ``target``
        (N,) indexes the rows of ``class_descriptions``. The max form is the fused
        ``ops.embedding_hinge_max_loss``: the value and gradients of
        ``hinge_max_loss(embedding_scores(f, g), target)`` at the cost of one GEMM, not
        three (bench/ops.py)."""
        classes = self.embed_classes(class_descriptions)
        if self.classes == "max":  # the fused kernel: the (N, K) scores are never formed
            return ops.embedding_hinge_max_loss(input_embeddings, classes, target, margin)
        return ops.hinge_sum_loss(ops.embedding_scores(input_embeddings, classes), target,
                                  margin)

    def scores(self, x, class_descriptions):
        """The score of every input and description (N, K), as a numpy array."""
        self.eval()
        with no_grad():
            classes = self.embed_classes(class_descriptions)
            return np.concatenate([
                _numpy(ops.embedding_scores(self(x[i:i + PREDICT_BATCH]), classes))
                for i in range(0, len(x), PREDICT_BATCH)])



def unit_rows(v, eps=1e-6):
    """Each row of the tensor v (N, D) scaled to length 1: v / sqrt(|v|^2 + eps^2).

    Built from differentiable ops, so the chain rule is theirs: for u = v / r with
    r = |v|, du/dv = (I - u u^T) / r, the part of the gradient along the row is removed.
    eps keeps a zero row at zero, with the finite gradient I / eps, instead of
    dividing by 0."""
    return v / ops.sqrt(ops.sum(v * v, axis=1, keepdims=True) + eps * eps)


# -- ConSE -------------------------------------------------------------------------------


class ConSE(ZeroShotModel):
    """Convex combination of semantic embeddings (Norouzi et al., ICLR 2014).

    ``classifier`` maps an input to logits over the K seen classes; ``seen_vectors``
    (K, D) holds their semantic vectors, row k for output k. An input x is placed in the
    semantic space at the mix of its T most probable seen classes,

        e(x) = (1 / Z) sum_{t=1..T} p(s_t | x) v(s_t),   Z = sum_{t=1..T} p(s_t | x),

    with s_1, s_2, ... the seen classes by decreasing softmax probability; the prediction
    is the candidate whose semantic vector is nearest to e(x) by cosine similarity. The
    classifier is trained on the seen classes as usual; ConSE adds no training.
    """

    def __init__(self, classifier, seen_vectors, T):
        super().__init__()
        vectors = _table(seen_vectors, "seen_vectors")
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) \
                or not 1 <= T <= len(vectors):
            raise ValueError(f"T must be an integer from 1 to the number of seen classes "
                             f"({len(vectors)}), got {T!r}")
        self.add_module("classifier", classifier)  # a TypeError unless it is a Module
        self.seen_vectors = vectors
        self.T = int(T)
        self.description_width, self.description_kind = vectors.shape[1], "semantic values"

    def forward(self, x):
        """The classifier's logits over the seen classes (N, K)."""
        return self.classifier(x)

    def semantic_embedding(self, x):
        """e(x) (N, D): the probability-weighted mean of the top-T seen classes' vectors."""
        logits = _outputs(self.classifier, x).astype(np.float64)
        if logits.shape[1] != len(self.seen_vectors):
            raise ValueError(f"the classifier gives {logits.shape[1]} logits but there are "
                             f"{len(self.seen_vectors)} seen_vectors: one per seen class")
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :self.T]
        weights = np.take_along_axis(probabilities, top, axis=1)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nt,ntd->nd", weights, self.seen_vectors[top])

    def scores(self, x, class_descriptions):
        """The cosine of e(x) with every description (N, K)."""
        return _numpy(unit_rows(self.semantic_embedding(x)) @ unit_rows(class_descriptions).T)


# -- evaluation --------------------------------------------------------------------------


def harmonic_mean(a, b):
    """H = 2ab / (a + b), 0 where both are 0: the GZSL summary of seen and unseen
    accuracy (Xian et al., CVPR 2017), high only when both are."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def calibrated_stacking(scores, seen_columns, gamma):
    """The scores (N, K) with every seen class's column lowered by gamma (Chao, Changpinyo,
    Gong & Sha, ECCV 2016): a model trained on the seen classes scores them too high, and
    gamma trades seen accuracy for unseen accuracy. ``seen_columns``: (K,) bools."""
    return scores - gamma * np.asarray(seen_columns, dtype=np.float64)


@dataclass(frozen=True)
class GeneralizedScores:
    """Every candidate's score (seen and unseen classes: ``candidates``) for a set of
    unseen-class inputs and a set of seen-class inputs, computed once; accuracies at
    any calibration gamma read from them."""
    candidates: np.ndarray
    seen_columns: np.ndarray
    unseen_scores: np.ndarray
    y_unseen: np.ndarray
    seen_scores: np.ndarray
    y_seen: np.ndarray

    @classmethod
    def of(cls, model, X_unseen, y_unseen, X_seen, y_seen, unseen_classes, seen_classes,
           class_descriptions):
        candidates = np.concatenate([np.asarray(seen_classes), np.asarray(unseen_classes)])
        descriptions = _table(class_descriptions, "class_descriptions")[candidates]
        return cls(candidates, np.isin(candidates, seen_classes),
                   model.scores(X_unseen, descriptions), np.asarray(y_unseen),
                   model.scores(X_seen, descriptions), np.asarray(y_seen))

    def accuracies(self, gamma=0.0):
        """(accuracy on the unseen inputs, on the seen inputs, their harmonic mean)."""
        def accuracy(scores, y):
            lowered = calibrated_stacking(scores, self.seen_columns, gamma)
            return float(np.mean(self.candidates[lowered.argmax(axis=1)] == y))
        unseen, seen = accuracy(self.unseen_scores, self.y_unseen), \
            accuracy(self.seen_scores, self.y_seen)
        return unseen, seen, harmonic_mean(unseen, seen)

    def best_gamma(self, steps=101):
        """The gamma with the largest harmonic mean, among 0 and the quantiles of every
        input's gap between its best seen and best unseen score (where predictions can
        change); ties keep the gamma nearest 0."""
        scores = np.concatenate([self.unseen_scores, self.seen_scores])
        gaps = scores[:, self.seen_columns].max(axis=1) - scores[:, ~self.seen_columns].max(axis=1)
        gammas = np.concatenate([[0.0], np.quantile(gaps, np.linspace(0, 1, steps))])
        gammas = gammas[np.argsort(np.abs(gammas), kind="stable")]
        return float(max(gammas, key=lambda gamma: self.accuracies(gamma)[2]))


def choose_calibration(model, X_held_out, y_held_out, X_seen, y_seen, held_out_classes,
                       seen_classes, class_descriptions):
    """Calibrated stacking's gamma, chosen on seen classes only: ``model`` was trained
    without the ``held_out_classes`` (seen classes playing unseen ones), and gamma is the
    one that maximises the harmonic mean of their accuracy and that of held-out images
    of the classes it was trained on (``X_seen``), as Chao et al. choose it by
    class-level validation. The real unseen classes take no part."""
    return GeneralizedScores.of(model, X_held_out, y_held_out, X_seen, y_seen,
                                held_out_classes, seen_classes, class_descriptions).best_gamma()


def zero_shot_accuracies(model, X_unseen, y_unseen, X_seen, y_seen, unseen_classes,
                         seen_classes, class_descriptions, gamma=0.0):
    """Standard and generalized zero-shot accuracy of any of the three models.

    ``class_descriptions`` is indexed by class label (row c describes class c).
    Returns {"unseen_acc": accuracy on the unseen test inputs with the unseen classes as
    the only candidates, "gzsl_unseen_acc" and "gzsl_seen_acc": accuracy on the unseen
    and on held-out seen test inputs with every seen and unseen class as a candidate, the
    seen classes' scores lowered by ``gamma`` (calibrated stacking), "gzsl_h": their
    harmonic mean}. In the generalized setting a model trained on seen classes only
    favours them: high on seen inputs, low on unseen ones, unless gamma corrects it.
    """
    descriptions = _table(class_descriptions, "class_descriptions")
    unseen = np.asarray(unseen_classes)
    unseen_acc = float(np.mean(model.predict(X_unseen, unseen, descriptions[unseen])
                               == np.asarray(y_unseen)))
    generalized = GeneralizedScores.of(model, X_unseen, y_unseen, X_seen, y_seen,
                                       unseen_classes, seen_classes, descriptions)
    gzsl_unseen, gzsl_seen, h = generalized.accuracies(gamma)
    return {"unseen_acc": unseen_acc, "gzsl_unseen_acc": gzsl_unseen,
            "gzsl_seen_acc": gzsl_seen, "gzsl_h": h}
