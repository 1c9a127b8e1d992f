"""People's labels: every imported file's labels and its record."""

from __future__ import annotations

import pandas as pd

from embaug_core.store.base import StoreBase, _insert
from embaug_core.store.schema import HUMAN_LABEL_COLUMNS, IMPORT_COLUMNS


class PeopleTables(StoreBase):
    def add_human_labels(self, labels: pd.DataFrame, record: dict[str, object]) -> bool:
        """Store one imported file's labels and its record, in one transaction; a file already
        imported (same hash) changes nothing. Returns whether it was new."""
        with self.connect() as connection:
            seen = connection.execute(
                "SELECT count(*) FROM label_imports WHERE file_sha256 = ?", [record["file_sha256"]]
            ).fetchall()[0][0]
            if seen:
                return False
            _insert(connection, "human_labels", labels[HUMAN_LABEL_COLUMNS])
            _insert(connection, "label_imports", pd.DataFrame([record])[IMPORT_COLUMNS])
            return True

    def human_labels(self) -> pd.DataFrame:
        """Every label people gave, oldest first (a later label of a product overrides)."""
        return self.query("SELECT * FROM human_labels ORDER BY imported_at, line")

    def label_imports(self) -> pd.DataFrame:
        return self.query("SELECT * FROM label_imports ORDER BY imported_at")
