"""Categorising products with the production model: which products need scoring (new ones,
changed ones, or all of them when a new model version arrives), their predictions, and the
exports a person opens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from embaug_core.common.spreadsheet import write_csv
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.serving.product import decide
from embaug_core.store import Store

PREDICTION_COLUMNS = [
    "product_id",
    "content_sha256",
    "category",
    "probability",
    "none",
    "top_1",
    "p_1",
    "top_2",
    "p_2",
    "top_3",
    "p_3",
    "model_name",
    "model_version",
    "scored_at",
]


def content_hashes(products: pd.DataFrame, features: tuple[str, ...]) -> pd.Series:
    """Per product, a hash of what the model reads of it (the features in use)."""
    columns = {"title": "title", "description": "description", "image": "image_sha256"}
    cells = products[[columns[f] for f in features]].astype(object).fillna("").astype(str)
    joined = cells.agg("\x1f".join, axis=1) if len(cells) else pd.Series(dtype=str)
    return pd.Series(
        [hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() for text in joined],
        index=products["product_id"].to_numpy(),
    )


def to_score(
    products: pd.DataFrame,
    features: tuple[str, ...],
    wanted: pd.Index,
    previous: pd.DataFrame,
    model_version: str,
) -> pd.Series:
    """The content hashes of the `wanted` products that this model version has not scored in
    their current content."""
    hashes = content_hashes(products, features).loc[wanted]
    done = previous[previous["model_version"].astype(str) == str(model_version)]
    seen = set(zip(done["product_id"], done["content_sha256"], strict=True))
    keep = [(p, h) not in seen for p, h in hashes.items()]
    return hashes[keep]


def predict_products(
    vectors: ProductVectors,
    hashes: pd.Series,
    classifier,
    threshold: float,
    model_name: str,
    model_version: str,
) -> pd.DataFrame:
    """The production classifier's predictions for the products in `hashes`."""
    rows = vectors.rows(hashes.index)
    probs = classifier.predict_proba(vectors.vectors[rows]) if len(rows) else np.zeros((0, 0))
    decided = decide(probs, classifier.classes, threshold) if len(rows) else pd.DataFrame()
    table = decided.assign(
        product_id=hashes.index.to_numpy(),
        content_sha256=hashes.to_numpy(),
        model_name=model_name,
        model_version=str(model_version),
        scored_at=datetime.now(UTC),
    )
    return table.reindex(columns=PREDICTION_COLUMNS)


def export_predictions(store: Store, folder: Path) -> dict[str, Path]:
    """The current predictions as Parquet (for programs) and a spreadsheet-safe CSV (for
    people), titles beside them."""
    table = store.query(
        "SELECT p.*, d.title FROM predictions p JOIN products d USING (product_id) "
        "ORDER BY p.none DESC, p.probability"
    )
    folder.mkdir(parents=True, exist_ok=True)
    parquet = folder / "predictions.parquet"
    table.to_parquet(parquet, index=False)
    return {"parquet": parquet, "csv": write_csv(table, folder / "predictions.csv")}
