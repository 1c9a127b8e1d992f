"""The code location, in Dagster's `dg` layout: every asset, resource, job, schedule and sensor
lives under `defs/`, one folder per asset group, and is found there. Nothing heavy is imported
or loaded here."""

from functools import cache
from pathlib import Path

import dagster as dg

#: The project folder: its pyproject.toml names the defs module ([tool.dg.project]).
PROJECT = Path(__file__).resolve().parents[1]


@cache
def load() -> dg.Definitions:
    """The definitions under `defs/`, loaded once per process."""
    return dg.load_from_defs_folder(path_within_project=PROJECT)


@dg.definitions
def defs() -> dg.Definitions:
    return load()


def materialize(selection: list[str], **options) -> dg.ExecuteInProcessResult:
    """One in-process run of `selection` among every asset, with every resource (`options`:
    those of `dagster.materialize`): as the job whose assets are exactly the selection, so
    that the run list names it, else as Dagster's ad-hoc job."""
    loaded = load()
    job = named_job(selection)
    if job:
        return loaded.resolve_job_def(job).execute_in_process(**options)
    return dg.materialize(
        list(loaded.assets), selection=selection, resources=loaded.resources, **options
    )


@cache
def _jobs_by_assets() -> dict[frozenset[dg.AssetKey], str]:
    loaded = load()
    graph = loaded.resolve_asset_graph()
    return {
        frozenset(job.selection.resolve(graph)): job.name
        for job in loaded.jobs or ()
        if hasattr(job, "selection")  # asset jobs, defined by a selection
    }


def named_job(selection: list[str]) -> str | None:
    """The job that materialises exactly these assets, or None."""
    return _jobs_by_assets().get(frozenset(dg.AssetKey(name) for name in selection))
