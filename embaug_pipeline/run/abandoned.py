"""Runs nobody executes any more. A run whose process was killed (its worker died, its machine
went away, it lost the team database mid-run) stays STARTED in Dagster, keeps its DuckDB pool
slot (the next writer would wait for it forever) and leaves its MLflow run RUNNING; whoever
finds it marks it failed, frees its slots and ends its MLflow runs.

How a run is known abandoned: in team mode its process holds a lease in the team database
while it executes (`embaug_core.common.team.lease`), which the database lets go of when the
process dies or loses it, on any machine; on one machine, its process id is gone."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import dagster as dg

from embaug_core.common.home import Home
from embaug_core.common.team import database_url, first_use_lock, lease, lease_free
from embaug_core.tracking.abandoned import end_runs_of_ended_owners
from embaug_pipeline.resources import MlflowResource

logger = logging.getLogger(__name__)
PID_TAG, HOST_TAG = "embaug/pid", "embaug/host"
#: The lease a run's process holds in the team database while it executes.
LEASE_TAG = "embaug/lease"
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
#: The run a retry or re-execution was made from (Dagster's tag).
RETRIED_FROM_TAG = "dagster/parent_run_id"


@contextmanager
def run_lease() -> Iterator[dict[str, str]]:
    """The tags of a run this process executes in the block: the process and its host, and in
    team mode the lease held for it until the block ends."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    if not database_url():
        yield tags
        return
    token = uuid.uuid4().hex
    with lease(token):
        yield {**tags, LEASE_TAG: token}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _inherited(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A retry or re-execution starts with its parent's tags, process and lease included,
    until its own process writes them."""
    parent_id = run.tags.get(RETRIED_FROM_TAG)
    parent = instance.get_run_by_id(parent_id) if parent_id else None
    mine = [tag for tag in (LEASE_TAG, PID_TAG, HOST_TAG) if tag in run.tags]
    return parent is not None and all(parent.tags.get(tag) == run.tags[tag] for tag in mine)


def abandoned_because(instance: dg.DagsterInstance, run: dg.DagsterRun, wait: float = 0) -> str:
    """Why nobody executes this run any more ("" while someone does, or when it cannot be
    told). `wait`: seconds to give the lease of a holder known to have just died."""
    if _inherited(instance, run):
        return ""
    if LEASE_TAG in run.tags:
        if lease_free(run.tags[LEASE_TAG], wait):
            where = run.tags.get(HOST_TAG, "its machine")
            return f"its process on {where} let go of its lease: it was killed or lost the database"
        return ""
    same_host = run.tags.get(HOST_TAG) == socket.gethostname()
    if same_host and PID_TAG in run.tags and not _alive(int(run.tags[PID_TAG])):
        return f"its process {run.tags[PID_TAG]} is gone"
    return ""


def _fail(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> None:
    """Mark the run failed (unless it ended meanwhile) and free its pool slots."""
    current = instance.get_run_by_id(run.run_id)
    if current is not None and not current.is_finished:
        instance.report_run_failed(current, why)
        logger.warning("run %s: %s; marked failed", run.run_id, why)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def release(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> None:
    """Fail a run nobody executes any more, free its pool slots, end its MLflow runs."""
    _fail(instance, run, why)
    end_tracked_runs(instance)


def release_abandoned_runs(
    instance: dg.DagsterInstance, runs: Iterable[dg.DagsterRun] | None = None, wait: float = 0
) -> list[str]:
    """Release every in-progress run (or those of `runs`) that nobody executes any more, then
    end the MLflow runs of Dagster runs that ended. Returns the released run ids."""
    if runs is None:
        runs = instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    released = []
    for run in runs:
        why = abandoned_because(instance, run, wait)
        if why:
            _fail(instance, run, why)
            released.append(run.run_id)
    end_tracked_runs(instance)
    return released


def end_tracked_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark KILLED the MLflow runs still RUNNING whose Dagster run has ended."""
    home, tracking = Home.from_env(), MlflowResource()
    if not database_url() and not (home.root / "mlflow.db").exists():
        return []  # nothing was tracked yet

    def ended(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is None or run.is_finished

    with first_use_lock(home.root / "mlflow.lock"):
        return end_runs_of_ended_owners(tracking.uri(), tracking.experiment, ended)
