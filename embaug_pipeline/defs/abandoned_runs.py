"""Runs nobody executes any more (their worker died, their machine went away, they lost the
team database): the daemon looks for them and marks them failed, frees their DuckDB pool
slots and ends their MLflow runs (`embaug_pipeline/run/abandoned.py`). In team mode Dagster's
run retry then launches such a run once more."""

import dagster as dg

from embaug_pipeline.defs.automation import SENSOR_SECONDS
from embaug_pipeline.run.abandoned import release_abandoned_runs


@dg.sensor(
    name="abandoned_runs",
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Mark failed the runs whose process is gone, and end their MLflow runs.",
)
def abandoned_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    released = release_abandoned_runs(context.instance)
    return dg.SkipReason(f"marked failed: {', '.join(released)}" if released else "none")
