"""The catalogue's tables: products, their images, rejected rows and what was loaded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from embaug_core.catalog import PRODUCT_COLUMNS, REJECTED_COLUMNS
from embaug_core.store.base import StoreBase, _count, _insert
from embaug_core.store.schema import CATALOGUE_COLUMNS

#: Where a catalogue being loaded waits, chunk by chunk, until it replaces the current one.
STAGING = "products_staging"


class ProductTables(StoreBase):
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

    def stage_products(self, products: pd.DataFrame, first: bool = False) -> None:
        """Add a chunk of a catalogue being loaded to the staging table (cleared by the
        `first` chunk); `replace_products(None, ...)` then makes it the catalogue."""
        with self.connect() as connection:
            connection.execute(f"CREATE TABLE IF NOT EXISTS {STAGING} AS FROM products LIMIT 0")
            if first:
                connection.execute(f"DELETE FROM {STAGING}")
            _insert(connection, STAGING, products[list(PRODUCT_COLUMNS)])

    def staged_sha256(self, features: Sequence[str]) -> str:
        """The fingerprint of the staged catalogue: the products' content (ids, texts,
        classes, image hashes; order does not matter) and the features used."""
        row_text = (
            "concat_ws(chr(31), product_id, title, description, coalesce(category, chr(0)), "
            "coalesce(image_sha256, chr(0)))"
        )
        found = self.query(
            f"SELECT sha256(? || string_agg(sha256({row_text}), '' ORDER BY product_id)) AS sha "
            f"FROM {STAGING}",
            [",".join(features)],
        )
        return str(found["sha"].iloc[0])

    def replace_products(
        self,
        products: pd.DataFrame | None,
        rejected: pd.DataFrame,
        catalogue: dict[str, object],
    ) -> int:
        """Make `products` (None: the staged ones) the catalogue, in one transaction, with its
        description (`catalogue`: the columns of the table of that name); images no product
        refers to any more are removed. Returns how many were removed."""
        with self.connect() as connection:
            connection.execute("DELETE FROM products")
            if products is None:
                connection.execute(f"INSERT INTO products SELECT * FROM {STAGING}")
                connection.execute(f"DROP TABLE {STAGING}")
            else:
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

    def product_categories(self) -> np.ndarray:
        """Each product's class in `products()` order (None: unlabelled), without the texts."""
        rows = self.query("SELECT category FROM products ORDER BY product_id")
        return rows["category"].astype(object).where(rows["category"].notna(), None).to_numpy()

    def catalogue(self) -> dict[str, object]:
        """What was loaded last: fingerprints, path, layout, features, label column, counts."""
        rows = self.query("SELECT * FROM catalogue")
        if rows.empty:
            raise LookupError(f"{self.path}: no catalogue loaded; materialise raw_products first")
        row = rows.iloc[0].to_dict()
        row["features"] = tuple(row["features"])
        return row

    def image_hashes(self) -> list[str]:
        """Every distinct image of the catalogue (without reading the product table whole)."""
        rows = self.query(
            "SELECT DISTINCT image_sha256 FROM products WHERE image_sha256 IS NOT NULL "
            "ORDER BY image_sha256"
        )
        return rows["image_sha256"].tolist()

    def texts(self, features: Sequence[str]) -> pd.DataFrame:
        """Every distinct title and description in use, with its SHA-256 (the cache key)."""
        columns = [name for name in ("title", "description") if name in features]
        if not columns:
            return pd.DataFrame({"content_sha256": [], "text": []})
        union = " UNION ".join(f"SELECT {name} AS text FROM products" for name in columns)
        return self.query(f"SELECT sha256(text) AS content_sha256, text FROM ({union})")

    def categories(self) -> list[str]:
        """The distinct classes of the catalogue."""
        rows = self.query("SELECT DISTINCT category FROM products WHERE category IS NOT NULL")
        return rows["category"].tolist()

    def image_bytes(self, hashes: Sequence[str]) -> dict[str, bytes]:
        with self.connect(read_only=True) as connection:
            connection.register("wanted", pa.table({"image_sha256": list(hashes)}))
            rows = connection.execute(
                "SELECT i.image_sha256, i.data FROM images i JOIN wanted USING (image_sha256)"
            ).fetchall()
        return dict(rows)
