"""The comparison statistics (docs/METHODS.md section 5): means over trials and paired differences
within trials. Tables in, tables out; the decisions taken from them are in `verdicts.py`, and
the report page shows them (`report.py`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Every figure a run logs that people read: its name in tables, and what it means.
FIGURES = {
    "tradeoff_auc": (
        "known-vs-none area",
        "area under the curve of overall accuracy against none accuracy as the threshold "
        "moves from 0 to 1 (1: perfect at both)",
    ),
    "equal_acc_point": (
        "equal-accuracy point",
        "the accuracy at the threshold where overall and none accuracy are equal",
    ),
    "weighted_auc": (
        "weighted AUC",
        "area under the support-weighted ROC curve over the known classes and none",
    ),
    "weighted_auc_mean": (
        "weighted mean of class AUCs",
        "the support-weighted mean of one-vs-rest AUCs (scikit-learn's average='weighted')",
    ),
    "top1_known": (
        "top-1 accuracy (known)",
        "share of known-class products whose most probable class is right, ignoring the threshold",
    ),
    "macro_f1_known": (
        "macro F1 @0.6",
        "F1 per known class over all of H at threshold 0.6 (held-out products predicted as a "
        "class are its false positives), averaged over classes",
    ),
    "overall_acc": (
        "overall accuracy @0.6",
        "known-class products whose top class is right and above the paper's threshold 0.6",
    ),
    "none_acc": (
        "none accuracy @0.6",
        "products of held-out classes that no class claims above 0.6",
    ),
    "threshold_tuned": (
        "tuned threshold",
        "the threshold with the best mean of overall and none accuracy on the selection part "
        "S of H",
    ),
    "overall_acc_tuned": ("overall accuracy @tuned", "overall accuracy at the tuned threshold"),
    "macro_f1_known_tuned": ("macro F1 @tuned", "macro F1 at the tuned threshold"),
    "none_acc_tuned": ("none accuracy @tuned", "none accuracy at the tuned threshold"),
    "hm_macro_pr": (
        "harmonic mean of macro P and R @0.6",
        "the label-augmentation paper's Table 2 figure, over all of H",
    ),
    "ece": ("calibration error", "expected calibration error of the top-1 probability, 15 bins"),
}
#: The comparison table's columns; the first orders its rows.
HEADLINE = (
    "tradeoff_auc",
    "equal_acc_point",
    "weighted_auc",
    "top1_known",
    "macro_f1_known",
    "overall_acc",
    "none_acc",
    "threshold_tuned",
    "overall_acc_tuned",
    "none_acc_tuned",
)
#: Run params the report lists as its settings (every distinct value across runs).
SETTINGS = (
    "epochs",
    "batch_size",
    "alpha",
    "softness",
    "negative_mass",
    "gamma",
    "threshold",
    "head",
    "standardize",
    "n_train",
    "n_eval",
    "n_eval_none",
    "n_classes",
)
#: The figures that rank methods (docs/METHODS.md section 5), compared in pairs with the control.
PAIRED = ("tradeoff_auc", "equal_acc_point", "weighted_auc", "overall_acc", "none_acc")


def summarise(results: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """Per method and metric: mean over trials, maximum deviation from it, and trial count."""
    chosen = results[results["metric"].isin(metrics)]
    grouped = chosen.groupby(["method", "metric"])["value"]
    return pd.DataFrame(
        {
            "mean": grouped.mean(),
            "max_dev": grouped.apply(lambda v: (v - v.mean()).abs().max()),
            "trials": grouped.count(),
        }
    ).reset_index()


def comparison_table(results: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """One row per method, one column per metric, cells 'mean ± max_dev' (the paper's Table 1),
    best first by the first metric."""
    summary = summarise(results, metrics)
    summary["cell"] = [
        f"{m:.4f} ± {d:.4f}" if np.isfinite(m) else "—"
        for m, d in zip(summary["mean"], summary["max_dev"], strict=True)
    ]
    table = summary.pivot(index="method", columns="metric", values="cell")
    table = table[[m for m in metrics if m in table.columns]]
    table.insert(0, "trials", summary.groupby("method")["trials"].max())
    lead = summary[summary["metric"] == metrics[0]].set_index("method")["mean"]
    order = lead.reindex(table.index).sort_values(ascending=False, na_position="last").index
    return table.loc[order]


def for_people(table: pd.DataFrame) -> pd.DataFrame:
    """The same table with each figure's human name as its column header."""
    return table.rename(columns={k: name for k, (name, _) in FIGURES.items()})


def paired_differences(
    results: pd.DataFrame, baseline: str = "control", metrics: tuple[str, ...] = PAIRED
) -> pd.DataFrame:
    """Each method minus `baseline` on the same trial: mean, 95% t-interval and wins.

    Which classes a trial holds out moves every figure more than the method does, so the
    difference within a trial is what tells methods apart."""
    wide = results[results["metric"].isin(metrics)].pivot_table(
        index=["metric", "trial"], columns="method", values="value"
    )
    columns = ["method", "metric", "mean_diff", "ci_low", "ci_high", "wins", "trials"]
    if baseline not in wide.columns:
        return pd.DataFrame(columns=columns)
    rows = []
    for method in (m for m in wide.columns if m != baseline):
        for metric in metrics:
            if metric not in wide.index.get_level_values("metric"):
                continue
            diff = (wide.loc[metric, method] - wide.loc[metric, baseline]).dropna()
            n = len(diff)
            half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "mean_diff": diff.mean(),
                    "ci_low": diff.mean() - half,
                    "ci_high": diff.mean() + half,
                    "wins": int((diff > 0).sum()),
                    "trials": n,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def paired_table(differences: pd.DataFrame) -> pd.DataFrame:
    """Methods as rows, metrics as columns, cells 'mean [low, high] wins/n'."""
    if differences.empty:
        return differences
    cells = differences.assign(
        cell=[
            f"{r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}] {r.wins}/{r.trials}"
            for r in differences.itertuples()
        ]
    )
    table = cells.pivot(index="method", columns="metric", values="cell")
    columns = [m for m in PAIRED if m in table.columns]
    lead = differences[differences["metric"] == columns[0]].set_index("method")["mean_diff"]
    return table.loc[lead.sort_values(ascending=False).index, columns]


def per_class_table(per_class: pd.DataFrame, value: str = "f1") -> pd.DataFrame:
    """Classes as rows (largest support first; the "none" row last, keyed by its kind so no
    class name can collide with it), methods as columns, mean `value` over trials, and in how
    many trials each class was held out (its products were "none" there)."""
    rows = per_class.assign(
        kind=per_class.get("kind", "class"), **{"class": per_class["class"].fillna("")}
    )
    table = rows.pivot_table(index=["kind", "class"], columns="method", values=value)
    support = rows.groupby(["kind", "class"])["support"].mean()
    trials = rows["trial"].nunique()
    known_in = rows[rows["kind"] == "class"].groupby("class")["trial"].nunique()
    held = (trials - known_in.reindex(table.index.get_level_values("class"))).fillna(0)
    table.insert(0, "support", support.round(1))
    table.insert(1, "held out in trials", held.astype(int).to_numpy())
    order = support.reset_index().sort_values(["kind", "support"], ascending=[True, False])
    return table.loc[list(zip(order["kind"], order["class"], strict=True))]
