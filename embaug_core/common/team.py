"""Team mode: one setting, EMBAUG_DATABASE_URL, puts Dagster's instance and MLflow's tracking
store in one Postgres database (MLflow in a schema of its own: the two would otherwise share
the table names `runs`, `jobs` and `alembic_version`). Everything else stays on the shared
folder EMBAUG_HOME. Without the setting, nothing changes: SQLite files under EMBAUG_HOME.
The database also holds the leases that tell, across machines, which runs are still executing.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

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


def _connect(url: str, **options):
    import psycopg2

    dsn = url.replace(DRIVER, "postgresql://", 1)
    connection = psycopg2.connect(dsn, **options)
    connection.autocommit = True
    return connection


def shown_database() -> str:
    """The team database as a person knows it: its URL without driver or password."""
    parts = urlsplit(setting(DATABASE))
    host = parts.hostname or ""
    where = f"{parts.username}@{host}" if parts.username else host
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{where}{port}{parts.path}"


def database_unreachable(timeout: int = 10) -> str:
    """Why the team database cannot be reached now, in one line ("" when it can, or in
    single-machine mode)."""
    import psycopg2

    if not database_url():
        return ""
    try:
        _connect(database_url(), connect_timeout=timeout).close()
    except psycopg2.OperationalError as error:
        # 'connection to server at "host", port 5432 failed: Connection refused\n\tIs ...'
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return first.rsplit(" failed: ", 1)[-1] or type(error).__name__
    return ""


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


#: The database probes a lease holder's connection after 20 s idle, every 5 s, 4 times: a
#: machine that stops answering loses its leases in LEASE_LOST_SECONDS.
KEEPALIVE = {"tcp_keepalives_idle": 20, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 4}
LEASE_LOST_SECONDS = 20 + 5 * 4


def _lease_key(token: str) -> int:
    """The advisory lock's key: 64 bits of the token's hash, as Postgres's signed bigint."""
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "big", signed=True)


@contextmanager
def lease(token: str) -> Iterator[None]:
    """Hold the lease `token` in the team database while the block runs: a session advisory
    lock on a connection of its own, which the database lets go of when this process exits,
    is killed, or its machine stops answering. So a run whose lease is free is executed
    nowhere, on any machine."""
    connection = _connect(database_url())
    try:
        with connection.cursor() as cursor:
            for name, value in KEEPALIVE.items():
                cursor.execute(f"SET {name} = {int(value)}")
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lease_key(token)])
        yield
    finally:
        connection.close()  # the session ends, and its lock with it


def lease_free(token: str, wait: float = 0) -> bool:
    """True when nobody holds the lease `token`, waiting up to `wait` seconds for its holder
    to let go (a holder that has just died: the database notices a moment later)."""
    from psycopg2.errors import LockNotAvailable

    connection = _connect(database_url())
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {max(1, round(wait * 1000))}")
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", [_lease_key(token)])
            except LockNotAvailable:
                return False
            return True
    finally:
        connection.close()
