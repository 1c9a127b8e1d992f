"""Every environment variable the core reads, in one place: the settings of a deployment, not
of a run (a run's settings are its configuration). Each is read when asked for, never when a
module is imported."""

from __future__ import annotations

import os
from pathlib import Path

HOME = "EMBAUG_HOME"
DATA = "EMBAUG_DATA"
LABELS_INBOX = "EMBAUG_LABELS_INBOX"
AUC_FLOOR = "EMBAUG_AUC_FLOOR"
#: Team mode: the Postgres database of Dagster and MLflow, and the Dask scheduler's address.
DATABASE = "EMBAUG_DATABASE_URL"
DASK = "EMBAUG_DASK_SCHEDULER"
#: After people's labels are imported and the production model retrained on them: the trials'
#: evidence follows at once ("follow"), or waits for the weekly schedule ("schedule").
EVIDENCE_AFTER_LABELS = "EMBAUG_EVIDENCE_AFTER_LABELS"
EVIDENCE_CHOICES = ("follow", "schedule")
#: The Dagster daemon's schedule and sensors start on ("on") or wait for a person ("off").
AUTOMATION = "EMBAUG_AUTOMATION"


def setting(name: str, default: str = "") -> str:
    """An environment variable's value, stripped ("" or `default` when unset)."""
    return os.environ.get(name, "").strip() or default


def number(name: str, default: float) -> float:
    """A numeric setting; a value that is not a number is an error naming the variable."""
    value = setting(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def cache_root() -> Path:
    """Where derived files of installed models are cached ($XDG_CACHE_HOME, or ~/.cache)."""
    return Path(setting("XDG_CACHE_HOME") or Path.home() / ".cache")


def evidence_after_labels() -> str:
    """`follow` (the default) or `schedule`; anything else is an error naming the variable."""
    value = setting(EVIDENCE_AFTER_LABELS, EVIDENCE_CHOICES[0])
    if value not in EVIDENCE_CHOICES:
        raise ValueError(
            f"{EVIDENCE_AFTER_LABELS} must be one of {EVIDENCE_CHOICES}, got {value!r}"
        )
    return value
