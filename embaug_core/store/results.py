"""The report's tables: results, paired differences, per-class results, label quality, the
labeling queue and the recommendation, each replaced whole."""

from __future__ import annotations

import pandas as pd

from embaug_core.store.base import StoreBase
from embaug_core.store.schema import REPORT_TABLES


class ResultTables(StoreBase):
    def recommendation(self) -> dict[str, object]:
        """What the last report recommends serving (the `recommendation` table's row)."""
        found = (
            self.query("SELECT * FROM recommendation") if self.has_table("recommendation") else None
        )
        if found is None or found.empty:
            raise LookupError("no recommendation yet: materialise evaluation_report first")
        return found.iloc[0].to_dict()

    def expected_figures(self) -> dict[str, object]:
        """What the recommended model should do at its served threshold ({} before a report
        made them: `evaluation/expected.py`)."""
        found = (
            self.query("SELECT * FROM expected_figures")
            if self.has_table("expected_figures")
            else None
        )
        return {} if found is None or found.empty else found.iloc[0].to_dict()

    def replace_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Replace reporting tables (REPORT_TABLES) whole, in one transaction."""
        with self.connect() as connection:
            for name, table in tables.items():
                if name not in REPORT_TABLES:
                    raise ValueError(f"unknown report table {name!r}; expected {REPORT_TABLES}")
                connection.register("frame", table)
                connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
                connection.unregister("frame")
