"""Nothing computed twice: a run made from exactly the same inputs (its fingerprint, tag
`embaug.inputs_sha256`) is found again instead of trained again."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow

from embaug_core.tracking import TAG_INPUTS, TAG_MODEL_URI
from embaug_core.tracking.runs import figure_name


@dataclass(frozen=True)
class FoundRun:
    run_id: str
    model_uri: str
    metrics: dict[str, float]


def find_run(tracking_uri: str, experiment_id: str, fingerprint: str) -> FoundRun | None:
    """The newest finished run made from these inputs, if there is one."""
    runs = mlflow.MlflowClient(tracking_uri).search_runs(
        [experiment_id],
        f"tags.`{TAG_INPUTS}` = '{fingerprint}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    metrics = {}
    for name, value in run.data.metrics.items():
        figure = figure_name(name)
        if figure is not None:
            metrics[figure] = value
    return FoundRun(run.info.run_id, run.data.tags.get(TAG_MODEL_URI, ""), metrics)
