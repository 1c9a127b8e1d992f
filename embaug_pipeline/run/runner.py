"""Materialise assets in-process, into the Dagster instance under EMBAUG_HOME, one run per
partition, so the Dagster UI and the MLflow UI show exactly what the command line ran; a failed
step becomes one `GraphFailure` with its cause."""

from __future__ import annotations

import logging
import os
import time

import dagster as dg

from embaug_core.common.environment import DASK, setting
from embaug_core.common.home import Home
from embaug_core.common.team import database_url, ensure_mlflow_schema, normalise_environment
from embaug_core.tracking.relocate import relocate_artifacts
from embaug_pipeline import definitions
from embaug_pipeline.conditions import DEMO, TRIGGER_TAG
from embaug_pipeline.run.abandoned import release_abandoned_runs, run_lease

logger = logging.getLogger(__name__)
#: Where a training run stands in the grid ("model 12 of 50"), shown in its Dagster log.
COUNTER_TAG = "embaug/grid_position"
#: Dagster's console log of in-process runs is quiet (the event log keeps everything, and the
#: command line shows embaug's own progress and one line per failure); EMBAUG_DAGSTER_LOG=INFO
#: (or `embaug demo --verbose`) prints Dagster's events too.
CONSOLE_LEVEL_VARIABLE = "EMBAUG_DAGSTER_LOG"
#: Dagster's own retry of failed runs (team mode) leaves the command line's runs alone.
NO_RETRY_TAG = "dagster/max_retries"


class GraphFailure(RuntimeError):
    """A step of the graph failed; the message is its cause in a line or two, `detail` the
    whole error with its stack (shown with --verbose)."""

    def __init__(self, step: str, cause: str, detail: str, run_id: str):
        super().__init__(f"{step} failed: {cause}")
        self.step, self.cause, self.detail, self.run_id = step, cause, detail, run_id

    def __reduce__(self):
        """Picklable with its parts, so a worker process can hand it back."""
        return GraphFailure, (self.step, self.cause, self.detail, self.run_id)


WRITTEN_BY_EMBAUG = "# Written by embaug for {mode} mode; delete this line to keep your edits."
INSTANCE_YAML = """\
{header}
concurrency:
  pools:
    default_limit: 1  # the pool embaug_duckdb: one DuckDB writer at a time, across runs
  runs:
    max_concurrent_runs: {runs}  # training runs side by side: the cores, at least 2
telemetry:
  enabled: false
"""
TEAM_STORAGE = """\
storage:  # team mode: runs, event log and schedules in the team database
  postgres:
    postgres_url:
      env: EMBAUG_DATABASE_URL
"""
DASK_LAUNCHER = """\
run_launcher:  # every run Dagster launches runs on a worker of the Dask cluster
  module: embaug_pipeline.run.launcher
  class: DaskRunLauncher
  config:
    scheduler: {address}
run_monitoring:  # a launched run still waiting for a free worker after an hour is failed
  enabled: true
  start_timeout_seconds: 3600
  max_resume_run_attempts: 0
run_retries:  # a run whose worker died runs once more; a step's own error is not retried
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""


def prepare_home() -> Home:
    """Create EMBAUG_HOME and point Dagster at its instance folder. Its dagster.yaml limits
    DuckDB writers to one at a time and runs to the number of cores; in team mode
    (EMBAUG_DATABASE_URL) it keeps the instance in Postgres, and MLflow's schema is made; with
    a Dask cluster (EMBAUG_DASK_SCHEDULER) every run Dagster launches goes to its workers. The
    file is rewritten when the mode changes, unless a person took embaug's first line out."""
    normalise_environment()
    home = Home.from_env().create()
    os.environ["EMBAUG_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    team = bool(database_url())
    header = WRITTEN_BY_EMBAUG.format(mode="team" if team else "single-machine")
    wanted = INSTANCE_YAML.format(header=header, runs=max(2, os.cpu_count() or 1))
    wanted += TEAM_STORAGE if team else ""
    wanted += DASK_LAUNCHER.format(address=setting(DASK)) if setting(DASK) else ""
    instance_yaml = home.dagster_home / "dagster.yaml"
    found = instance_yaml.read_text() if instance_yaml.exists() else ""
    if not found.strip() or (found.startswith("# Written by embaug") and found != wanted):
        instance_yaml.write_text(wanted)
    if team:
        ensure_mlflow_schema(database_url())
    else:  # a moved home: MLflow's absolute artifact locations follow it (issue 25)
        relocate_artifacts(home.mlflow_database, home.mlflow_artifacts)
    return home


def run_assets(
    selection: list[str],
    instance: dg.DagsterInstance,
    config: dict[str, dict] | None = None,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One in-process run of the selected assets, with per-asset config, tagged with this
    process so that a later run can tell if it was killed."""
    release_abandoned_runs(instance)
    started = time.perf_counter()
    run_config = {
        "loggers": {
            "console": {"config": {"log_level": os.environ.get(CONSOLE_LEVEL_VARIABLE, "CRITICAL")}}
        },
        "ops": {
            name: {"config": value} for name, value in (config or {}).items() if name in selection
        },
    }
    with run_lease() as process:
        result = definitions.materialize(
            selection=selection,
            partition_key=partition_key,
            run_config=run_config,
            instance=instance,
            tags={
                **process,
                TRIGGER_TAG: DEMO,  # the automation does not rerun what the command line ran
                NO_RETRY_TAG: "0",  # the command line reruns a partition whose worker died
                **(tags or {}),
            },
            raise_on_error=False,
        )
    logger.info(
        "%s %s: %.1f s", ",".join(selection), partition_key or "", time.perf_counter() - started
    )
    failure = step_failure(result)
    if failure:
        raise GraphFailure(*failure, result.run_id)
    return result


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str, str] | None:
    """The first failed step, the root cause of its error and the whole error, or None. A
    failed blocking check is not a step failure: the caller reads the check's evaluation."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            chain = [event.step_failure_data.error]
            while chain[-1].cause is not None:
                chain.append(chain[-1].cause)
            if any(error.cls_name == "DagsterAssetCheckFailedError" for error in chain):
                continue
            detail = event.step_failure_data.error.to_string()
            # The error the step raised, under Dagster's wrappers (not the cause it chains).
            raised = next((e for e in chain if not e.cls_name.startswith("Dagster")), chain[-1])
            return str(event.step_key), _without_class(raised), detail
    return None


def _without_class(error) -> str:
    """An error's message without its exception class ("CatalogError: ...")."""
    message = error.message.strip()
    prefix = f"{error.cls_name}: "
    return message.split(prefix, 1)[1] if prefix in message[: len(prefix) + 200] else message


def check_outcome(result: dg.ExecuteInProcessResult, check: str) -> dict[str, object]:
    """A check's verdict and metadata from a run ({} when it was not evaluated)."""
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == check:
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            return {"passed": evaluation.passed, **meta}
    return {}
