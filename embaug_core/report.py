"""The comparison tables and the self-contained HTML report, from results tables only.

A results table is long: one row per (trial, method, metric) with its value and run id.
Evaluation tables (threshold sweeps, ROC curves, per-class figures, per-epoch history) are
tidy: one row per method, trial and point.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from embaug_core.comparison import (
    SETTINGS,
    ChampionChoice,
    comparison_table,
    paired_differences,
    paired_table,
)
from embaug_core.figures import epochs_figure, label_sets_figure, roc_figure, threshold_figure


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


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@dataclass
class Report:
    """Everything the HTML page shows; built by the reporting asset from stored results."""

    comparison: pd.DataFrame
    paired: pd.DataFrame
    per_class: pd.DataFrame
    #: The long table behind `paired` (one row per method and metric), for storing.
    differences: pd.DataFrame
    settings: dict[str, object]
    runs: pd.DataFrame
    champion: ChampionChoice | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def html(self) -> str:
        def table(frame: pd.DataFrame, index: bool = True, escape: bool = True) -> str:
            return frame.to_html(
                index=index, escape=escape, na_rep="", float_format="{:.3f}".format
            )

        settings = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.settings.items()
        )
        figures = "".join(
            f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" src="{data_uri(png)}">'
            for title, png in self.figures.items()
        )
        runs = self.runs.assign(
            run=[
                f'<a href="{html.escape(u)}">{html.escape(r)}</a>'
                for u, r in zip(self.runs["url"], self.runs["run_id"], strict=True)
            ]
        ).drop(columns=["url", "run_id"])
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>embaug report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}img{{max-width:100%}}</style>
</head><body>
<h1>embaug: which method wins on this catalogue</h1>
<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Champion:
<b>{html.escape(self.champion.method if self.champion else "none")}</b>
({html.escape(self.champion.rule if self.champion else "")}).</p><ul>{notes}</ul>
<h2>Comparison over trials (the paper's Table 1)</h2>
<p>Each cell: mean ± maximum deviation over trials, on each trial's validation hold-out;
accuracies at the confidence threshold in the settings.</p>{table(self.comparison)}
<h2>Paired with the control, trial by trial</h2>
<p>Method minus control on the same split: mean [95% interval] and trials won.</p>
{table(self.paired)}
<h2>Figures</h2>{figures}
<h2>Per class: F1 on the hold-out, mean over trials</h2>{table(self.per_class)}
<h2>Settings</h2><table>{settings}</table>
<h2>MLflow runs</h2>{table(runs, index=False, escape=False)}
</body></html>"""

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(), encoding="utf-8")
        return path


def report_figures(
    runs: pd.DataFrame,
    evaluation: dict[str, pd.DataFrame],
    quality: pd.DataFrame,
    threshold: float,
    epochs_methods: list[str],
) -> dict[str, bytes]:
    """The papers' figures over every method and trial (titles as the report shows them)."""
    auc = runs[runs["metric"] == "weighted_auc"].groupby("method")["value"].mean().to_dict()
    figures = {
        "Accuracy against the confidence threshold (Fig. 3)": threshold_figure(
            evaluation["sweep"], threshold
        ),
        "Weighted ROC with the none category (Fig. 4)": roc_figure(evaluation["roc"], auc),
    }
    history = evaluation.get("history", pd.DataFrame())
    if not history.empty and history["method"].isin(epochs_methods).any():
        chosen = history[history["method"].isin(epochs_methods)]
        figures["Accuracy per epoch (Fig. 5)"] = epochs_figure(chosen, threshold)
    if not quality.empty:
        knn = quality[(quality["source"] == "knn_aug") & (quality["label"] != "ALL")]
        means = knn.groupby("label")[["labels", "precision"]].mean().reset_index()
        figures["Similarity-augmented labels per class"] = label_sets_figure(means)
    return figures


def run_links(runs: pd.DataFrame, registered: pd.DataFrame, base_url: str) -> pd.DataFrame:
    """One row per run: trial, method, link to it in the MLflow UI, registered version."""
    listing = runs[["trial", "method", "run_id"]].drop_duplicates().sort_values(["method", "trial"])
    listing["url"] = [f"{base_url}/runs/{run_id}" for run_id in listing["run_id"]]
    versions = registered.set_index("run_id")["version"]
    listing["registered_version"] = listing["run_id"].map(versions).astype("Int64")
    return listing


def build_report(
    runs: pd.DataFrame,
    evaluation: dict[str, pd.DataFrame],
    params: pd.DataFrame,
    quality: pd.DataFrame,
    links: pd.DataFrame,
    champion: ChampionChoice,
    context: dict[str, object],
    epochs_methods: list[str],
) -> Report:
    """The whole report from the runs' results, evaluation tables and params."""
    threshold = float(params["threshold"].iloc[0])
    settings = {
        **context,
        "trials": runs["trial"].nunique(),
        **{k: ", ".join(sorted(params[k].astype(str).unique())) for k in SETTINGS if k in params},
    }
    differences = paired_differences(runs)
    return Report(
        comparison=comparison_table(runs),
        paired=paired_table(differences),
        differences=differences,
        per_class=per_class_table(evaluation["per_class"]),
        settings=settings,
        runs=links,
        champion=champion,
        figures=report_figures(runs, evaluation, quality, threshold, epochs_methods),
        notes=champion_notes(differences, champion.method),
    )


def champion_notes(differences: pd.DataFrame, champion: str) -> list[str]:
    """Say whether the champion's lead over the control is larger than the trials' noise."""
    if differences.empty or champion not in set(differences["method"]):
        return []
    notes = []
    for row in differences[differences["method"] == champion].itertuples():
        if row.metric not in ("weighted_auc", "tradeoff_auc"):
            continue
        clear = row.ci_low > 0 or row.ci_high < 0
        notes.append(
            f"{champion} minus control, {row.metric}: {row.mean_diff:+.4f} "
            f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}], won {row.wins}/{row.trials} trials; "
            + ("the 95% interval excludes zero." if clear else "within the trials' noise.")
        )
    return notes
