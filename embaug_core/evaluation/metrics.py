"""Evaluation with a "none" category (docs/METHODS.md section 5).

Labels are integers: the index of a class seen in training, or `NONE` (-1) for a product of a
class the model never saw. Probabilities are (n, C) over the known classes; a product is
predicted "none" when no class probability exceeds the threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

NONE = -1
DEFAULT_THRESHOLD = 0.6
THRESHOLDS = np.linspace(0.0, 1.0, 1001)


def predict_with_none(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Top-1 class when its probability exceeds `threshold`, else NONE."""
    top = probs.argmax(axis=1)
    return np.where(probs.max(axis=1) > threshold, top, NONE)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def overall_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Over products of known classes: top-1 is the label and its probability exceeds t."""
    known = labels != NONE
    return _mean(predict_with_none(probs[known], threshold) == labels[known])


def none_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Over "none" products: no class probability exceeds t."""
    return _mean(probs[labels == NONE].max(axis=1, initial=0.0) <= threshold)


def top1_known(probs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy on known classes, ignoring the threshold."""
    known = labels != NONE
    return _mean(probs[known].argmax(axis=1) == labels[known])


def threshold_sweep(
    probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray = THRESHOLDS
) -> pd.DataFrame:
    """Overall and none accuracy at every threshold (the paper's Fig. 3), in one pass."""
    known = labels != NONE
    confidence = probs.max(axis=1, initial=0.0)
    right = np.sort(confidence[known][probs[known].argmax(axis=1) == labels[known]])
    unknown = np.sort(confidence[~known])
    n_known, n_none = int(known.sum()), int((~known).sum())
    overall = (len(right) - np.searchsorted(right, thresholds, side="right")) / max(n_known, 1)
    none = np.searchsorted(unknown, thresholds, side="right") / max(n_none, 1)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "overall": overall if n_known else np.nan,
            "none": none if n_none else np.nan,
        }
    )


def equal_accuracy_point(sweep: pd.DataFrame) -> float:
    """The accuracy where overall equals none accuracy, interpolated between thresholds."""
    gap = (sweep["overall"] - sweep["none"]).to_numpy()
    if np.isnan(gap).any():
        return float("nan")
    crossing = np.flatnonzero(np.diff(np.sign(gap)) != 0)
    if not len(crossing):
        return float("nan")
    i = crossing[0]
    share = gap[i] / (gap[i] - gap[i + 1]) if gap[i] != gap[i + 1] else 0.0
    return float(
        sweep["overall"].iloc[i] + share * (sweep["overall"].iloc[i + 1] - sweep["overall"].iloc[i])
    )


def tradeoff_auc(sweep: pd.DataFrame) -> float:
    """Area under the overall-accuracy vs none-accuracy curve traced by the threshold 0..1."""
    if sweep[["overall", "none"]].isna().any().any():
        return float("nan")
    order = np.lexsort((-sweep["overall"].to_numpy(), sweep["none"].to_numpy()))
    none = np.concatenate([[0.0], sweep["none"].to_numpy()[order], [1.0]])
    overall = sweep["overall"].to_numpy()[order]
    overall = np.concatenate([[overall[0]], overall, [0.0]])
    return float(np.trapezoid(overall, none))


#: The `kind` of the per-class row that scores "none" (its `class` is empty: no real class
#: can be empty, so it never collides with a class called "none").
NONE_ROW = "none"


def per_class_report(
    probs: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float
) -> pd.DataFrame:
    """Precision, recall, F1 and support per known class over all of H (a product of a
    held-out class predicted as c is a false positive of c), plus the "none" row (precision
    and recall of predicting "none"): `kind` is "class" or "none"."""
    predicted = predict_with_none(probs, threshold)
    indices = [*range(len(classes)), NONE]
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    return pd.DataFrame(
        {
            "class": [*classes, ""],
            "kind": ["class"] * len(classes) + [NONE_ROW],
            "support": support,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )


def _macro(
    probs: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per-class precision, recall and F1 of the known classes present in H, computed over all
    of H (docs/METHODS.md section 7): the rows of `per_class_report` that the macro figures
    average."""
    known = labels != NONE
    if not known.any():
        return None
    present = np.unique(labels[known])
    predicted = predict_with_none(probs, threshold)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, labels=present, average=None, zero_division=0
    )
    return precision, recall, f1


def macro_precision_recall(
    probs: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[float, float, float]:
    """Macro precision and recall over the known classes present, counted over all of H (a
    "none" prediction is a miss of the product's class; a held-out product predicted as c is
    a false positive of c), and their harmonic mean: the label-augmentation paper's Table 2
    figures, averaged over classes first (its harmonic mean of every per-class figure is 0 as
    soon as one of 140 classes is never predicted)."""
    per_class = _macro(probs, labels, threshold)
    if per_class is None:
        return float("nan"), float("nan"), float("nan")
    p, r = float(per_class[0].mean()), float(per_class[1].mean())
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def macro_f1_known(probs: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Macro F1 over the known classes present, counted over all of H like the precision."""
    per_class = _macro(probs, labels, threshold)
    return float("nan") if per_class is None else float(per_class[2].mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 probability on known-class products, equal-width bins."""
    known = labels != NONE
    if not known.any():
        return float("nan")
    confidence = probs[known].max(axis=1)
    correct = probs[known].argmax(axis=1) == labels[known]
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [
        abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
        for b in range(bins)
        if (which == b).any()
    ]
    return float(sum(gaps))


def tune_threshold(probs: np.ndarray, labels: np.ndarray, default: float) -> float:
    """The threshold with the best balanced accuracy (mean of overall and none accuracy) on
    these products, the lowest among ties; `default` when they hold no "none" product or no
    known one (nothing to balance)."""
    sweep = threshold_sweep(probs, labels)
    balanced = ((sweep["overall"] + sweep["none"]) / 2).to_numpy()
    if np.isnan(balanced).all():
        return default
    return float(sweep["threshold"].iloc[int(np.nanargmax(balanced))])
