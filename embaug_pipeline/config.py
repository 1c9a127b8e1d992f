"""Dagster config classes derived from the core's settings dataclasses, so that every field,
default and description is defined once, in `embaug_core`.

A dataclass field's `metadata["doc"]` becomes the config field's description; tuples become
lists (Dagster config has no tuples) and back.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import dagster as dg
import pydantic

T = TypeVar("T")


def _field(field: dataclasses.Field, hint: Any) -> tuple[Any, Any]:
    default = field.default
    if default is dataclasses.MISSING:
        default = field.default_factory()  # type: ignore[misc]
    if typing.get_origin(hint) is tuple:
        hint, default = list[typing.get_args(hint)[0]], list(default)
    return hint, pydantic.Field(default=default, description=field.metadata.get("doc"))


def config_class(name: str, *sources: type, doc: str = "", **extra: Any) -> type[dg.Config]:
    """A `dg.Config` with the fields of every dataclass in `sources` (in order), plus `extra`
    fields given as (type, pydantic.Field) pairs."""
    fields: dict[str, Any] = {}
    for source in sources:
        hints = typing.get_type_hints(source)
        for field in dataclasses.fields(source):
            fields[field.name] = _field(field, hints[field.name])
    fields.update(extra)
    model = pydantic.create_model(name, __base__=dg.Config, __doc__=doc or None, **fields)
    model.__module__ = "embaug_pipeline.config"
    return model


def settings_of(config: dg.Config, source: type[T], **overrides: Any) -> T:
    """The `source` dataclass filled from the config's fields of the same names."""
    hints = typing.get_type_hints(source)
    values = {}
    for field in dataclasses.fields(source):
        value = overrides.get(field.name, getattr(config, field.name))
        if typing.get_origin(hints[field.name]) is tuple:
            value = tuple(value)
        values[field.name] = value
    return source(**values)
