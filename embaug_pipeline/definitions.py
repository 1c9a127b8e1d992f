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
    those of `dagster.materialize`)."""
    loaded = load()
    return dg.materialize(
        list(loaded.assets), selection=selection, resources=loaded.resources, **options
    )
