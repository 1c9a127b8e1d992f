"""Retraining without a person: a weekly schedule and a catalogue sensor refresh the catalogue
and its embeddings (only new content is embedded); when that run succeeds, a third sensor
launches one backfill of everything downstream, which Dagster's backfill daemon runs in
dependency order, one run per partition.

Both triggers reload the catalogue with the settings of the last `raw_products`
materialisation, so a retraining redoes what the user last chose.
"""

from __future__ import annotations

import json
import os
from typing import Any

import dagster as dg

# The only way a sensor can request a backfill; RunRequest.for_asset_graph_subset takes it.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from embaug_core.catalog import CatalogError, CatalogSettings, locate_catalog
from embaug_core.fingerprint import content_sha256, stat_signature

RETRAIN_CRON = os.environ.get("EMBAUG_RETRAIN_CRON", "0 3 * * 1")
SENSOR_SECONDS = int(os.environ.get("EMBAUG_SENSOR_SECONDS", "60"))
HEAD = ("raw_products", "text_embeddings", "image_embeddings")
DOWNSTREAM = ("trial_splits", "label_sets", "trained_models", "evaluation_report", "labeling_queue")

catalogue_refresh = dg.define_asset_job(
    "catalogue_refresh",
    selection=list(HEAD),
    description="Reload the catalogue and embed what is new; retrain_downstream continues.",
)


def last_catalogue_load(instance: dg.DagsterInstance) -> dict[str, Any] | None:
    """Settings, content hash and run id of the last raw_products materialisation."""
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_products"))
    if event is None or event.asset_materialization is None:
        return None
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    if "settings" not in metadata:
        return None
    return {
        "settings": metadata["settings"],
        "sha256": metadata.get("source_sha256"),
        "run_id": event.run_id,
    }


def refresh_config(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Run config of catalogue_refresh: the last load's settings, or the defaults."""
    return {"ops": {"raw_products": {"config": settings}}} if settings else {}


@dg.schedule(
    name="weekly_retraining",
    cron_schedule=RETRAIN_CRON,
    job=catalogue_refresh,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Retrain everything on cron '{RETRAIN_CRON}' (EMBAUG_RETRAIN_CRON).",
)
def weekly_retraining(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    last = last_catalogue_load(context.instance)
    return dg.RunRequest(
        run_config=refresh_config(last and last["settings"]),
        tags={"embaug/trigger": "schedule"},
    )


@dg.sensor(
    name="catalogue_changed",
    job=catalogue_refresh,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrain when the catalogue's content differs from its last load.",
)
def catalogue_changed(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Compares the content hash of the catalogue with the one of its last load. The hash is
    recomputed only when file names, sizes or modification times moved (kept in the cursor)."""
    last = last_catalogue_load(context.instance)
    if last is None:
        return dg.SkipReason("raw_products was never materialised: nothing to watch yet")
    try:
        settings = CatalogSettings.from_mapping(last["settings"])
        path = locate_catalog(settings.path)
        stats = stat_signature(path, settings)
    except (CatalogError, FileNotFoundError) as error:
        return dg.SkipReason(f"catalogue unreadable: {error}")
    seen = json.loads(context.cursor) if context.cursor else {}
    same_files = seen.get("path") == str(path) and seen.get("stats") == stats
    content = seen["sha256"] if same_files else content_sha256(path, settings)
    context.update_cursor(json.dumps({"path": str(path), "stats": stats, "sha256": content}))
    if content == last["sha256"]:
        return dg.SkipReason(f"{path}: unchanged since its last load")
    return dg.RunRequest(
        # One request per (loaded state, new content): a tick during the run asks nothing more.
        run_key=f"{last['run_id']}:{content}",
        run_config=refresh_config(last["settings"]),
        tags={"embaug/trigger": "catalogue_changed", "embaug/catalogue_sha256": content},
    )


@dg.sensor(
    name="retrain_downstream",
    asset_selection=list(DOWNSTREAM),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_SECONDS,
    description="After a catalogue refresh: splits, label sets, every model, report, queue.",
)
def retrain_downstream(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """One backfill of every partition downstream, for each newly succeeded catalogue_refresh
    (the cursor holds the last refresh continued)."""
    records = context.instance.get_run_records(
        dg.RunsFilter(job_name=catalogue_refresh.name, statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    if not records:
        return dg.SkipReason("no successful catalogue_refresh run yet")
    refresh = records[0].dagster_run.run_id
    if context.cursor == refresh:
        return dg.SkipReason(f"catalogue_refresh {refresh} already continued")
    context.update_cursor(refresh)
    graph = context.repository_def.asset_graph
    subset = AssetGraphSubset.from_asset_keys([dg.AssetKey(name) for name in DOWNSTREAM], graph)
    return dg.RunRequest.for_asset_graph_subset(
        subset, tags={"embaug/trigger": "retrain_downstream", "embaug/refresh_run": refresh}
    )
