"""The evaluation report end to end: the current runs read back from MLflow, the champion
chosen and registered, the recommendation kept for the production model, the page written and
the results stored. One call for the reporting asset, usable from a notebook as well."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from embaug_core.common.reuse import fingerprint
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.expected import expected_figures
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.evaluation.report import Report, build_report, next_steps, refresh, run_links
from embaug_core.evaluation.report_facts import (
    catalogue_facts,
    drift_facts,
    label_loop_facts,
    prediction_facts,
    trial_facts,
)
from embaug_core.evaluation.report_parts import (
    drawn_only,
    methods_drawn,
    say_what_is_drawn,
    team_lead_parts,
    worst_first,
)
from embaug_core.evaluation.report_settings import report_settings
from embaug_core.evaluation.studies import study_facts
from embaug_core.evaluation.verdicts import ChampionChoice, below_floor, choose_champion
from embaug_core.labels.lineage import Lineage
from embaug_core.labels.sets import label_quality_by_trial
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
    encoders: dict[str, str]
    tracking_uri: str
    experiment: str
    mlflow_url: str
    dagster_url: str
    champion_figure: str
    epochs_methods: list[str]
    #: The champion's mean weighted AUC under which no production model is made.
    auc_floor: float
    #: The experiment's page on its trial runs (MLflow's saved view), linked from the page.
    experiment_url: str = ""
    #: The product matrix: with it, the champion's trial models are replayed to show what
    #: goes wrong, class by class (`mistakes.py`).
    vectors: ProductVectors | None = None
    #: Seconds of the steps before training (embedding), for the run's time and cost.
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportOutcome:
    """What the report chose; `report` is None when its inputs were unchanged and the page
    and tables already written were kept. `not_served` says why the champion is under the
    AUC floor ("" when it clears it)."""

    report: Report | None
    champion: ChampionChoice
    champion_auc: float
    trials: list[str]
    runs: int
    path: Path
    not_served: str


def assemble_report(inputs: EvaluationInputs, path: Path) -> ReportOutcome:
    """Build, write and store the comparison of every current run (kept as it is when the
    runs, the settings, the predictions, people's labels and the code are unchanged)."""
    store = inputs.store
    every = finished_runs(inputs.tracking_uri, inputs.experiment)
    runs = current_runs(every, inputs.lineage)
    if runs.empty:
        raise LookupError(
            "no finished MLflow runs on the current catalogue's trials: materialise trained_models"
        )
    made_from = _fingerprint(inputs, runs)
    if path.is_file() and store.made_from("evaluation_report") == made_from:
        return _outcome(None, choose_champion(runs, inputs.champion_figure), runs, path, inputs)
    trials = sorted(runs["trial"].unique())
    splits = {trial: store.split(trial) for trial in inputs.label_sets["trial"].unique()}
    quality = label_quality_by_trial(inputs.label_sets, splits)
    choice = choose_champion(runs, inputs.champion_figure)
    registered = register_methods(runs, inputs.tracking_uri, choice)
    evaluation = collect_evaluation(runs, inputs.tracking_uri)
    params = run_params(runs["run_id"].unique().tolist(), inputs.tracking_uri)
    recommendation = Recommendation.from_runs(runs, choice, params)
    expected = expected_figures(
        evaluation["sweep"], runs, recommendation.method, recommendation.threshold
    )
    dagster_runs = dict(zip(params["run_id"], params["dagster_run_id"], strict=True))
    links = run_links(runs, registered, inputs.mlflow_url, dagster_runs, inputs.dagster_url)
    stale = int((len(every) and every["run_id"].nunique()) - params["run_id"].nunique())
    settings = report_settings(store, params, trials, stale, inputs.encoders, inputs.experiment)
    settings["MLflow, the trial runs"] = inputs.experiment_url
    drawn = methods_drawn(runs, choice.method, inputs.champion_figure)
    report = build_report(
        runs,
        drawn_only(evaluation, drawn),
        quality,
        recommendation,
        choice,
        settings,
        links,
        inputs.epochs_methods,
    )
    report.per_class = worst_first(report.per_class, choice.method)
    report.parts = team_lead_parts(
        runs,
        recommendation.method,
        recommendation.threshold,
        store,
        inputs.vectors,
        inputs.tracking_uri,
        inputs.stage_seconds,
    )
    report.parts.expected = expected.iloc[0].to_dict()
    report.parts.not_drawn = sorted(set(runs["method"]) - set(drawn))
    say_what_is_drawn(report.figures, drawn, report.parts.not_drawn)
    outcome = _outcome(report, choice, runs, path, inputs)
    report.not_served = outcome.not_served
    _add_facts(report, store, trials)
    report.write(path)
    store.replace_tables(
        {
            "results": runs[["trial", "method", "metric", "value", "run_id"]],
            "paired_differences": report.differences,
            "per_class_results": evaluation["per_class"],
            "label_quality": quality,
            "recommendation": recommendation.row(),
            "expected_figures": expected,
        }
    )
    store.record_made_from("evaluation_report", "", made_from)
    return outcome


def _outcome(
    report: Report | None,
    choice: ChampionChoice,
    runs: pd.DataFrame,
    path: Path,
    inputs: EvaluationInputs,
) -> ReportOutcome:
    champion = runs[(runs["method"] == choice.method) & (runs["metric"] == "weighted_auc")]
    trials = sorted(runs["trial"].unique())
    mean_auc = float(champion["value"].mean())
    splits = {trial: inputs.store.split(trial) for trial in trials}
    why = below_floor(choice.method, mean_auc, inputs.auc_floor, splits)
    return ReportOutcome(report, choice, mean_auc, trials, runs["run_id"].nunique(), path, why)


def _fingerprint(inputs: EvaluationInputs, runs: pd.DataFrame) -> str:
    """Everything the page shows depends on: the runs, the report's settings, the
    predictions and people's labels as they stand, and the code."""
    store = inputs.store
    state = store.query(
        "SELECT (SELECT count(*) FROM predictions) AS p, (SELECT max(scored_at) FROM predictions)"
        " AS s, (SELECT count(*) FROM label_imports) AS i"
    ).astype(str)
    return fingerprint(
        (__name__,),
        runs=sorted(runs["run_id"].unique()),
        figure=inputs.champion_figure,
        floor=inputs.auc_floor,
        epochs=inputs.epochs_methods,
        links=[inputs.mlflow_url, inputs.dagster_url, inputs.experiment_url],
        state=state.iloc[0].tolist(),
    )


def _add_facts(report: Report, store: Store, trials: list[str]) -> None:
    """What it was run on, predictions and people's labels (as they stand when it is built;
    `refresh_serving` updates the last two after the serving assets run)."""
    report.facts = {"catalogue": catalogue_facts(store)}
    tables, steps = serving_facts(store, len(trials))
    report.tables = {"trials": trial_facts(store, trials), **tables}
    report.next_steps = steps


def serving_facts(store: Store, trials: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Predictions, people's labels, and what to do next, as they stand."""
    imports, gained = label_loop_facts(store)
    queued = int(store.query("SELECT count(*) AS n FROM predictions WHERE none")["n"].iloc[0])
    tables = {"predictions": prediction_facts(store), "imports": imports, "gained": gained}
    tables["drift"] = drift_facts(store)
    tables["studies"] = study_facts(store)
    return tables, next_steps(trials, queued)


def refresh_serving(store: Store, path: Path) -> None:
    """Bring a written report's predictions, people's labels and next steps up to date."""
    if path.is_file():
        trials = int(store.query("SELECT count(DISTINCT trial) AS n FROM results")["n"].iloc[0])
        refresh(path, *serving_facts(store, trials))
