"""The support-weighted one-vs-rest ROC over known classes plus "none" (the paper's Fig. 4 and
its weighted AUC); "none" is scored by 1 - the top class probability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from embaug_core.evaluation.metrics import NONE

FPR_GRID = np.linspace(0.0, 1.0, 1001)


def _one_vs_rest(
    probs: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indicator and score matrices over known classes plus "none", keeping the columns that
    have both positives and negatives, and each column's share of validation products."""
    n_classes = probs.shape[1]
    columns = np.where(labels == NONE, n_classes, labels)
    truth = np.zeros((len(labels), n_classes + 1), dtype=int)
    truth[np.arange(len(labels)), columns] = 1
    scores = np.hstack([probs, 1 - probs.max(axis=1, keepdims=True)])
    positives = truth.sum(axis=0)
    keep = (positives > 0) & (positives < len(labels))
    return truth[:, keep], scores[:, keep], positives[keep] / positives[keep].sum()


def weighted_roc_curve(probs: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """The support-weighted average ROC curve (fpr, tpr) on FPR_GRID (the paper's Fig. 4)."""
    truth, scores, weights = _one_vs_rest(probs, labels)
    curves = roc_points(truth, scores)
    tpr = weighted_roc(curves, weights) if len(weights) else np.full_like(FPR_GRID, np.nan)
    return pd.DataFrame({"fpr": FPR_GRID, "tpr": tpr})


def weighted_auc(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC of the support-weighted average ROC curve, support-weighted mean of per-class AUCs)
    over one-vs-rest ROC per known class plus "none" (score 1 - max class probability)."""
    truth, scores, weights = _one_vs_rest(probs, labels)
    if not len(weights):
        return float("nan"), float("nan")
    curves = roc_points(truth, scores)
    areas = [np.trapezoid(tpr, fpr) for fpr, tpr in curves]
    mean_auc = float(np.dot(weights, areas))
    return float(np.trapezoid(weighted_roc(curves, weights), FPR_GRID)), mean_auc


def weighted_roc(curves: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> np.ndarray:
    """Weighted-average true-positive rate on FPR_GRID (the paper's Fig. 4)."""
    tpr = np.zeros_like(FPR_GRID)
    for weight, (fpr_c, tpr_c) in zip(weights, curves, strict=True):
        tpr += weight * np.interp(FPR_GRID, fpr_c, tpr_c)
    tpr[0] = 0.0
    return tpr


def roc_points(truth: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each column's ROC curve (fpr, tpr) from (0, 0), a point per distinct score: what
    scikit-learn's `roc_curve` gives (less its collinear points, which change no area or
    interpolation), all columns sorted at once. Its input checks, called per column, were
    most of a partition's scoring time (benchmarks/partition.py)."""
    by_column = np.ascontiguousarray(scores.T)
    order = np.argsort(-by_column, axis=1)  # ties in any order: only a tie's end is kept
    ranked = np.take_along_axis(by_column, order, axis=1)
    tps = np.cumsum(np.take_along_axis(truth.T, order, axis=1), axis=1)
    fps = np.arange(1, by_column.shape[1] + 1) - tps
    tie_ends = np.ones(by_column.shape, dtype=bool)
    tie_ends[:, :-1] = ranked[:, 1:] != ranked[:, :-1]
    curves = []
    for tp_c, fp_c, ends in zip(tps, fps, tie_ends, strict=True):
        tp, fp = np.r_[0, tp_c[ends]], np.r_[0, fp_c[ends]]
        curves.append((fp / fp[-1], tp / tp[-1]))
    return curves
