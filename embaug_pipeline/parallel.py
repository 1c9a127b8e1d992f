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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dagster as dg

from embaug_pipeline.runner import GraphFailure, run_assets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionRun:
    """One in-process Dagster run: what to materialise, its config, partition and tags."""

    selection: tuple[str, ...]
    config: dict
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    label: str = ""


def run_partition(run: PartitionRun, instance_ref) -> str:
    """Execute one run where this function is called (a worker); returns its run id."""
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
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
        futures = {self._executor.submit(run_partition, run, ref): run for run in runs}
        failures: list[BaseException] = []
        for future in concurrent.futures.as_completed(futures):
            error = future.exception()
            if error is not None:
                failures.append(error)
                logger.error("%s failed: %s", futures[future].label, error)
            else:
                done(futures[future])
        if failures:
            raise failures[0]


__all__ = ["GraphFailure", "PartitionRun", "Workers", "run_partition"]
