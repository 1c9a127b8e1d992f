"""The DuckDB store: products, images, the embedding cache, trial splits and results.

DuckDB allows one writing process per file, so every write is a short transaction on a
connection opened for it, and readers open the file read-only. A process that finds the file
locked by another waits for it (DuckDB has no busy timeout of its own, unlike SQLite), up to
`lock_timeout` seconds, then fails naming the holder. Vectors are written in bulk through Arrow
and read back as float32 numpy.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from embaug_core.catalog import PRODUCT_COLUMNS, REJECTED_COLUMNS
from embaug_core.splits import split_fingerprint

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, description VARCHAR NOT NULL,
    category VARCHAR NOT NULL, image_sha256 VARCHAR NOT NULL, source VARCHAR);
CREATE TABLE IF NOT EXISTS rejected_products (
    source VARCHAR, line BIGINT, product_id VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS images (image_sha256 VARCHAR PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    encoder VARCHAR NOT NULL, content_sha256 VARCHAR NOT NULL, vector FLOAT[] NOT NULL,
    PRIMARY KEY (encoder, content_sha256));
CREATE TABLE IF NOT EXISTS splits (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, category VARCHAR NOT NULL,
    role VARCHAR NOT NULL, known BOOLEAN NOT NULL, PRIMARY KEY (trial, product_id));
CREATE TABLE IF NOT EXISTS label_sets (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
    source VARCHAR NOT NULL, step INTEGER NOT NULL, split_sha256 VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    trial VARCHAR, method VARCHAR, metric VARCHAR, value DOUBLE, run_id VARCHAR);
"""
REPORT_TABLES = (
    "results",
    "paired_differences",
    "per_class_results",
    "label_quality",
    "labeling_queue",
)


class StoreBusyError(TimeoutError):
    """Another process held the DuckDB file for longer than the store waits."""


class Store:
    """A DuckDB file holding everything embaug computes that is not a model."""

    def __init__(self, path: str | Path, lock_timeout: float = 600.0):
        self.path = Path(path).expanduser().resolve()
        self.lock_timeout = lock_timeout

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting while another process holds its lock (short transactions)."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as error:
                if "Could not set lock" not in str(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreBusyError(
                        f"{self.path}: still locked by another process after "
                        f"{self.lock_timeout:.0f} s ({error})"
                    ) from error
                if delay == 0.02:
                    logger.info("%s is locked by another process; waiting", self.path.name)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one short unit of work; a writer's work is one transaction."""
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no store yet; materialise raw_products first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._open(read_only)
        try:
            if read_only:
                yield connection
                return
            connection.execute(SCHEMA)
            connection.begin()
            try:
                yield connection
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        finally:
            connection.close()

    def query(self, sql: str, parameters: Sequence | None = None) -> pd.DataFrame:
        """Run a read-only query and return a DataFrame."""
        with self.connect(read_only=True) as connection:
            return connection.execute(sql, parameters or []).df()

    # -- products ---------------------------------------------------------------------------

    def replace_products(
        self, products: pd.DataFrame, rejected: pd.DataFrame, images: dict[str, bytes]
    ) -> int:
        """Make `products` the catalogue; store the images not stored yet. Returns new images."""
        new_images = pa.table(
            {"image_sha256": list(images), "data": pa.array(list(images.values()), pa.binary())}
        )
        with self.connect() as connection:
            before = _count(connection, "images")
            _insert(connection, "images", new_images, "ON CONFLICT DO NOTHING")
            connection.execute("DELETE FROM products")
            _insert(connection, "products", products[list(PRODUCT_COLUMNS)])
            connection.execute("DELETE FROM rejected_products")
            _insert(connection, "rejected_products", rejected[list(REJECTED_COLUMNS)])
            return _count(connection, "images") - before

    def products(self) -> pd.DataFrame:
        """The current catalogue, ordered by product id."""
        return self.query(
            "SELECT product_id, title, description, category, image_sha256 FROM products "
            "ORDER BY product_id"
        )

    def image_bytes(self, hashes: Sequence[str]) -> dict[str, bytes]:
        with self.connect(read_only=True) as connection:
            connection.register("wanted", pa.table({"image_sha256": list(hashes)}))
            rows = connection.execute(
                "SELECT i.image_sha256, i.data FROM images i JOIN wanted USING (image_sha256)"
            ).fetchall()
        return dict(rows)

    # -- embedding cache --------------------------------------------------------------------

    def missing_embeddings(self, encoder: str, hashes: Sequence[str]) -> list[str]:
        """The content hashes (in the given order, without repeats) not cached for `encoder`."""
        unique = list(dict.fromkeys(hashes))
        with self.connect(read_only=True) as connection:
            connection.register("wanted", pa.table({"content_sha256": unique}))
            cached = connection.execute(
                "SELECT content_sha256 FROM embeddings WHERE encoder = ? "
                "AND content_sha256 IN (SELECT content_sha256 FROM wanted)",
                [encoder],
            ).fetchall()
        done = {row[0] for row in cached}
        return [h for h in unique if h not in done]

    def write_embeddings(self, encoder: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Cache vectors in one bulk insert; a hash already cached keeps its first vector."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hashes) != len(vectors):
            raise ValueError(f"{len(hashes)} hashes for {len(vectors)} vectors")
        flat = pa.array(vectors.reshape(-1))
        offsets = pa.array(np.arange(0, len(flat) + 1, vectors.shape[1], dtype=np.int32))
        batch = pa.table(
            {
                "encoder": pa.array([encoder] * len(hashes), pa.string()),
                "content_sha256": pa.array(list(hashes), pa.string()),
                "vector": pa.ListArray.from_arrays(offsets, flat),
            }
        )
        with self.connect() as connection:
            _insert(connection, "embeddings", batch, "ON CONFLICT DO NOTHING")

    def embeddings(self, encoder: str, hashes: Sequence[str]) -> np.ndarray:
        """Cached vectors for `hashes`, in their order (repeats allowed), as float32."""
        wanted = pa.table({"position": np.arange(len(hashes)), "content_sha256": list(hashes)})
        with self.connect(read_only=True) as connection:
            connection.register("wanted", wanted)
            table = connection.sql(
                "SELECT w.position, e.vector FROM wanted w LEFT JOIN embeddings e "
                "ON e.content_sha256 = w.content_sha256 AND e.encoder = $encoder "
                "ORDER BY w.position",
                params={"encoder": encoder},
            ).to_arrow_table()
        column = table.column("vector").combine_chunks()
        if column.null_count:
            missing = [hashes[i] for i in np.flatnonzero(column.is_null().to_numpy(False))[:3]]
            raise KeyError(f"{column.null_count} vectors not cached for {encoder}: {missing}...")
        if not len(hashes):
            return np.zeros((0, 0), dtype=np.float32)
        return column.flatten().to_numpy().astype(np.float32).reshape(len(hashes), -1)

    def embedding_health(self, encoder: str, hashes: Sequence[str], dim: int) -> dict[str, int]:
        """How many of `hashes` have no vector, a vector of another width, or a non-finite value."""
        wanted = pa.table({"content_sha256": list(dict.fromkeys(hashes))})
        with self.connect(read_only=True) as connection:
            connection.register("wanted", wanted)
            missing, wrong_width, non_finite = connection.execute(
                "SELECT count(*) FILTER (WHERE e.vector IS NULL), "
                "count(*) FILTER (WHERE len(e.vector) <> ?), "
                "count(*) FILTER "
                "(WHERE list_bool_or(list_transform(e.vector, lambda x: NOT isfinite(x)))) "
                "FROM wanted w LEFT JOIN embeddings e "
                "ON e.content_sha256 = w.content_sha256 AND e.encoder = ?",
                [dim, encoder],
            ).fetchall()[0]
        return {
            "checked": len(wanted),
            "missing": missing,
            "wrong_width": wrong_width,
            "non_finite": non_finite,
        }

    # -- splits -----------------------------------------------------------------------------

    def replace_split(self, trial: str, split: pd.DataFrame) -> None:
        rows = split.assign(trial=trial)[["trial", "product_id", "category", "role", "known"]]
        with self.connect() as connection:
            connection.execute("DELETE FROM splits WHERE trial = ?", [trial])
            _insert(connection, "splits", rows)

    def split(self, trial: str) -> pd.DataFrame:
        split = self.query(
            "SELECT product_id, category, role, known FROM splits WHERE trial = ? "
            "ORDER BY product_id",
            [trial],
        )
        if split.empty:
            raise LookupError(f"no split stored for {trial}; materialise trial_splits first")
        return split

    # -- label sets -------------------------------------------------------------------------

    def replace_label_sets(self, trial: str, table: pd.DataFrame, split_sha256: str) -> None:
        rows = table.assign(trial=trial, split_sha256=split_sha256)[
            ["trial", "product_id", "label", "source", "step", "split_sha256"]
        ]
        with self.connect() as connection:
            connection.execute("DELETE FROM label_sets WHERE trial = ?", [trial])
            _insert(connection, "label_sets", rows)

    def label_set(self, trial: str, source: str, split_sha256: str) -> pd.DataFrame:
        """The (product_id, label) rows of one source of a trial, built on the given split."""
        labels = self.query(
            "SELECT product_id, label, split_sha256 FROM label_sets "
            "WHERE trial = ? AND source = ? ORDER BY product_id",
            [trial, source],
        )
        if labels.empty or (labels["split_sha256"] != split_sha256).any():
            raise LookupError(
                f"no {source} labels for the current split of {trial}; materialise label_sets"
            )
        return labels[["product_id", "label"]]

    def label_tables(self) -> pd.DataFrame:
        """Every trial's label sets that were built on the trial's current split."""
        current = pd.DataFrame(
            list(self.split_fingerprints().items()), columns=["trial", "split_sha256"]
        )
        labels = self.query("SELECT * FROM label_sets")
        return labels.merge(current, on=["trial", "split_sha256"]).drop(columns="split_sha256")

    def split_fingerprints(self) -> dict[str, str]:
        """The fingerprint of every stored trial's split, to match runs to current splits."""
        trials = self.query("SELECT DISTINCT trial FROM splits ORDER BY trial")["trial"]
        return {trial: split_fingerprint(self.split(trial)) for trial in trials}

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


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _insert(
    connection: duckdb.DuckDBPyConnection, table: str, rows: pa.Table | pd.DataFrame, tail: str = ""
) -> None:
    """Bulk insert of a whole Arrow table or DataFrame (columns in the table's order)."""
    connection.register("incoming", rows)
    try:
        connection.execute(f"INSERT INTO {table} SELECT * FROM incoming {tail}").fetchall()
    finally:
        connection.unregister("incoming")
