"""People's labels reach the served model first: an import retrains the production model on
every label and registers it (with its predictions and queue) in the same run, before any
trial's evidence is touched; the evidence grid follows, or waits for the weekly schedule
(`EMBAUG_EVIDENCE_AFTER_LABELS`)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from embaug_core.tracking.registry import PRODUCTION, version_by_alias
from embaug_pipeline.defs.evaluation.evaluation_report import CHAMPION_CHECK
from embaug_pipeline.resources import MlflowResource, StoreResource
from embaug_pipeline.run.graph import SERVING_ASSETS
from embaug_pipeline.run.runner import run_assets

LABELS_ONLY = ("human_labels",)
LABELS_TO_PRODUCTION = ("human_labels", *SERVING_ASSETS)


def production_ready() -> bool:
    """A production model is registered, and the last report's champion cleared its floor:
    the recommendation may be trained again on new labels."""
    store = StoreResource().get()
    if not store.path.exists():
        return False
    if not store.asset_settings(CHAMPION_CHECK).get("", {}).get("passed"):
        return False
    try:
        version_by_alias(MlflowResource().uri(), PRODUCTION)
    except Exception:  # no registered model or no alias yet
        return False
    return True


@dataclass(frozen=True)
class Imported:
    """The import's run, and the production model it registered (None: labels only)."""

    result: dg.ExecuteInProcessResult
    production: dict[str, object] | None


def import_labels(files: list[str], instance: dg.DagsterInstance) -> Imported:
    """Import label files, then (when a production model is served) retrain and register it
    on every label, predict and queue again, in one run (`labels_to_production`)."""
    selection = LABELS_TO_PRODUCTION if production_ready() else LABELS_ONLY
    result = run_assets(list(selection), instance, {"human_labels": {"files": files}})
    made = result.asset_materializations_for_node("production_model")
    production = {k: v.value for k, v in made[0].metadata.items()} if made else None
    return Imported(result, production)
