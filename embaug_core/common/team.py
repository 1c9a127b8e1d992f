"""Team mode: one setting, EMBAUG_DATABASE_URL, puts Dagster's instance and MLflow's tracking
store in one Postgres database (MLflow in a schema of its own: the two would otherwise share
the table names `runs`, `jobs` and `alembic_version`). Everything else stays on the shared
folder EMBAUG_HOME. Without the setting, nothing changes: SQLite files under EMBAUG_HOME.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from embaug_core.common.environment import DATABASE, setting

MLFLOW_SCHEMA = "mlflow"
#: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; Dagster's storage needs psycopg2.
DRIVER = "postgresql+psycopg2://"


def database_url() -> str:
    """The team database (with the psycopg2 driver named), or "" in single-machine mode."""
    url = setting(DATABASE)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = DRIVER + url.removeprefix(prefix)
    return url


def normalise_environment() -> None:
    """Write the driver into EMBAUG_DATABASE_URL itself: Dagster's instance reads it by name."""
    if database_url():
        os.environ[DATABASE] = database_url()


def mlflow_uri(url: str) -> str:
    """MLflow's tracking URI in the team database: its own schema, through search_path."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={MLFLOW_SCHEMA}')}"


def _connect(url: str):
    import psycopg2

    dsn = url.replace(DRIVER, "postgresql://", 1)
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    return connection


def ensure_mlflow_schema(url: str) -> None:
    """MLflow creates its tables on first use but not the schema they go in."""
    with _connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {MLFLOW_SCHEMA}")


@contextmanager
def first_use_lock(lock_file: Path, timeout: float = 300) -> Iterator[None]:
    """Serialise the first use of MLflow (creating its tables and the experiment) across
    processes: a file lock on one machine, a Postgres advisory lock across machines."""
    url = database_url()
    if not url:
        from filelock import FileLock

        with FileLock(lock_file, timeout=timeout):
            yield
        return
    key = zlib.crc32(b"embaug-mlflow-first-use")
    connection = _connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        connection.close()
