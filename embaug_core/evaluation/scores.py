"""Every headline figure of a model on a hold-out, by the names its runs are logged with."""

from __future__ import annotations

import numpy as np

from embaug_core.evaluation.metrics import (
    equal_accuracy_point,
    expected_calibration_error,
    macro_f1_known,
    macro_precision_recall,
    none_accuracy,
    overall_accuracy,
    threshold_sweep,
    top1_known,
    tradeoff_auc,
)
from embaug_core.evaluation.roc import weighted_auc


def evaluate(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Every headline figure of docs/METHODS.md section 5, by the names runs are logged with."""
    sweep = threshold_sweep(probs, labels)
    curve_auc, mean_auc = weighted_auc(probs, labels)
    return {
        "weighted_auc": curve_auc,
        "weighted_auc_mean": mean_auc,
        "top1_known": top1_known(probs, labels),
        "equal_acc_point": equal_accuracy_point(sweep),
        "tradeoff_auc": tradeoff_auc(sweep),
        "ece": expected_calibration_error(probs, labels),
        **at_threshold(probs, labels, threshold),
    }


def at_threshold(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """The figures that move with the threshold: all a tuned threshold changes, without the
    per-class ROC curves behind the AUCs (the costliest part of `evaluate`)."""
    precision, recall, harmonic = macro_precision_recall(probs, labels, threshold)
    return {
        "overall_acc": overall_accuracy(probs, labels, threshold),
        "none_acc": none_accuracy(probs, labels, threshold),
        "macro_f1_known": macro_f1_known(probs, labels, threshold),
        "macro_precision_known": precision,
        "macro_recall_known": recall,
        "hm_macro_pr": harmonic,
    }


def epoch_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """The cheap figures logged every epoch (the paper's Fig. 5)."""
    return {
        "overall_acc": overall_accuracy(probs, labels, threshold),
        "none_acc": none_accuracy(probs, labels, threshold),
        "top1_known": top1_known(probs, labels),
    }
