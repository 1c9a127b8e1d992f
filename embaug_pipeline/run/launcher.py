"""The run launcher of team mode: every run Dagster launches itself (a backfill or a run from
the UI, the schedule, the sensors, the automation) goes to a worker of the Dask cluster as one
task named after the run, so runs in flight never share a task key (as they do under
dagster-dask's executor), and executes there as Dagster's own run worker, which takes its
DuckDB pool slot from the instance as on one machine (`embaug_pipeline/run/launched_run.py`).
`prepare_home` names it in dagster.yaml when EMBAUG_DASK_SCHEDULER is set.

It subclasses `dagster.DefaultRunLauncher`, the launcher Dagster exports, for the plumbing a
class named in dagster.yaml needs (its config, the instance it serves)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import dagster as dg

from embaug_pipeline.run.launched_run import execute_launched_run


class DaskRunLauncher(dg.DefaultRunLauncher):
    """Sends each launched run to the Dask scheduler at `scheduler` (tcp://host:port)."""

    def __init__(self, inst_data=None, scheduler: str = ""):
        super().__init__(inst_data)
        self.scheduler = scheduler
        self._client = None
        self._connecting = threading.Lock()

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {"scheduler": dg.Field(dg.StringSource, description="tcp://host:port")}

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> DaskRunLauncher:
        return cls(inst_data, **config_value)

    def _dask(self):
        """A client of the cluster, made on first use and again if it was closed."""
        from distributed import Client

        with self._connecting:
            if self._client is None or self._client.status != "running":
                self._client = Client(self.scheduler, timeout=60, set_as_default=False)
            return self._client

    def launch_run(self, context) -> None:
        from distributed import fire_and_forget

        run = context.dagster_run
        key = f"embaug-run-{run.run_id}"
        future = self._dask().submit(
            execute_launched_run, run.run_id, self._instance.get_ref(), self.scheduler, key=key
        )
        fire_and_forget(future)  # the task runs to its end whatever happens to this process
        self._instance.report_engine_event(
            f"Sent to the Dask cluster at {self.scheduler} as task {key}", run
        )

    def terminate(self, run_id: str) -> bool:
        """Ask for the run to stop: its worker stops the run's process on seeing it."""
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        return True

    def dispose(self) -> None:
        if self._client is not None:
            self._client.close()
