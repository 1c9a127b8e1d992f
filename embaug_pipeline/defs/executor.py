"""Where a run's steps execute. With a Dask cluster (EMBAUG_DASK_SCHEDULER) every run Dagster
launches already has a worker to itself (`embaug_pipeline/run/launcher.py`): its steps execute
in that run's process, which dies with its worker, so no step outlives it. On one machine,
Dagster's default: a process per step."""

import dagster as dg

from embaug_core.common.environment import DASK, setting


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor if setting(DASK) else None)
