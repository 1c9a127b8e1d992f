"""The support-weighted one-vs-rest ROC over known classes plus "none" (the paper's Fig. 4 and
its weighted AUC); "none" is scored by 1 - the top class probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

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
    tpr = weighted_roc(truth, scores, weights) if len(weights) else np.full_like(FPR_GRID, np.nan)
    return pd.DataFrame({"fpr": FPR_GRID, "tpr": tpr})


def weighted_auc(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(AUC of the support-weighted average ROC curve, support-weighted mean of per-class AUCs)
    over one-vs-rest ROC per known class plus "none" (score 1 - max class probability)."""
    truth, scores, weights = _one_vs_rest(probs, labels)
    if not len(weights):
        return float("nan"), float("nan")
    tpr = weighted_roc(truth, scores, weights)
    mean_auc = roc_auc_score(truth, scores, average="weighted")
    return float(np.trapezoid(tpr, FPR_GRID)), float(mean_auc)


def weighted_roc(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted-average true-positive rate on FPR_GRID (the paper's Fig. 4)."""
    tpr = np.zeros_like(FPR_GRID)
    for column, weight in enumerate(weights):
        fpr_c, tpr_c, _ = roc_curve(truth[:, column], scores[:, column])
        tpr += weight * np.interp(FPR_GRID, fpr_c, tpr_c)
    tpr[0] = 0.0
    return tpr
