"""The comparison's parent run carries its summary: the recommendation, the champion's mean
figures over trials and what to expect of it at the served threshold (metrics), the
comparison table (its description and `comparison.csv`) and the report itself, so that the
run that groups the trial runs says what they concluded."""

from __future__ import annotations

import math
import time
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Metric, RunTag

from embaug_core.tracking import TAG_METHOD, TAG_TRIAL

#: The tag MLflow shows as a run's description.
NOTE = "mlflow.note.content"


def summary_metrics(
    runs: pd.DataFrame, method: str, expected: dict[str, object], figures: tuple[str, ...]
) -> dict[str, float]:
    """The champion's mean `figures` over trials (`champion/*`) and the figures to expect at
    the served threshold (`expected/*`), finite values only."""
    means = runs[runs["method"] == method].groupby("metric")["value"].mean()
    values = {f"champion/{f}": float(means[f]) for f in figures if f in means}
    for name in ("overall_acc", "none_acc"):
        if name in expected:
            values[f"expected/{name}"] = float(expected[name])
    values["trials"] = float(runs["trial"].nunique())
    return {k: v for k, v in values.items() if math.isfinite(v)}


def log_comparison_summary(
    tracking_uri: str,
    run_id: str,
    champion: str,
    headline: str,
    table: pd.DataFrame,
    metrics: dict[str, float],
    report: Path | None = None,
) -> None:
    """Write the summary onto the parent run `run_id`: `headline` and the comparison `table`
    (people's names, one row per method) as its description and `comparison.csv`; its
    method and trial columns say it is the champion over the trials."""
    client = mlflow.MlflowClient(tracking_uri)
    stamp = int(time.time() * 1000)
    tags = [
        RunTag(NOTE, f"**{headline}**\n\n{table.to_markdown()}"),
        RunTag(TAG_METHOD, f"{champion} (champion)"),
        RunTag(TAG_TRIAL, f"mean of {int(metrics.get('trials', 0))} trials"),
    ]
    client.log_batch(
        run_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()], tags=tags
    )
    client.log_text(run_id, table.to_csv(), "comparison.csv")
    if report is not None and report.is_file():
        client.log_artifact(run_id, str(report))
