"""The self-contained HTML report, from results tables only: a recommendation a busy reader
can act on first, then the evidence (comparison, paired differences, figures, per class),
what it was run on, predictions, people's labels, settings and links. Rendered from
`templates/report.html` with Jinja2 (autoescaped); figures are embedded as data URIs.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from embaug_core.evaluation.comparison import (
    FIGURES,
    HEADLINE,
    PAIRED,
    comparison_table,
    for_people,
    paired_differences,
    paired_table,
    per_class_table,
)
from embaug_core.evaluation.figures import (
    epochs_figure,
    label_sets_figure,
    roc_figure,
    threshold_figure,
)
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.evaluation.report_parts import ReportParts
from embaug_core.evaluation.verdicts import EQUAL_MARGIN, ChampionChoice, against_peer

TEMPLATES = Path(__file__).with_name("templates")
#: Trials docs/METHODS.md asks for before a report recommends.
TRIALS_TO_TRUST = 10


@dataclass
class Figure:
    title: str
    caption: str
    png: bytes

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass
class Report:
    """Everything the HTML page shows; built from stored results (see `build_report`)."""

    recommendation: Recommendation
    champion: ChampionChoice
    comparison: pd.DataFrame
    paired: pd.DataFrame
    #: The long table behind `paired` (one row per method and metric), for storing.
    differences: pd.DataFrame
    per_class: pd.DataFrame
    settings: dict[str, object]
    runs: pd.DataFrame
    figures: list[Figure] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    known_only: str = ""
    #: Each method paired with logistic regression on the six figures (`against_peer`).
    peer: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Why no production model is made (the champion under the AUC floor); "" when it is.
    not_served: str = ""
    #: What a team lead acts on: expected figures, mistakes, cost (`report_parts.py`).
    parts: ReportParts = field(default_factory=ReportParts)

    def html(self) -> str:
        shown = [m for m in HEADLINE if m in set(self.comparison.columns)]
        return (
            _environment()
            .get_template("report.html")
            .render(
                report=self,
                tables=self.tables,
                next_steps=self.next_steps,
                generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                glossary=[FIGURES[m] for m in shown],
                comparison=for_people(self.comparison),
                paired=for_people(self.paired),
                peer=for_people(self.peer),
                equal_margin=EQUAL_MARGIN,
                figure_name=FIGURES.get(self.champion.figure, (self.champion.figure,))[0],
            )
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(), encoding="utf-8")
        return path


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
    )
    environment.filters["cell"] = _cell
    return environment


#: The parts of the page that change after the report is written (by the serving assets).
REFRESHED = {"serving": "serving.html", "next": "next_steps.html", "studies": "studies.html"}


def refresh(path: Path, tables: dict[str, pd.DataFrame], next_steps: list[str]) -> Path:
    """Re-render the predictions, people's labels and next steps of a written report in place
    (they come from assets that run after it); the rest of the page is left as it is."""
    page = path.read_text(encoding="utf-8")
    for marker, template in REFRESHED.items():
        fragment = (
            _environment().get_template(template).render(tables=tables, next_steps=next_steps)
        )
        pattern = re.compile(f"<!-- {marker} -->.*?<!-- /{marker} -->", re.S)
        replacement = f"<!-- {marker} -->{fragment}<!-- /{marker} -->"
        page = pattern.sub(lambda _, text=replacement: text, page)
    path.write_text(page, encoding="utf-8")
    return path


def _cell(value: object) -> str:
    """A table cell as text: floats to 3 places, missing values empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def report_figures(
    runs: pd.DataFrame,
    evaluation: dict[str, pd.DataFrame],
    quality: pd.DataFrame,
    recommended: float,
    epochs_methods: list[str],
) -> list[Figure]:
    """The papers' figures over every method and trial, with a line saying how to read each."""
    auc = runs[runs["metric"] == "weighted_auc"].groupby("method")["value"].mean().to_dict()
    figures = [
        Figure(
            "Accuracy against the confidence threshold (the paper's Fig. 3)",
            "Left: known-class products classified right and above the threshold; right: "
            "products of held-out classes that no class claims. A method is better when both "
            "stay high over a wider range of thresholds. Lines: mean over trials; bands: min-max; "
            "dotted: the recommended threshold.",
            threshold_figure(evaluation["sweep"], recommended),
        ),
        Figure(
            "Weighted ROC with the none category (Fig. 4)",
            "One-vs-rest ROC per known class and for none, averaged with each class's share of "
            "products as its weight.",
            roc_figure(evaluation["roc"], auc),
        ),
    ]
    history = evaluation.get("history", pd.DataFrame())
    if not history.empty and history["method"].isin(epochs_methods).any():
        chosen = history[history["method"].isin(epochs_methods)]
        figures.append(
            Figure(
                "Accuracy per epoch (Fig. 5)",
                "Overall and none accuracy on the evaluated hold-out after each epoch.",
                epochs_figure(chosen, DEFAULT_THRESHOLD),
            )
        )
    if not quality.empty and (quality["source"] == "knn_aug").any():
        knn = quality[(quality["source"] == "knn_aug") & (quality["label"] != "ALL")]
        means = knn.groupby("label")[["labels", "precision"]].mean().reset_index()
        figures.append(
            Figure(
                "Similarity-augmented labels per class",
                "How many pool products each class gained through nearest neighbours, and how "
                "many of those labels are right (known here, unlike in the papers).",
                label_sets_figure(means),
            )
        )
    return figures


def run_links(
    runs: pd.DataFrame,
    registered: pd.DataFrame,
    mlflow_url: str,
    dagster_runs: dict[str, str],
    dagster_url: str,
) -> pd.DataFrame:
    """One row per run: trial, method, its MLflow page, its Dagster run, registered version."""
    listing = runs[["trial", "method", "run_id"]].drop_duplicates().sort_values(["method", "trial"])
    listing["mlflow"] = [f"{mlflow_url}/runs/{run_id}" for run_id in listing["run_id"]]
    listing["dagster"] = [
        f"{dagster_url}/runs/{dagster_runs[r]}" if dagster_runs.get(r) else ""
        for r in listing["run_id"]
    ]
    versions = registered.set_index("run_id")["version"]
    listing["registered_version"] = listing["run_id"].map(versions).astype("Int64")
    return listing


def known_only_note(runs: pd.DataFrame, champion: str) -> str:
    """Name a method that is better on known classes alone, when it is not the champion."""
    top1 = runs[runs["metric"] == "top1_known"].groupby("method")["value"].mean()
    if top1.empty or top1.idxmax() == champion:
        return ""
    if top1.max() - top1.get(champion, float("nan")) <= EQUAL_MARGIN:
        return ""  # not better by more than a rounding
    best = top1.idxmax()
    return (
        f"For known classes only, {best} is better: top-1 accuracy {top1[best]:.3f} against "
        f"{top1.get(champion, float('nan')):.3f} for {champion}."
    )


def next_steps(trials: int, queued: int) -> list[str]:
    steps = []
    if queued:
        steps.append(
            f"Label the {queued} products of reports/labeling_queue.csv (fill in its category "
            "column), then `embaug labels import` it and `embaug retrain`."
        )
    if trials < TRIALS_TO_TRUST:
        steps.append(
            f"Add trials: {trials} ran; {TRIALS_TO_TRUST} make a recommendation worth trusting "
            f"(`embaug demo --trials {TRIALS_TO_TRUST}`)."
        )
    return steps


def build_report(
    runs: pd.DataFrame,
    evaluation: dict[str, pd.DataFrame],
    quality: pd.DataFrame,
    recommendation: Recommendation,
    champion: ChampionChoice,
    settings: dict[str, object],
    links: pd.DataFrame,
    epochs_methods: list[str],
) -> Report:
    """The report's tables and figures from the runs' results and evaluation tables."""
    differences = paired_differences(runs, metrics=PAIRED)
    return Report(
        recommendation=recommendation,
        champion=champion,
        comparison=comparison_table(runs),
        paired=paired_table(differences),
        differences=differences,
        per_class=per_class_table(evaluation["per_class"]),
        settings=settings,
        runs=links,
        figures=report_figures(runs, evaluation, quality, recommendation.threshold, epochs_methods),
        known_only=known_only_note(runs, champion.method),
        peer=against_peer(runs),
    )
