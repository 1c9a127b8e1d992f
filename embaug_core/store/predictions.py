"""The production model's predictions, one row per product it scored."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from embaug_core.store.base import StoreBase


class PredictionTables(StoreBase):
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
