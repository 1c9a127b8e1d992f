"""A run Dagster launched, executed on a Dask worker (the task `DaskRunLauncher` sends).

It runs in Dagster's own run worker, `dagster api execute_run` (what Dagster's Docker and
Kubernetes launchers start), as a child process of the worker that the kernel kills if the
worker dies: killed work is not left running. Meanwhile the worker holds the run's lease in the
team database (`embaug_pipeline/run/abandoned.py`), stops the process when the run is being
canceled, and ends the run and its MLflow runs if the process exits before the run ended. A
task Dask runs a second time (its first worker died) finds its run started and releases it
instead; Dagster's run retry then launches the run again."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time

import dagster as dg

from embaug_core.common.environment import DASK
from embaug_core.common.team import LEASE_LOST_SECONDS, normalise_environment
from embaug_pipeline.run.abandoned import (
    LEASE_TAG,
    PID_TAG,
    abandoned_because,
    end_tracked_runs,
    release,
    run_lease,
)

logger = logging.getLogger(__name__)
#: Which Dask worker executes a launched run.
WORKER_TAG = "embaug/dask_worker"
#: Steps that hand work to the cluster's workers and wait for it (embedding in shards).
SPREADING_STEPS = frozenset({"text_embeddings", "image_embeddings"})
#: How often the worker looks whether its run is being canceled; how long a canceled run's
#: process has to stop before it is killed.
WATCH_SECONDS, CANCEL_SECONDS = 2.0, 60.0
NOT_YET_STARTED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING)
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
PR_SET_PDEATHSIG = 1


def _die_with_worker() -> None:
    """In the run's process, before Dagster starts: the kernel kills it when its worker dies."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_worker_arguments(run: dg.DagsterRun, instance_ref) -> str:
    """The input of `dagster api execute_run` for this run: Dagster's serialised
    ExecuteRunArgs, written from its public serialisation (Dagster exports no constructor for
    them), and read back here so that a change of their form fails at once, naming it."""
    arguments = json.dumps(
        {
            "__class__": "ExecuteRunArgs",
            "pipeline_origin": json.loads(dg.serialize_value(run.job_code_origin)),
            "pipeline_run_id": run.run_id,
            "instance_ref": json.loads(dg.serialize_value(instance_ref)),
            "set_exit_code_on_failure": None,
        }
    )
    dg.deserialize_value(arguments)
    return arguments


def execute_launched_run(run_id: str, instance_ref, scheduler: str) -> str:
    """Run on a Dask worker: execute the launched run `run_id`; returns its final status."""
    normalise_environment()  # the instance reads EMBAUG_DATABASE_URL by name
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        run = instance.get_run_by_id(run_id)
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, "Canceled before a worker started it")
        elif not run.is_finished and run.status not in NOT_YET_STARTED:
            # Dask runs a task again when its worker died, and the run's process with it; the
            # run's lease tells if the scheduler only lost sight of a worker that still runs it.
            lease = LEASE_TAG in run.tags
            elsewhere = lease and not abandoned_because(instance, run, LEASE_LOST_SECONDS)
            if not elsewhere:
                release(instance, run, "its Dask worker died")
        elif not run.is_finished:
            _execute(instance, run, instance_ref, scheduler)
        return instance.get_run_by_id(run_id).status.value


def _execute(
    instance: dg.DagsterInstance, run: dg.DagsterRun, instance_ref, scheduler: str
) -> None:
    from distributed import get_worker, secede

    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    if SPREADING_STEPS & set(plan.step_keys_to_execute):
        secede()  # its shards need this worker's thread while it waits for them
    environment = {
        **os.environ,
        DASK: scheduler,  # embedding steps send their shards to the same cluster
        "DAGSTER_EXECUTE_RUN_ARGS": run_worker_arguments(run, instance_ref),
    }
    with run_lease() as tags:
        worker = get_worker()
        # Before the run's process starts, so that a STARTED run always names its own lease;
        # the process it names is the run's, once started.
        tags = {**tags, WORKER_TAG: f"{worker.name} {worker.address}"}
        instance.add_run_tags(run.run_id, {k: v for k, v in tags.items() if k != PID_TAG})
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "api", "execute_run"],
            env=environment,
            preexec_fn=_die_with_worker,  # safe beside threads: one prctl call, no lock
        )
        try:
            instance.add_run_tags(run.run_id, {PID_TAG: str(process.pid)})
            _watch(instance, run.run_id, process)
        finally:
            if process.poll() is None:
                process.kill()  # the worker can no longer follow it: stop it
                process.wait()
    _end(instance, run.run_id, process.returncode)


def _watch(instance: dg.DagsterInstance, run_id: str, process: subprocess.Popen) -> None:
    """Wait for the run's process; stop it if the run is being canceled."""
    stopping_since = None
    while process.poll() is None:
        try:
            process.wait(WATCH_SECONDS)
        except subprocess.TimeoutExpired:
            if stopping_since is None:
                if instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELING:
                    process.send_signal(signal.SIGINT)  # Dagster's run worker stops its steps
                    stopping_since = time.monotonic()
            elif time.monotonic() - stopping_since > CANCEL_SECONDS:
                process.kill()


def _end(instance: dg.DagsterInstance, run_id: str, returncode: int) -> None:
    """After the run's process: a run it left unfinished ends here, with its MLflow runs."""
    run = instance.get_run_by_id(run_id)
    if run.status == dg.DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, f"Its process was stopped (exit status {returncode})")
        end_tracked_runs(instance)
    elif not run.is_finished:
        release(instance, run, f"its process exited (status {returncode}) before the run ended")
    else:
        end_tracked_runs(instance)
