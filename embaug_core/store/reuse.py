"""What each stored result was made from (its fingerprint, `common.reuse`): a result whose
fingerprint is unchanged is kept instead of made again."""

from __future__ import annotations

from embaug_core.store.base import StoreBase


class ReuseTables(StoreBase):
    def made_from(self, asset: str, partition: str = "") -> str | None:
        """The fingerprint the stored result of `asset` (partition) was made from, if any."""
        if not self.path.exists():
            return None
        rows = self.query(
            "SELECT fingerprint FROM made_from WHERE asset = ? AND partition = ?",
            [asset, partition],
        )
        return None if rows.empty else str(rows["fingerprint"].iloc[0])

    def record_made_from(self, asset: str, partition: str, fingerprint: str) -> None:
        """Keep the fingerprint the result of `asset` (partition) was just made from."""
        with self.connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO made_from VALUES (?, ?, ?)", [asset, partition, fingerprint]
            )
