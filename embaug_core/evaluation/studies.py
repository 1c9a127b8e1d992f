"""The report's section on the two studies a team runs on its own catalogue: which
configuration at which label budget (`embaug budget`), and whether the labeling queue's labels
are worth more than random ones (`embaug loop`). Read from the store when they ran."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pandas as pd

from embaug_core.evaluation.comparison import FIGURES
from embaug_core.evaluation.figures import curve_figure
from embaug_core.evaluation.verdicts import FALLBACK
from embaug_core.store import Store

#: The loop's decisive figures: products of H handled right (categorised, or "none" for a
#: class not learnt yet), and macro F1 at the tuned threshold.
LOOP_FIGURES = ("catalogue_acc_tuned", "macro_f1_known_tuned", "tradeoff_auc")
#: Methods drawn on the budget figure besides the peer: the best few by mean area.
BUDGET_SHOWN = 4


@dataclass
class StudyFacts:
    """Tables and figures (data URIs) of the studies that ran; empty when none did."""

    budget: pd.DataFrame
    budget_figure: str
    loop: pd.DataFrame
    loop_figure: str


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _stored(store: Store, table: str) -> pd.DataFrame:
    return store.query(f"SELECT * FROM {table}") if store.has_table(table) else pd.DataFrame()


def study_facts(store: Store) -> StudyFacts:
    """What `embaug budget` and `embaug loop` left in the store, ready for the page."""
    from embaug_core.serving.loop_simulation import labels_to_match, loop_summary
    from embaug_core.training.label_budget import budget_verdicts

    budget, loop = _stored(store, "budget_results"), _stored(store, "loop_results")
    facts = StudyFacts(pd.DataFrame(), "", pd.DataFrame(), "")
    if not budget.empty:
        facts.budget = budget_verdicts(budget)
        area = budget[budget["metric"] == "tradeoff_auc"]
        best = area.groupby("method")["value"].mean().nlargest(BUDGET_SHOWN).index
        shown = area[area["method"].isin([*best, FALLBACK])]
        facts.budget_figure = _uri(
            curve_figure(
                shown,
                "budget",
                "Known-vs-none area by label budget",
                "labelled products per class",
                FIGURES["tradeoff_auc"][0],
            )
        )
    if not loop.empty:
        summary = loop_summary(loop)
        last = summary[(summary["round"] == summary["round"].max())]
        last = last[last["metric"].isin(LOOP_FIGURES)]
        facts.loop = last.pivot(index="strategy", columns="metric", values="mean")
        for metric in LOOP_FIGURES:
            facts.loop[f"{metric} vs random"] = _paired_cells(last, metric)
        facts.loop["labels to reach random's catalogue accuracy"] = labels_to_match(
            summary, "catalogue_acc_tuned"
        )
        curves = loop[loop["metric"] == "catalogue_acc_tuned"].rename(
            columns={"strategy": "method"}
        )
        facts.loop_figure = _uri(
            curve_figure(
                curves,
                "labels",
                "The labeling loop, simulated",
                "labels revealed",
                "catalogue accuracy @tuned",
            )
        )
    return facts


def _paired_cells(last: pd.DataFrame, metric: str) -> pd.Series:
    rows = last[last["metric"] == metric].set_index("strategy")
    return pd.Series(
        {
            strategy: (
                f"{r.mean_diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}] {int(r.wins)}/"
                f"{int(r.trials)}"
                if pd.notna(r.get("mean_diff"))
                else ""
            )
            for strategy, r in rows.iterrows()
        }
    )
