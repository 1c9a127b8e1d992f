"""The comparison statistics (METHODS.md sections 5 and 7): means over trials, paired
differences within trials, and the champion rule. Tables in, tables out; the report page shows
them (`report.py`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

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
#: The figures that rank methods (METHODS.md section 5), compared in pairs with the control.
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


#: The figure the champion is chosen on (METHODS.md section 7) and the methods it must beat.
CHAMPION_FIGURE = "tradeoff_auc"
CHAMPION_BASELINES = ("control", "logreg")
#: The simplest model within noise of the best: served when no method clearly leads.
FALLBACK = "logreg"
#: The champion's mean weighted AUC under which the production model is not rebuilt.
DEFAULT_AUC_FLOOR = 0.9


#: "At least equal" to the peer: within this margin, or a paired interval that includes zero.
EQUAL_MARGIN = 0.005
#: What beating the peer means (METHODS.md 7): ahead on these, interval above zero ...
MUST_LEAD = ("weighted_auc", "equal_acc_point", "tradeoff_auc")
#: ... and at least equal on these, where logistic regression is strong.
MUST_MATCH = ("top1_known", "macro_f1_known")


def _verdict(row, margin: float) -> str:
    if row.ci_low > 0:
        return "ahead"
    if abs(row.mean_diff) <= margin or row.ci_low <= 0 <= row.ci_high:
        return "equal"
    return "behind"


def against_peer(
    results: pd.DataFrame, peer: str = FALLBACK, margin: float = EQUAL_MARGIN
) -> pd.DataFrame:
    """Each method paired with `peer` on the same trials: per figure the difference [95%
    interval] and ahead / equal / behind, and whether it beats the peer on every figure at
    once (ahead on MUST_LEAD, at least equal on MUST_MATCH). Rows: the winners first, then
    by how many of the five conditions hold."""
    figures = MUST_LEAD + MUST_MATCH
    differences = paired_differences(results, peer, figures)
    if differences.empty:
        return pd.DataFrame()
    differences = differences.assign(
        verdict=[_verdict(row, margin) for row in differences.itertuples()],
        cell=[
            f"{r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}] {_verdict(r, margin)}"
            for r in differences.itertuples()
        ],
    )
    table = differences.pivot(index="method", columns="metric", values="cell")
    table = table[[f for f in figures if f in table.columns]]
    verdicts = differences.pivot(index="method", columns="metric", values="verdict")
    held = (verdicts.reindex(columns=list(MUST_LEAD)) == "ahead").sum(axis=1) + (
        verdicts.reindex(columns=list(MUST_MATCH)).isin(["ahead", "equal"])
    ).sum(axis=1)
    table.insert(0, "beats the peer", held == len(figures))
    table.insert(1, "conditions held", held.astype(int))
    return table.sort_values(["beats the peer", "conditions held"], ascending=False)


def auc_floor() -> float:
    """EMBAUG_AUC_FLOOR, else DEFAULT_AUC_FLOOR: a deployment's floor, which the runs that
    Dagster's automation and schedule launch (with default config) follow too."""
    value = os.environ.get("EMBAUG_AUC_FLOOR", "")
    try:
        return float(value) if value.strip() else DEFAULT_AUC_FLOOR
    except ValueError:
        raise ValueError(f"EMBAUG_AUC_FLOOR must be a number, got {value!r}") from None


#: The figure used when H holds no "none" product (no class held out).
FIGURE_WITHOUT_NONE = "weighted_auc_mean"


@dataclass(frozen=True)
class ChampionChoice:
    """The method to serve, the figure it was chosen on, and the rule that decided."""

    method: str
    figure: str
    rule: str
    best: str
    clear_lead: bool


def choose_champion(
    results: pd.DataFrame,
    figure: str = CHAMPION_FIGURE,
    baselines: tuple[str, ...] = CHAMPION_BASELINES,
    fallback: str = FALLBACK,
) -> ChampionChoice:
    """The method with the best mean `figure` over trials when its paired lead over every
    baseline present has a 95% interval above zero; otherwise `fallback` (METHODS.md 7)."""
    means = results[results["metric"] == figure].groupby("method")["value"].mean().dropna()
    if means.empty and figure != FIGURE_WITHOUT_NONE:
        # No "none" product in H (no class held out): the trade-off figures are undefined.
        chosen = choose_champion(results, FIGURE_WITHOUT_NONE, baselines, fallback)
        note = (
            f"the {FIGURES[figure][0]} is undefined without held-out classes, so the "
            f"{FIGURES[FIGURE_WITHOUT_NONE][0]} decided: "
        )
        return replace(chosen, rule=note + chosen.rule)
    if means.empty:
        methods = sorted(results["method"].unique())
        if not methods:
            raise ValueError(f"no results for the figure {figure!r}; cannot choose a champion")
        method = fallback if fallback in methods else methods[0]
        rule = f"no figure could be computed on so small a hold-out: {method}, the simplest"
        return ChampionChoice(method, figure, rule, method, False)
    best = str(means.idxmax())
    name = FIGURES.get(figure, (figure,))[0]
    if best == fallback:
        return ChampionChoice(best, figure, f"{best} has the best mean {name}", best, False)
    leads = []
    for baseline in (b for b in baselines if b != best and b in means.index):
        row = paired_differences(results, baseline, (figure,)).set_index("method").loc[best]
        leads.append((baseline, row))
    clear = all(row.ci_low > 0 for _, row in leads)
    described = "; ".join(
        f"lead over {b} {r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" for b, r in leads
    )
    if clear:
        rule = f"{best} has the best mean {name} and its {described or 'lead'}: above zero"
        return ChampionChoice(best, figure, rule, best, True)
    if fallback not in means.index:
        rule = f"{best} has the best mean {name}; no {fallback} run to fall back on"
        return ChampionChoice(best, figure, rule, best, False)
    rule = (
        f"{best} has the best mean {name} but its {described} includes zero: "
        f"{fallback}, the simplest model within noise of the best"
    )
    return ChampionChoice(fallback, figure, rule, best, False)
