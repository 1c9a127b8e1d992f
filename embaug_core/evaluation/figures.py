"""The papers' figures, from tidy tables (one row per method, trial and point), as PNG bytes.

Every figure shows one line per method: the mean over trials, with a band from the minimum
to the maximum trial, so a reader sees at once whether methods differ more than trials do.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def to_png(figure: Figure, trim: bool = True) -> bytes:
    """`trim`: crop to the drawn content, for labels of unknown length. It draws the figure
    twice: a run's two figures, whose margins are set, took a third longer with it
    (benchmarks/partition.py)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if trim else None)
    plt.close(figure)
    return buffer.getvalue()


def _two_panels() -> tuple[Figure, list]:
    """Side-by-side panels sharing the y axis, with margins that need no trimming."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    figure.subplots_adjust(left=0.07, right=0.98, wspace=0.08)
    return figure, axes


def _banded(axis, table: pd.DataFrame, x: str, y: str, label_suffix: str = "") -> None:
    """Mean line and min-max band over trials, one colour per method."""
    for number, (method, rows) in enumerate(table.groupby("method", sort=True)):
        stats = rows.groupby(x)[y].agg(["mean", "min", "max"])
        colour = f"C{number % 10}"
        axis.plot(stats.index, stats["mean"], color=colour, label=f"{method}{label_suffix}")
        axis.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15)


def _legend(axis) -> None:
    """A legend when there is something to name (a trial without held-out classes draws no
    "none" curve)."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="lower right", fontsize=8)


def threshold_figure(sweeps: pd.DataFrame, threshold: float) -> bytes:
    """Overall and none accuracy against the confidence threshold (the paper's Fig. 3).

    `sweeps`: method, trial, threshold, overall, none."""
    figure, axes = _two_panels()
    for axis, column, title in zip(
        axes,
        ("overall", "none"),
        ("Overall accuracy (known classes)", 'None accuracy ("none" products)'),
        strict=True,
    ):
        _banded(axis, sweeps, "threshold", column)
        axis.axvline(threshold, color="grey", linestyle=":", linewidth=1)
        axis.set(title=title, xlabel="confidence threshold", xlim=(0, 1), ylim=(0, 1))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (mean, band: min-max over trials)")
    _legend(axes[1])
    return to_png(figure, trim=False)


def roc_figure(curves: pd.DataFrame, auc_by_method: dict[str, float]) -> bytes:
    """Support-weighted average ROC curves with "none" (the paper's Fig. 4).

    `curves`: method, trial, fpr, tpr."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    labelled = curves.assign(
        method=curves["method"].map(lambda m: f"{m} (AUC {auc_by_method.get(m, float('nan')):.4f})")
    )
    _banded(axis, labelled, "fpr", "tpr")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set(
        title="Weighted ROC, known classes and none",
        xlabel="false-positive rate",
        ylabel="true-positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    _legend(axis)
    axis.grid(alpha=0.3)
    return to_png(figure, trim=False)


def epochs_figure(history: pd.DataFrame, threshold: float) -> bytes:
    """Overall and none accuracy on the hold-out after every epoch (the paper's Fig. 5).

    `history`: method, trial, epoch, overall_acc, none_acc."""
    figure, axes = _two_panels()
    for axis, column, title in zip(
        axes, ("overall_acc", "none_acc"), ("Overall accuracy", "None accuracy"), strict=True
    ):
        _banded(axis, history.dropna(subset=[column]), "epoch", column)
        axis.set(
            title=f"{title} at threshold {threshold:g}, per epoch", xlabel="epoch", ylim=(0, 1)
        )
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (mean, band: min-max over trials)")
    _legend(axes[1])
    return to_png(figure, trim=False)


def label_sets_figure(quality: pd.DataFrame, top: int = 30) -> bytes:
    """Augmented labels per class and their precision (the label-augmentation paper's Table 1,
    plus what it could not measure). `quality`: label, labels, precision (mean over trials)."""
    rows = quality.sort_values("labels", ascending=False).head(top).iloc[::-1]
    figure, (sizes, precision) = plt.subplots(
        1, 2, figsize=(12, 0.28 * len(rows) + 1.5), sharey=True
    )
    sizes.barh(rows["label"], rows["labels"], color="C0")
    sizes.set(title=f"Augmented labels per class (largest {len(rows)})", xlabel="labels added")
    precision.barh(rows["label"], rows["precision"], color="C2")
    precision.set(title="Precision against the true class", xlabel="precision", xlim=(0, 1))
    for axis in (sizes, precision):
        axis.grid(alpha=0.3, axis="x")
    return to_png(figure)


def curve_figure(curves: pd.DataFrame, x: str, title: str, xlabel: str, ylabel: str) -> bytes:
    """One line per method (or strategy) against `x`, mean with a min-max band over trials.

    `curves`: method, trial, `x`, value."""
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    _banded(axis, curves, x, "value")
    axis.set(title=title, xlabel=xlabel, ylabel=f"{ylabel} (mean, band: min-max over trials)")
    axis.grid(alpha=0.3)
    _legend(axis)
    return to_png(figure)
