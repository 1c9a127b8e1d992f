"""The comparison table and the HTML report, built from a results table only.

A results table is long: one row per (trial, method, metric) with its value and run id.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

HEADLINE = (
    "weighted_auc",
    "weighted_auc_mean",
    "top1_known",
    "overall_acc",
    "none_acc",
    "equal_acc_point",
    "tradeoff_auc",
)


def summarise(results: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """Per method and metric: mean over trials, maximum deviation from it, and trial count."""
    chosen = results[results["metric"].isin(metrics)]
    grouped = chosen.groupby(["method", "metric"])["value"]
    table = pd.DataFrame(
        {
            "mean": grouped.mean(),
            "max_dev": grouped.apply(lambda v: (v - v.mean()).abs().max()),
            "trials": grouped.count(),
        }
    ).reset_index()
    return table


def comparison_table(results: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """One row per method, one column per metric, cells 'mean ± max_dev' (the paper's Table 1)."""
    summary = summarise(results, metrics)
    summary["cell"] = [
        f"{m:.4f} ± {d:.4f}" for m, d in zip(summary["mean"], summary["max_dev"], strict=True)
    ]
    table = summary.pivot(index="method", columns="metric", values="cell")
    table = table[[m for m in metrics if m in table.columns]]
    trials = summary.groupby("method")["trials"].max()
    table.insert(0, "trials", trials)
    lead = summary[summary["metric"] == metrics[0]].set_index("method")["mean"]
    order = lead.reindex(table.index).sort_values(ascending=False, na_position="last").index
    return table.loc[order]


def write_html(
    table: pd.DataFrame, settings: dict[str, object], path: Path, runs: pd.DataFrame
) -> Path:
    """A self-contained HTML page: the comparison, the settings behind it, the MLflow runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in settings.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>embaug report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head><body>
<h1>embaug: method comparison</h1>
<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Each cell: mean ± maximum deviation over trials, on each trial's validation hold-out;
accuracies at the confidence threshold in the settings.</p>
{table.to_html(escape=True)}
<h2>Settings</h2><table>{settings_rows}</table>
<h2>MLflow runs</h2>{runs.to_html(index=False, escape=True)}
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
