"""What one trained run keeps of its evaluation on H: the tables the report reads back (the
threshold sweep, the weighted ROC, the per-class table, the per-epoch history) and the figures
shown on the run's own page."""

from __future__ import annotations

import numpy as np
import pandas as pd

from embaug_core.evaluation.figures import roc_figure, threshold_figure
from embaug_core.evaluation.metrics import per_class_report, threshold_sweep
from embaug_core.evaluation.roc import weighted_roc_curve


def run_tables(
    probs: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    threshold: float,
    history: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The run's tables by name; `history` only when it trained by epochs."""
    tables = {
        "sweep": threshold_sweep(probs, labels),
        "roc": weighted_roc_curve(probs, labels),
        "per_class": per_class_report(probs, labels, classes, threshold),
    }
    if not history.empty:  # logistic regression has no epochs
        tables["history"] = history
    return tables


def run_figures(
    tables: dict[str, pd.DataFrame], name: str, threshold: float, weighted_auc: float
) -> dict[str, bytes]:
    """The run's figures as PNG bytes, drawn from its tables. Not the per-epoch curve: MLflow
    charts its `epoch/*` metrics itself, and drawing it cost a third of a partition's figures."""
    one = {"method": name, "trial": 0}
    return {
        "threshold_sweep": threshold_figure(tables["sweep"].assign(**one), threshold),
        "roc": roc_figure(tables["roc"].assign(**one), {name: weighted_auc}),
    }
