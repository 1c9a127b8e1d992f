"""Retraining without a person: a weekly schedule and a catalogue sensor refresh the catalogue
and its embeddings (only new content is embedded) with the settings of its last load; a sensor
on the labels inbox imports new label files; Dagster's declarative automation
(`conditions.retrain`, evaluated by the `retraining_automation` sensor) then retrains every
partition downstream that exists, once each, in dependency order, then the report, the
production model, its predictions and the queue.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import dagster as dg

from embaug_core.catalog import CatalogError, CatalogSettings, locate_catalog
from embaug_core.catalog.fingerprint import content_sha256, stat_signature
from embaug_core.common.environment import AUTOMATION, setting
from embaug_core.common.home import Home
from embaug_pipeline.conditions import TRIGGER_TAG
from embaug_pipeline.defs.jobs import labels_to_production

RETRAIN_CRON = os.environ.get("EMBAUG_RETRAIN_CRON", "0 3 * * 1")
SENSOR_SECONDS = int(os.environ.get("EMBAUG_SENSOR_SECONDS", "60"))
#: Off unless the person chose them (`embaug ui --automation`, or EMBAUG_AUTOMATION=on); the
#: Dagster UI turns each one on or off as well.
ON = setting(AUTOMATION) == "on"
SENSOR_STATUS = dg.DefaultSensorStatus.RUNNING if ON else dg.DefaultSensorStatus.STOPPED
SCHEDULE_STATUS = dg.DefaultScheduleStatus.RUNNING if ON else dg.DefaultScheduleStatus.STOPPED

catalogue_refresh = dg.define_asset_job(
    "catalogue_refresh",
    selection=dg.AssetSelection.groups("catalog", "embeddings"),
    description="Reload the catalogue and embed what is new; the automation retrains the rest.",
)
label_import = dg.define_asset_job(
    "label_import",
    selection=dg.AssetSelection.assets("human_labels"),
    description="Import the label files dropped in the labels inbox.",
)
retraining_automation = dg.AutomationConditionSensorDefinition(
    "retraining_automation",
    target=dg.AssetSelection.groups("labels", "training", "evaluation", "serving"),
    default_status=SENSOR_STATUS,
    minimum_interval_seconds=SENSOR_SECONDS,
    # One run per partition (backfills wait ~30 s per level for the backfill daemon).
    emit_backfills=False,
    run_tags={TRIGGER_TAG: "automation"},
    description="Retrains every existing partition downstream of a change, once, in order.",
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
    default_status=SCHEDULE_STATUS,
    description=f"Retrain everything on cron '{RETRAIN_CRON}' (EMBAUG_RETRAIN_CRON).",
)
def weekly_retraining(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    last = last_catalogue_load(context.instance)
    return dg.RunRequest(
        run_config=refresh_config(last and last["settings"]),
        tags={TRIGGER_TAG: "schedule"},
    )


@dg.sensor(
    name="catalogue_changed",
    job=catalogue_refresh,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=SENSOR_STATUS,
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
        tags={TRIGGER_TAG: "catalogue_changed", "embaug/catalogue_sha256": content},
    )


@dg.sensor(
    name="labels_dropped",
    jobs=[label_import, labels_to_production],
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=SENSOR_STATUS,
    description="Import label files dropped in the labels inbox (EMBAUG_LABELS_INBOX), and "
    "retrain the production model on them first when one is served.",
)
def labels_dropped(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """One import run for the inbox's CSV files as they stand, whenever they change (a file
    imported before changes nothing: imports are keyed by the file's hash)."""
    inbox = Home.from_env().labels_inbox
    files = sorted(inbox.glob("*.csv")) if inbox.is_dir() else []
    if not files:
        return dg.SkipReason(f"{inbox}: no label files")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    if context.cursor == digest.hexdigest():
        return dg.SkipReason(f"{inbox}: no new or changed label file")
    context.update_cursor(digest.hexdigest())
    from embaug_pipeline.run.loop import production_ready

    job = labels_to_production if production_ready() else label_import
    return dg.RunRequest(
        run_key=digest.hexdigest(), job_name=job.name, tags={TRIGGER_TAG: "labels_dropped"}
    )
