"""The evaluation report end to end: the current runs read back from MLflow, the champion
chosen and registered, the page written and the results stored. One call for the reporting
asset, usable from a notebook as well."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from embaug_core.comparison import ChampionChoice, choose_champion
from embaug_core.label_sets import label_quality_by_trial
from embaug_core.lineage import Lineage
from embaug_core.report import Report, build_report, run_links
from embaug_core.store import Store
from embaug_core.tracking.registry import register_methods
from embaug_core.tracking.results import (
    collect_evaluation,
    current_runs,
    finished_runs,
    run_params,
)


@dataclass(frozen=True)
class EvaluationInputs:
    """Where everything the report reads lives, and the report's own settings."""

    store: Store
    lineage: Lineage
    label_sets: pd.DataFrame
    tracking_uri: str
    experiment: str
    runs_url: str
    champion_figure: str
    epochs_methods: list[str]


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    champion: ChampionChoice
    champion_auc: float
    trials: list[str]
    runs: int
    path: Path


def assemble_report(inputs: EvaluationInputs, path: Path) -> ReportOutcome:
    """Build, write and store the comparison of every current run."""
    every = finished_runs(inputs.tracking_uri, inputs.experiment)
    runs = current_runs(every, inputs.lineage)
    if runs.empty:
        raise LookupError(
            "no finished MLflow runs on the current catalogue's trials: materialise trained_models"
        )
    trials = sorted(runs["trial"].unique())
    splits = {trial: inputs.store.split(trial) for trial in inputs.label_sets["trial"].unique()}
    quality = label_quality_by_trial(inputs.label_sets, splits)
    choice = choose_champion(runs, inputs.champion_figure)
    registered = register_methods(runs, inputs.tracking_uri, choice.method)
    evaluation = collect_evaluation(runs, inputs.tracking_uri)
    context = {
        "experiment": inputs.experiment,
        "tracking": inputs.tracking_uri,
        "catalogue": inputs.lineage.catalogue_sha256[:12],
        "trials used": ", ".join(trials),
        "stale runs left out": int(every["run_id"].nunique() - runs["run_id"].nunique()),
    }
    report = build_report(
        runs,
        evaluation,
        run_params(runs["run_id"].unique().tolist(), inputs.tracking_uri),
        quality,
        run_links(runs, registered, inputs.runs_url),
        choice,
        context,
        inputs.epochs_methods,
    )
    report.write(path)
    inputs.store.replace_tables(
        {
            "results": runs[["trial", "method", "metric", "value", "run_id"]],
            "paired_differences": report.differences,
            "per_class_results": evaluation["per_class"],
            "label_quality": quality,
        }
    )
    champion = runs[(runs["method"] == choice.method) & (runs["metric"] == "weighted_auc")]
    return ReportOutcome(
        report, choice, float(champion["value"].mean()), trials, runs["run_id"].nunique(), path
    )
