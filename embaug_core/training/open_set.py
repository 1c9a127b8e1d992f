"""A classifier combined with an open-set scorer (docs/METHODS.md section 8): the class is the
classifier's arg max, the "none" decision the scorer's. The score becomes a confidence in
[0, 1] by a logistic fit on S (known products 1, "none" products 0), stored with the model, so
every figure and threshold of section 5 reads the combination as it reads any classifier: each
row of the classifier's probabilities is scaled so that its top equals that confidence.

Where no S exists (the production model trains on every label), S is made inside the training
products: a seeded tenth of the classes held out whole and a fifth of the rest, the scorer
fitted on what remains, then fitted again on every product with what S chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embaug_core.evaluation.metrics import NONE, threshold_sweep, tradeoff_auc
from embaug_core.evaluation.open_set import (
    DEFAULT_K,
    KNN_KS,
    KnnDistance,
    Scorer,
    fit_scorer,
)
from embaug_core.training.model import Classifier

#: The pseudo-selection of the production model: classes held out whole, and products of S.
PSEUDO_HELD_OUT, PSEUDO_SELECT = 0.1, 0.2


@dataclass(frozen=True)
class ScoreMap:
    """confidence = 1 / (1 + exp(-(slope * (score - center)))), increasing in the score."""

    center: float
    slope: float

    @classmethod
    def fit(cls, scores: np.ndarray, known: np.ndarray) -> ScoreMap:
        """The logistic fit of known (1) against "none" (0) on the score; without both kinds,
        or when the fit does not rise with the score, a map centred on the scores' median with
        unit slope per standard deviation."""
        spread = float(np.std(scores)) or 1.0
        fallback = cls(float(np.median(scores)) if len(scores) else 0.0, 1.0 / spread)
        if len(np.unique(known)) < 2:
            return fallback
        from sklearn.linear_model import LogisticRegression

        scaled = ((scores - fallback.center) / spread).reshape(-1, 1)
        model = LogisticRegression().fit(scaled, known.astype(int))
        slope = float(model.coef_[0, 0])
        if slope <= 0:
            return fallback
        return cls(fallback.center - float(model.intercept_[0]) * spread / slope, slope / spread)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        exponent = np.clip(-self.slope * (np.asarray(scores, np.float64) - self.center), -50, 50)
        return 1.0 / (1.0 + np.exp(exponent))


class OpenSetClassifier:
    """The classifier's classes, the scorer's "none" decision."""

    def __init__(self, classifier: Classifier, scorer: Scorer, score_map: ScoreMap):
        self.classifier, self.scorer, self.score_map = classifier, scorer, score_map
        self.classes = classifier.classes
        self.standardizer = classifier.standardizer

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The open-set score of raw product vectors (high: like what training saw)."""
        return self.scorer.score(self.standardizer(np.asarray(x, np.float32)))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return combine(self.classifier.predict_proba(x), self.score_map(self.scores(x)))


def combine(probs: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Each row scaled so that its top equals `confidence` (its arg max unchanged)."""
    top = np.maximum(probs.max(axis=1, keepdims=True), 1e-12)
    return (probs / top * confidence.reshape(-1, 1)).astype(np.float32)


def fit_open_set(
    classifier: Classifier,
    scorer: str,
    x: np.ndarray,
    labels: np.ndarray,
    x_select: np.ndarray | None = None,
    y_select: np.ndarray | None = None,
) -> OpenSetClassifier:
    """Fit `scorer` on the training rows `x` (class indices `labels`) next to a fitted
    `classifier`; its k (for `knn_distance`) and its score map are chosen on S (`x_select`,
    `y_select`: class index or NONE), or on a pseudo-selection when there is none."""
    z = classifier.standardizer(np.asarray(x, np.float32))
    if x_select is None or y_select is None:
        return _fit_without_selection(classifier, scorer, z, labels)
    z_select = classifier.standardizer(np.asarray(x_select, np.float32))
    fitted, _ = _choose(classifier, scorer, z, labels, z_select, y_select)
    return OpenSetClassifier(classifier, fitted, _map(fitted, z_select, y_select))


def _map(scorer: Scorer, z_select: np.ndarray, y_select: np.ndarray) -> ScoreMap:
    return ScoreMap.fit(scorer.score(z_select), y_select != NONE)


def _choose(
    classifier: Classifier,
    scorer: str,
    z: np.ndarray,
    labels: np.ndarray,
    z_select: np.ndarray,
    y_select: np.ndarray,
) -> tuple[Scorer, int]:
    """The scorer fitted on `z`; for `knn_distance` with the k of KNN_KS whose combination has
    the largest known-vs-none area on S (DEFAULT_K when S cannot tell)."""
    fitted = fit_scorer(scorer, z, labels, classifier, DEFAULT_K)
    if not isinstance(fitted, KnnDistance) or len(np.unique(y_select == NONE)) < 2:
        return fitted, DEFAULT_K
    probs = classifier.predict_standardized(z_select)
    areas = {}
    for k, scores in fitted.similarities(z_select, KNN_KS).items():
        confidence = ScoreMap.fit(scores, y_select != NONE)(scores)
        areas[k] = tradeoff_auc(threshold_sweep(combine(probs, confidence), y_select))
    best = max(KNN_KS, key=lambda k: (round(areas[k], 6), k == DEFAULT_K))
    fitted.k = best
    return fitted, best


def _fit_without_selection(
    classifier: Classifier, scorer: str, z: np.ndarray, labels: np.ndarray
) -> OpenSetClassifier:
    """S made inside the training rows (PSEUDO_*), then the scorer fitted on every row."""
    rng = np.random.default_rng(0)
    classes = np.unique(labels)
    held = rng.choice(classes, size=round(PSEUDO_HELD_OUT * len(classes)), replace=False)
    if len(classes) - len(held) < 2:
        held = held[:0]
    in_held = np.isin(labels, held)
    select = in_held | (rng.random(len(labels)) < PSEUDO_SELECT)
    fit_rows = ~select
    if len(np.unique(labels[fit_rows])) < 1 or select.sum() == 0:
        fitted = fit_scorer(scorer, z, labels, classifier, DEFAULT_K)
        return OpenSetClassifier(classifier, fitted, _map(fitted, z, labels))
    y_select = np.where(in_held[select], NONE, labels[select])
    part, k = _choose(classifier, scorer, z[fit_rows], labels[fit_rows], z[select], y_select)
    score_map = _map(part, z[select], y_select)
    return OpenSetClassifier(classifier, fit_scorer(scorer, z, labels, classifier, k), score_map)
