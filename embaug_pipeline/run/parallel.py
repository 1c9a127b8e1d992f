"""Partitions side by side: one Dagster run per partition, each in a worker process, so the
Dagster UI still shows one run per trial x method. Workers are this machine's processes
(`workers=N`) or the processes of an existing Dask cluster (`address=tcp://...`): any worker
needs only the installed project, the instance (its DAGSTER_HOME, or the database of team
mode) and EMBAUG_HOME."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import dagster as dg

from embaug_core.common.team import LEASE_LOST_SECONDS, normalise_environment
from embaug_pipeline.run.abandoned import IN_PROGRESS, release_abandoned_runs
from embaug_pipeline.run.runner import GraphFailure, run_assets

logger = logging.getLogger(__name__)


#: The least partitions worth a second local process (`workers=0`, automatic): starting one
#: costs about 5 s of imports, and half of a 10% partition's 3 s runs on one core.
AUTO_MIN_PARTITIONS = 20


def auto_workers(requested: int, partitions: int) -> int:
    """`requested` workers, or for 0 (automatic) two local processes on a machine of 2 cores or
    more when the grid repays their start, else one. The demo's 65 partitions trained in 163 s
    instead of 238 on 2 cores (issue 26); 6 partitions did not pay (benchmarks/workers.py)."""
    if requested > 0:
        return requested
    return 2 if partitions >= AUTO_MIN_PARTITIONS and (os.cpu_count() or 1) >= 2 else 1


#: Names the worker task a run belongs to, so a run left STARTED by a killed worker is found.
TASK_TAG = "embaug/task"
#: A partition whose worker died is run once more, elsewhere.
RETRIES = 1


@dataclass(frozen=True)
class PartitionRun:
    """One in-process Dagster run: what to materialise, its config, partition and tags."""

    selection: tuple[str, ...]
    config: dict
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    label: str = ""

    def as_task(self) -> PartitionRun:
        """The same run under a new task name (a first attempt or a retry)."""
        return replace(self, tags={**self.tags, TASK_TAG: uuid.uuid4().hex})


def run_partition(run: PartitionRun, instance_ref) -> str:
    """Execute one run where this function is called (a worker); returns its run id. Dask
    runs a task again when its worker died: the run of that first attempt is released."""
    normalise_environment()  # the instance reads EMBAUG_DATABASE_URL by name
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        _fail_orphans(instance, run)
        result = run_assets(list(run.selection), instance, run.config, run.partition_key, run.tags)
    return result.run_id


def _limit_threads(threads: int) -> None:
    """Each of N workers on C cores gets C / N threads, so they do not oversubscribe."""
    import torch

    torch.set_num_threads(threads)


class Workers:
    """Runs partitions inline (1), in local processes (N), or on a Dask cluster (address)."""

    def __init__(self, count: int = 1, address: str = ""):
        self.count, self.address = max(1, count), address
        self._executor: concurrent.futures.Executor | None = None
        self._client = None

    def __enter__(self) -> Workers:
        if self.address:
            from distributed import Client

            self._client = Client(self.address)
            self._executor = self._client.get_executor()
        elif self.count > 1:
            threads = max(1, (os.cpu_count() or 1) // self.count)
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_threads,
                initargs=(threads,),
            )
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._client is not None:
            self._client.close()

    def run(
        self,
        runs: Iterable[PartitionRun],
        instance: dg.DagsterInstance,
        done: Callable[[PartitionRun], None] = lambda run: None,
    ) -> None:
        """Every run, side by side where there are workers; each finished run is reported to
        `done`. The first failure is raised once every run has ended."""
        runs = list(runs)
        if self._executor is None:
            for run in runs:
                run_assets(list(run.selection), instance, run.config, run.partition_key, run.tags)
                done(run)
            return
        ref = instance.get_ref()
        submit = self._executor.submit
        futures = {
            submit(run_partition, task, ref): (task, 0) for task in map(PartitionRun.as_task, runs)
        }
        failures: list[BaseException] = []
        while futures:
            finished, _ = concurrent.futures.wait(futures, return_when="FIRST_COMPLETED")
            for future in finished:
                task, attempt = futures.pop(future)
                error = future.exception()
                if error is None:
                    done(task)
                elif _worker_died(error) and attempt < RETRIES:
                    _fail_orphans(instance, task)
                    logger.warning("%s: its worker died; running it again", task.label)
                    again = task.as_task()
                    futures[submit(run_partition, again, ref)] = (again, attempt + 1)
                else:
                    _fail_orphans(instance, task)
                    failures.append(error)
                    logger.error("%s failed: %s", task.label, error)
        if failures:
            raise failures[0]


def _worker_died(error: BaseException) -> bool:
    """A Dask worker that vanished mid-run; the cluster still has others to run it on. (A
    local pool whose process died is broken as a whole: that is a failure.)"""
    return type(error).__name__ == "KilledWorker"


def _fail_orphans(instance: dg.DagsterInstance, task: PartitionRun) -> None:
    """Runs of a dead worker stay STARTED forever: mark them failed, free their pool slots,
    end their MLflow runs (the database lets go of a dead process's lease a moment after)."""
    runs = instance.get_runs(
        dg.RunsFilter(tags={TASK_TAG: task.tags[TASK_TAG]}, statuses=IN_PROGRESS)
    )
    if runs:
        release_abandoned_runs(instance, runs, wait=LEASE_LOST_SECONDS)


__all__ = ["GraphFailure", "PartitionRun", "Workers", "auto_workers", "run_partition"]
