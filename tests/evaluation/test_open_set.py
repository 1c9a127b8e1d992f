"""Open-set scorers against values worked out by hand, and the combination they make with a
classifier: the class from the classifier, "none" from the score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from embaug_core.evaluation.metrics import NONE
from embaug_core.evaluation.open_set import Energy, KnnDistance, Mahalanobis, fit_scorer
from embaug_core.training.model import Classifier, Standardizer
from embaug_core.training.open_set import ScoreMap, combine, fit_open_set


def identity_classifier(n_classes: int) -> Classifier:
    """A linear softmax head whose logits are the input itself (weights I, bias 0)."""
    head = nn.Linear(n_classes, n_classes)
    with torch.no_grad():
        head.weight.copy_(torch.eye(n_classes))
        head.bias.zero_()
    names = [f"c{i}" for i in range(n_classes)]
    return Classifier(names, Standardizer.identity(n_classes), head, "linear", "softmax")


def test_knn_distance_is_the_cosine_to_the_kth_nearest_training_product():
    # Training directions at 0, 90 and 45 degrees; a query along 0 degrees is at cosine 1, then
    # cos 45 = 0.7071, then cos 90 = 0; lengths do not matter (kept at half precision: 1e-3).
    train = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]], np.float32)
    query = np.array([[5.0, 0.0]], np.float32)
    scorer = KnnDistance(train, k=1)
    assert scorer.score(query) == pytest.approx([1.0])
    found = scorer.similarities(query, (1, 2, 3, 50))
    assert found[2] == pytest.approx([math.sqrt(0.5)], abs=1e-3)
    assert found[3] == pytest.approx([0.0], abs=1e-3)
    assert found[50] == pytest.approx([0.0], abs=1e-3)  # beyond the set: its farthest


def test_mahalanobis_is_minus_the_distance_to_the_nearest_class_mean_in_shared_units():
    # Two classes whose residuals are (+-1, 0) and (0, +-1): a shared covariance of 0.5 I, which
    # shrinkage towards a multiple of the identity leaves as it is. A product at (0, 3) is 3
    # from class 0's mean (0, 0) and sqrt(109) from class 1's (10, 0): 3 / sqrt(0.5) units.
    offsets = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float64)
    z = np.vstack([offsets, offsets + np.array([10.0, 0.0])])
    labels = np.repeat([0, 1], 4)
    scorer = Mahalanobis.fit(z, labels)
    assert scorer.score(np.array([[0.0, 3.0]])) == pytest.approx([-3 / math.sqrt(0.5)])
    assert scorer.score(np.array([[10.0, -1.0]])) == pytest.approx([-1 / math.sqrt(0.5)])


def test_mahalanobis_with_one_product_per_class_uses_the_products_own_spread():
    # One label per class (the label budget's first step) leaves no spread within a class:
    # the four products (+-1, 0), (0, +-1) spread 0.5 I around their mean, so (3, 0) is 2 from
    # the nearest one, 2 / sqrt(0.5) units, and a product itself scores 0.
    z = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float64)
    scorer = Mahalanobis.fit(z, np.arange(4))
    assert scorer.score(np.array([[3.0, 0.0]])) == pytest.approx([-2 / math.sqrt(0.5)], rel=1e-5)
    assert scorer.score(np.array([[0.0, 1.0]])) == pytest.approx([0.0], abs=1e-5)


def test_energy_is_the_logsumexp_of_the_logits():
    # Logits (0, ln 3): log(e^0 + e^ln3) = log 4.
    classifier = identity_classifier(2)
    scorer = fit_scorer("energy", np.zeros((2, 2)), np.array([0, 1]), classifier)
    assert isinstance(scorer, Energy)
    assert scorer.score(np.array([[0.0, math.log(3)]], np.float32)) == pytest.approx(
        [math.log(4)], rel=1e-6
    )


def test_an_unknown_scorer_is_a_clear_error():
    with pytest.raises(ValueError, match="knn_distance, mahalanobis, energy"):
        fit_scorer("lof", np.zeros((2, 2)), np.array([0, 1]), identity_classifier(2))


def test_the_score_map_rises_with_the_score_and_separates_known_from_none():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    known = np.array([0, 0, 0, 1, 1, 1], bool)
    mapped = ScoreMap.fit(scores, known)(scores)
    assert np.all(np.diff(mapped) > 0)
    assert mapped[:3].max() < 0.5 < mapped[3:].min()
    only_known = ScoreMap.fit(scores, np.ones(6, bool))  # nothing to fit: centred on the median
    assert only_known(np.array([0.5])) == pytest.approx([0.5])


def test_combining_keeps_the_class_and_gives_the_confidence_of_the_score():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.2]], np.float32)
    combined = combine(probs, np.array([0.9, 0.05]))
    assert list(combined.argmax(axis=1)) == [0, 1]
    assert combined.max(axis=1) == pytest.approx([0.9, 0.05])


def test_an_open_set_model_calls_far_products_none_whatever_the_classifier_says():
    """Two tight clusters train; S holds products of both and of a third cluster in another
    direction. The classifier (logits x0 - x1 and x1 - x0) is sure of class 1 for the third
    cluster's products, but the kNN scorer sends them to "none" and keeps the known ones."""
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [0.0, 4.0], [-4.0, 8.0]])
    near = lambda c, n: centres[c] + rng.normal(0, 0.1, (n, 2))  # noqa: E731
    x_train = np.vstack([near(0, 20), near(1, 20)]).astype(np.float32)
    y_train = np.repeat([0, 1], 20)
    x_select = np.vstack([near(0, 5), near(1, 5), near(2, 5)]).astype(np.float32)
    y_select = np.array([0] * 5 + [1] * 5 + [NONE] * 5)
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
        head.bias.zero_()
    classifier = Classifier(["a", "b"], Standardizer.identity(2), head, "linear", "softmax")
    model = fit_open_set(classifier, "knn_distance", x_train, y_train, x_select, y_select)
    test = np.vstack([near(0, 3), near(2, 3)]).astype(np.float32)
    probs = model.predict_proba(test)
    assert (classifier.predict_proba(test)[3:].max(axis=1) > 0.99).all()  # the classifier is sure
    assert (probs[3:].max(axis=1) < 0.5).all() and (probs[:3].max(axis=1) > 0.5).all()
    assert list(probs.argmax(axis=1)) == list(classifier.predict_proba(test).argmax(axis=1))
    assert (model.scores(test)[:3] > model.scores(test)[3:].max()).all()
