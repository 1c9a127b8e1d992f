"""MLflow only, split by job: `runs` (logging a run's parts), `results` (reading runs back),
`reuse` (finding a run by the fingerprint of its inputs), `registry` (model versions and
aliases), `pyfunc` and `product_model` (the logged models). The tags below are how
runs are found again; none of this imports Dagster."""

from __future__ import annotations

import mlflow

TAG_TRIAL, TAG_METHOD = "embaug.trial", "embaug.method"
#: The lineage key of the trial's split and vectors (`labels.lineage`): what makes a run current.
TAG_LINEAGE = "embaug.lineage"
#: Which comparison a run belongs to: the main grid, a parameter search, or production.
TAG_SOURCE = "embaug.source"
GRID, ALPHA_SEARCH, PRODUCTION_RUN = "grid", "alpha_search", "production"
#: A fingerprint of everything a run's model was made from: an unchanged one is reused.
TAG_INPUTS = "embaug.inputs_sha256"
#: What sets a search's run apart from the grid's, e.g. "alpha=0.1" ("" in the grid).
TAG_VARIANT = "embaug.variant"
TAG_MODEL_URI = "embaug.model_uri"


def use_tracking_store(tracking_uri: str) -> None:
    """Point this process's MLflow at `tracking_uri`, for tracking and registry alike. Some MLflow
    calls resolve `models:/` URIs through the process-wide store even when given a client, so a
    fresh process (a Dagster run worker) must set it before registering or loading a model."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
