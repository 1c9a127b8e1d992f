"""People's labels, predictions, and the report's tables (results, recommendation)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from embaug_core.store.base import StoreBase, _insert
from embaug_core.store.schema import HUMAN_LABEL_COLUMNS, IMPORT_COLUMNS, REPORT_TABLES


class ServingTables(StoreBase):
    # -- people's labels --------------------------------------------------------------------

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

    # -- predictions ------------------------------------------------------------------------

    def upsert_predictions(self, table: pd.DataFrame, keep: Sequence[str]) -> None:
        """Store new predictions (replacing a product's older one) and drop the predictions
        of products outside `keep` (no longer in the catalogue, or now labelled)."""
        with self.connect() as connection:
            connection.register("wanted", pa.table({"product_id": list(keep)}))
            connection.execute(
                "DELETE FROM predictions WHERE product_id NOT IN (SELECT product_id FROM wanted)"
            )
            if len(table):
                connection.register("incoming", table)
                connection.execute("INSERT OR REPLACE INTO predictions SELECT * FROM incoming")
                connection.unregister("incoming")

    def predictions(self) -> pd.DataFrame:
        return self.query("SELECT * FROM predictions ORDER BY product_id")

    def recommendation(self) -> dict[str, object]:
        """What the last report recommends serving (the `recommendation` table's row)."""
        found = self.query("SELECT * FROM recommendation") if self._has("recommendation") else None
        if found is None or found.empty:
            raise LookupError("no recommendation yet: materialise evaluation_report first")
        return found.iloc[0].to_dict()

    def _has(self, table: str) -> bool:
        rows = self.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = ?", [table])
        return bool(rows["n"].iloc[0])

    # -- results ----------------------------------------------------------------------------

    def replace_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Replace reporting tables (REPORT_TABLES) whole, in one transaction."""
        with self.connect() as connection:
            for name, table in tables.items():
                if name not in REPORT_TABLES:
                    raise ValueError(f"unknown report table {name!r}; expected {REPORT_TABLES}")
                connection.register("frame", table)
                connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
                connection.unregister("frame")
