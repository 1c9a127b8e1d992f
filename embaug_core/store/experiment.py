"""Trial splits, label sets, and the settings each partition was made with (for the report)."""

from __future__ import annotations

import json

import pandas as pd

from embaug_core.store.base import StoreBase, _insert


class ExperimentTables(StoreBase):
    # -- splits -----------------------------------------------------------------------------

    def replace_split(self, trial: str, split: pd.DataFrame, catalogue_sha256: str) -> None:
        """Store a trial's split, made on the catalogue of that fingerprint."""
        columns = ["trial", "product_id", "category", "role", "known", "catalogue_sha256"]
        self._replace_trial(
            "splits", trial, split.assign(catalogue_sha256=catalogue_sha256), columns
        )

    def split(self, trial: str) -> pd.DataFrame:
        split = self.query(
            "SELECT product_id, category, role, known FROM splits WHERE trial = ? "
            "ORDER BY product_id",
            [trial],
        )
        if split.empty:
            raise LookupError(f"no split stored for {trial}; materialise trial_splits first")
        return split

    def split_catalogues(self) -> dict[str, str]:
        """Each stored trial and the fingerprint of the catalogue its split was made on."""
        rows = self.query("SELECT DISTINCT trial, catalogue_sha256 FROM splits ORDER BY trial")
        return dict(zip(rows["trial"], rows["catalogue_sha256"].fillna(""), strict=True))

    # -- label sets -------------------------------------------------------------------------

    def replace_label_sets(self, trial: str, table: pd.DataFrame, lineage: str) -> None:
        """Store a trial's label sets, built on the split and vectors of that lineage key."""
        columns = ["trial", "product_id", "label", "source", "step", "lineage"]
        self._replace_trial("label_sets", trial, table.assign(lineage=lineage), columns)

    def _replace_trial(self, name: str, trial: str, rows: pd.DataFrame, columns: list[str]) -> None:
        """Replace one trial's rows of a table in one transaction."""
        with self.connect() as connection:
            connection.execute(f"DELETE FROM {name} WHERE trial = ?", [trial])
            _insert(connection, name, rows.assign(trial=trial)[columns])

    def label_sets(self, trial: str | None = None) -> pd.DataFrame:
        """Stored label sets (of one trial, or all), with the fingerprints they were built on."""
        where, parameters = ("WHERE trial = ?", [trial]) if trial else ("", [])
        return self.query(
            f"SELECT * FROM label_sets {where} ORDER BY trial, product_id", parameters
        )

    # -- settings ---------------------------------------------------------------------------

    def record_settings(self, asset: str, partition: str, settings: dict[str, object]) -> None:
        """Keep the settings an asset (partition) was last made with, for the report."""
        with self.connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO asset_settings VALUES (?, ?, ?)",
                [asset, partition, json.dumps(settings, sort_keys=True, default=str)],
            )

    def asset_settings(self, asset: str) -> dict[str, dict[str, object]]:
        """Partition -> the settings `asset` was last made with there."""
        rows = self.query("SELECT * FROM asset_settings WHERE asset = ?", [asset])
        return {r.partition: json.loads(r.settings) for r in rows.itertuples()}
