"""A home that moved keeps its MLflow artifacts: MLflow stores absolute artifact locations
(experiments, runs, logged models, model versions), so after `EMBAUG_HOME` is moved or
copied every one would point at the old folder. On opening a home, locations under another
home's `mlartifacts` are rewritten to this one's, in one transaction of the SQLite store
(team mode keeps one shared path by design: its Postgres store is left alone)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)
#: Every column of MLflow's SQLite store that holds an artifact location.
LOCATIONS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
)


def old_roots(connection: sqlite3.Connection, root: str) -> list[str]:
    """Artifact roots of experiments made under another home (`.../mlartifacts`)."""
    found = connection.execute("SELECT artifact_location FROM experiments").fetchall()
    suffix = "/" + root.rsplit("/", 1)[-1]
    return sorted({loc for (loc,) in found if loc and loc.endswith(suffix) and loc != root})


def relocate_artifacts(database: Path, artifacts: Path) -> int:
    """Point every location under an old artifact root at `artifacts`; returns the rows
    changed (0 when the home did not move, or no store exists yet)."""
    if not database.is_file():
        return 0
    root = artifacts.as_uri()
    changed = 0
    with sqlite3.connect(database, timeout=60) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "experiments" not in tables:
            return 0
        for old in old_roots(connection, root):
            for table, column in LOCATIONS:
                if table not in tables:
                    continue
                changed += connection.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                    f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                    (root, len(old) + 1, old, len(old) + 1, old + "/"),
                ).rowcount
            logger.warning(
                "the home moved: MLflow artifact locations %s now point at %s", old, root
            )
    return changed
