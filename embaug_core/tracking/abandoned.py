"""MLflow runs left RUNNING by a process that was killed (its worker died, it lost the team
database): MLflow cannot tell, so whoever sees the Dagster run that made one end marks it
KILLED."""

from __future__ import annotations

import logging
from collections.abc import Callable

import mlflow

logger = logging.getLogger(__name__)

#: The Dagster run that made an MLflow run (set by the training assets).
TAG_DAGSTER_RUN = "dagster.run_id"


def end_runs_of_ended_owners(
    tracking_uri: str, experiment: str, owner_ended: Callable[[str], bool]
) -> list[str]:
    """Mark KILLED every RUNNING run of `experiment` whose Dagster run has ended (as
    `owner_ended` tells from its id); returns their ids."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    running = client.search_runs(
        [found.experiment_id], "attributes.status = 'RUNNING'", max_results=10_000
    )
    ended = [
        run.info.run_id
        for run in running
        if run.data.tags.get(TAG_DAGSTER_RUN) and owner_ended(run.data.tags[TAG_DAGSTER_RUN])
    ]
    for run_id in ended:
        client.set_terminated(run_id, "KILLED")
        logger.warning("MLflow run %s: its Dagster run ended before it did; marked KILLED", run_id)
    return ended
