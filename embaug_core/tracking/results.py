"""Reading finished runs back: one long results table, their evaluation tables and params."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from embaug_core.labels.lineage import Lineage
from embaug_core.tracking import GRID, TAG_LINEAGE, TAG_METHOD, TAG_SOURCE, TAG_TRIAL, TAG_VARIANT
from embaug_core.tracking.runs import figure_name

RUN_COLUMNS = ["trial", "method", "variant", "lineage", "run_id", "metric", "value"]


def finished_runs(tracking_uri: str, experiment: str, source: str = GRID) -> pd.DataFrame:
    """The latest finished run of `source` per (trial, method, variant, lineage) with its
    final metrics, in long format (RUN_COLUMNS)."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows, seen = [], set()
    for run in _all_runs(client, found.experiment_id):
        tags = run.data.tags
        key = (
            tags.get(TAG_TRIAL),
            tags.get(TAG_METHOD),
            tags.get(TAG_VARIANT, ""),
            tags.get(TAG_LINEAGE),
        )
        if tags.get(TAG_SOURCE) != source or None in key or key in seen:
            continue
        seen.add(key)
        for metric, value in run.data.metrics.items():
            figure = figure_name(metric)
            if figure is not None:
                rows.append((*key, run.info.run_id, figure, value))
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def current_runs(runs: pd.DataFrame, lineage: Lineage) -> pd.DataFrame:
    """Only the runs of current trials (their split and vectors are today's)."""
    return lineage.current(runs)


def _all_runs(client: mlflow.MlflowClient, experiment_id: str):
    """Every finished run of the experiment, newest first, across result pages."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            "attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def evaluation_tables(run_id: str, tracking_uri: str) -> dict[str, pd.DataFrame]:
    """The evaluation tables a run logged, read back from its artifacts (class names stay
    strings: a class called "NA" is not a missing value)."""
    folder = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="evaluation", tracking_uri=tracking_uri
    )
    return {
        path.stem: pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"class": str})
        for path in Path(folder).glob("*.csv")
    }


def collect_evaluation(runs: pd.DataFrame, tracking_uri: str) -> dict[str, pd.DataFrame]:
    """Every run's evaluation tables, concatenated, with its method, trial and run id."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for (method, trial, run_id), _ in runs.groupby(["method", "trial", "run_id"]):
        for name, table in evaluation_tables(run_id, tracking_uri).items():
            parts.setdefault(name, []).append(table.assign(method=method, trial=trial))
    return {name: pd.concat(tables, ignore_index=True) for name, tables in parts.items()}


def run_params(run_ids: list[str], tracking_uri: str) -> pd.DataFrame:
    """The params of each run, one row per run, with the Dagster run that made it."""
    client = mlflow.MlflowClient(tracking_uri)
    rows = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        dagster = run.data.tags.get("dagster.run_id", "")
        rows.append({"run_id": run_id, "dagster_run_id": dagster, **run.data.params})
    return pd.DataFrame(rows)
