"""What to expect of the served model at its threshold, from the trials.

The served threshold is one value for every product: the median over trials of each trial's
threshold tuned on its selection part S. The comparison table's `@tuned` figures are another
thing: each trial at its own tuned threshold. So the figures a team should expect are read off
each trial's threshold sweep (on H without S) at the served threshold, then summarised over
trials; they differ from the table's by how much the tuned thresholds differ between trials.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The expected figures, as the store keeps them and the production run logs them.
EXPECTED_COLUMNS = [
    "method",
    "threshold",
    "trials",
    "overall_acc",
    "overall_acc_min",
    "overall_acc_max",
    "none_acc",
    "none_acc_min",
    "none_acc_max",
    "overall_acc_tuned",
    "none_acc_tuned",
    "threshold_tuned_min",
    "threshold_tuned_max",
]


def at_threshold(sweep: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per trial, overall and none accuracy at `threshold`, interpolated between the sweep's
    thresholds (`sweep`: trial, threshold, overall, none; one method)."""
    rows = []
    for trial, points in sweep.sort_values("threshold").groupby("trial"):
        x = points["threshold"].to_numpy(dtype=float)
        rows.append(
            {
                "trial": trial,
                "overall": float(np.interp(threshold, x, points["overall"].to_numpy(float))),
                "none": float(np.interp(threshold, x, points["none"].to_numpy(float))),
            }
        )
    return pd.DataFrame(rows, columns=["trial", "overall", "none"])


def expected_figures(
    sweep: pd.DataFrame, runs: pd.DataFrame, method: str, threshold: float
) -> pd.DataFrame:
    """One row (EXPECTED_COLUMNS): `method` at the served `threshold`, mean and range over
    trials, beside the table's figures at each trial's own tuned threshold."""
    mine = at_threshold(sweep[sweep["method"] == method], threshold)
    figures = runs[runs["method"] == method].groupby("metric")["value"]
    means, lows, highs = figures.mean(), figures.min(), figures.max()
    row = {
        "method": method,
        "threshold": threshold,
        "trials": len(mine),
        "overall_acc": mine["overall"].mean(),
        "overall_acc_min": mine["overall"].min(),
        "overall_acc_max": mine["overall"].max(),
        "none_acc": mine["none"].mean(),
        "none_acc_min": mine["none"].min(),
        "none_acc_max": mine["none"].max(),
        "overall_acc_tuned": means.get("overall_acc_tuned", np.nan),
        "none_acc_tuned": means.get("none_acc_tuned", np.nan),
        "threshold_tuned_min": lows.get("threshold_tuned", np.nan),
        "threshold_tuned_max": highs.get("threshold_tuned", np.nan),
    }
    return pd.DataFrame([row], columns=EXPECTED_COLUMNS)
