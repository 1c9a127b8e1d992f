"""Where a run writes: one folder, made absolute once.

`dagster dev`, run workers and pytest start in different directories, so every path is
resolved against EMBAUG_HOME (default `.embaug` in the working directory) at one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from embaug_core.common.environment import HOME, LABELS_INBOX, setting
from embaug_core.common.team import database_url, mlflow_uri

DEFAULT_HOME = ".embaug"


@dataclass(frozen=True)
class Home:
    """The folder layout under EMBAUG_HOME."""

    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(setting(HOME, DEFAULT_HOME)).expanduser().resolve())

    @property
    def duckdb_path(self) -> Path:
        return self.root / "embaug.duckdb"

    @property
    def mlflow_uri(self) -> str:
        """SQLite under EMBAUG_HOME, or the team database's MLflow schema (team mode)."""
        url = database_url()
        return mlflow_uri(url) if url else f"sqlite:///{self.mlflow_database}"

    @property
    def mlflow_database(self) -> Path:
        """MLflow's SQLite store (single-machine mode)."""
        return self.root / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def vectors(self) -> Path:
        """Memory-mapped product matrices, named by the vectors' fingerprint."""
        return self.root / "vectors"

    @property
    def shards(self) -> Path:
        """Embedding shards written by workers, waiting to be merged into DuckDB."""
        return self.root / "shards"

    @property
    def labels_inbox(self) -> Path:
        """Where people drop label files (EMBAUG_LABELS_INBOX to move it)."""
        return Path(setting(LABELS_INBOX) or self.root / "labels_inbox").resolve()

    def create(self) -> Home:
        folders = (self.root, self.mlflow_artifacts, self.dagster_home, self.reports)
        for folder in (*folders, self.labels_inbox):
            folder.mkdir(parents=True, exist_ok=True)
        return self
