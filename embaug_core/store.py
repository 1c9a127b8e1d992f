"""The DuckDB store: products, images, the embedding cache, trial splits and results.

DuckDB allows one writing process per file, so every write is a short transaction on a
connection opened for it, and readers open the file read-only. A process that finds the file
locked by another waits for it (DuckDB has no busy timeout of its own, unlike SQLite), up to
`lock_timeout` seconds, then fails naming the holder. Vectors are written in bulk through Arrow
and read back as float32 numpy.
"""

from __future__ import annotations

import json
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

logger = logging.getLogger(__name__)

#: Version 2 stores unlabelled products, the catalogue's description and lineage keys.
SCHEMA_VERSION = 2
#: From an older version: products may lose a class; derived tables are rebuilt from scratch.
MIGRATION = """
ALTER TABLE products ALTER COLUMN category DROP NOT NULL;
ALTER TABLE products ALTER COLUMN image_sha256 DROP NOT NULL;
DROP TABLE IF EXISTS splits;
DROP TABLE IF EXISTS label_sets;
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, description VARCHAR NOT NULL,
    category VARCHAR, image_sha256 VARCHAR, source VARCHAR);
CREATE TABLE IF NOT EXISTS catalogue (
    sha256 VARCHAR, source_sha256 VARCHAR, path VARCHAR, layout VARCHAR, features VARCHAR[],
    label_column VARCHAR, products BIGINT, labelled BIGINT, rejected BIGINT,
    loaded_at TIMESTAMPTZ, settings VARCHAR);
CREATE TABLE IF NOT EXISTS rejected_products (
    source VARCHAR, line BIGINT, product_id VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS images (image_sha256 VARCHAR PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    encoder VARCHAR NOT NULL, content_sha256 VARCHAR NOT NULL, vector FLOAT[] NOT NULL,
    PRIMARY KEY (encoder, content_sha256));
CREATE TABLE IF NOT EXISTS splits (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, category VARCHAR NOT NULL,
    role VARCHAR NOT NULL, known BOOLEAN NOT NULL, catalogue_sha256 VARCHAR,
    PRIMARY KEY (trial, product_id));
CREATE TABLE IF NOT EXISTS label_sets (
    trial VARCHAR NOT NULL, product_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
    source VARCHAR NOT NULL, step INTEGER NOT NULL, lineage VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS human_labels (
    product_id VARCHAR NOT NULL, category VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL,
    line BIGINT, imported_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS label_imports (
    file_sha256 VARCHAR PRIMARY KEY, file_name VARCHAR, imported_at TIMESTAMPTZ,
    labels BIGINT, left_empty BIGINT, rejected BIGINT, conflicts BIGINT,
    model_version VARCHAR, model_accuracy DOUBLE, scored BIGINT);
CREATE TABLE IF NOT EXISTS predictions (
    product_id VARCHAR PRIMARY KEY, content_sha256 VARCHAR, category VARCHAR,
    probability DOUBLE, none BOOLEAN, top_1 VARCHAR, p_1 DOUBLE, top_2 VARCHAR, p_2 DOUBLE,
    top_3 VARCHAR, p_3 DOUBLE, model_name VARCHAR, model_version VARCHAR,
    scored_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS asset_settings (
    asset VARCHAR NOT NULL, partition VARCHAR NOT NULL, settings VARCHAR NOT NULL,
    PRIMARY KEY (asset, partition));
CREATE TABLE IF NOT EXISTS results (
    trial VARCHAR, method VARCHAR, metric VARCHAR, value DOUBLE, run_id VARCHAR);
"""
CATALOGUE_COLUMNS = [
    "sha256",
    "source_sha256",
    "path",
    "layout",
    "features",
    "label_column",
    "products",
    "labelled",
    "rejected",
    "loaded_at",
    "settings",
]
HUMAN_LABEL_COLUMNS = ["product_id", "category", "file_sha256", "line", "imported_at"]
IMPORT_COLUMNS = [
    "file_sha256",
    "file_name",
    "imported_at",
    "labels",
    "left_empty",
    "rejected",
    "conflicts",
    "model_version",
    "model_accuracy",
    "scored",
]
REPORT_TABLES = (
    "results",
    "paired_differences",
    "per_class_results",
    "label_quality",
    "labeling_queue",
    "recommendation",
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
            _migrate(connection)
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

    def add_images(self, images: dict[str, bytes]) -> int:
        """Store image files not stored yet (content-addressed, so harmless before a load
        commits: unreferenced ones go at the next `replace_products`). Returns how many."""
        rows = pa.table(
            {"image_sha256": list(images), "data": pa.array(list(images.values()), pa.binary())}
        )
        with self.connect() as connection:
            before = _count(connection, "images")
            _insert(connection, "images", rows, "ON CONFLICT DO NOTHING")
            return _count(connection, "images") - before

    def replace_products(
        self, products: pd.DataFrame, rejected: pd.DataFrame, catalogue: dict[str, object]
    ) -> int:
        """Make `products` the catalogue, in one transaction, with its description
        (`catalogue`: the columns of the table of that name); images no product refers to any
        more are removed. Returns how many were removed."""
        with self.connect() as connection:
            connection.execute("DELETE FROM products")
            _insert(connection, "products", products[list(PRODUCT_COLUMNS)])
            connection.execute("DELETE FROM rejected_products")
            _insert(connection, "rejected_products", rejected[list(REJECTED_COLUMNS)])
            connection.execute("DELETE FROM catalogue")
            _insert(connection, "catalogue", pd.DataFrame([catalogue])[CATALOGUE_COLUMNS])
            before = _count(connection, "images")
            connection.execute(
                "DELETE FROM images WHERE image_sha256 NOT IN "
                "(SELECT image_sha256 FROM products WHERE image_sha256 IS NOT NULL)"
            )
            return before - _count(connection, "images")

    def products(self) -> pd.DataFrame:
        """The current catalogue, ordered by product id (category None: unlabelled)."""
        products = self.query(
            "SELECT product_id, title, description, category, image_sha256 FROM products "
            "ORDER BY product_id"
        )
        return products.astype(object).where(products.notna(), None)

    def catalogue(self) -> dict[str, object]:
        """What was loaded last: fingerprints, path, layout, features, label column, counts."""
        rows = self.query("SELECT * FROM catalogue")
        if rows.empty:
            raise LookupError(f"{self.path}: no catalogue loaded; materialise raw_products first")
        row = rows.iloc[0].to_dict()
        row["features"] = tuple(row["features"])
        return row

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

    def replace_split(self, trial: str, split: pd.DataFrame, catalogue_sha256: str) -> None:
        """Store a trial's split, made on the catalogue of that fingerprint."""
        rows = split.assign(trial=trial, catalogue_sha256=catalogue_sha256)[
            ["trial", "product_id", "category", "role", "known", "catalogue_sha256"]
        ]
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

    def split_catalogues(self) -> dict[str, str]:
        """Each stored trial and the fingerprint of the catalogue its split was made on."""
        rows = self.query("SELECT DISTINCT trial, catalogue_sha256 FROM splits ORDER BY trial")
        return dict(zip(rows["trial"], rows["catalogue_sha256"].fillna(""), strict=True))

    def replace_label_sets(self, trial: str, table: pd.DataFrame, lineage: str) -> None:
        """Store a trial's label sets, built on the split and vectors of that lineage key."""
        rows = table.assign(trial=trial, lineage=lineage)[
            ["trial", "product_id", "label", "source", "step", "lineage"]
        ]
        with self.connect() as connection:
            connection.execute("DELETE FROM label_sets WHERE trial = ?", [trial])
            _insert(connection, "label_sets", rows)

    def label_sets(self, trial: str | None = None) -> pd.DataFrame:
        """Stored label sets (of one trial, or all), with the fingerprints they were built on."""
        where, parameters = ("WHERE trial = ?", [trial]) if trial else ("", [])
        return self.query(
            f"SELECT * FROM label_sets {where} ORDER BY trial, product_id", parameters
        )

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


def _migrate(connection: duckdb.DuckDBPyConnection) -> None:
    """Bring a store written by an older embaug to SCHEMA_VERSION (idempotent)."""
    connection.execute("CREATE TABLE IF NOT EXISTS embaug_schema (version INTEGER)")
    found = connection.execute("SELECT max(version) FROM embaug_schema").fetchall()[0][0]
    if found is not None and found >= SCHEMA_VERSION:
        return
    has_products = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'products'"
    ).fetchall()[0][0]
    if has_products:
        logger.info("store %s: upgrading to schema %d", connection, SCHEMA_VERSION)
        connection.execute(MIGRATION)
    connection.execute("DELETE FROM embaug_schema")
    connection.execute("INSERT INTO embaug_schema VALUES (?)", [SCHEMA_VERSION])


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
