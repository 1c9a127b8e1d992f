"""What to label next: products the model puts in the "none" category, most uncertain first.

This is the production use the embedding-augmentation paper argues for: a sigmoid model that
may say "none of the classes I know" points at the products (and often whole new classes)
worth labelling before the next retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from embaug_core.embeddings import ProductVectors
from embaug_core.spreadsheet import write_csv
from embaug_core.store import Store
from embaug_core.tracking import TAG_METHOD, TAG_TRIAL
from embaug_core.tracking.registry import load_registered_classifier, version_by_alias


def labeling_queue(
    product_ids: np.ndarray, probs: np.ndarray, classes: list[str], threshold: float, top: int = 3
) -> pd.DataFrame:
    """Products whose every class probability is at most `threshold`, ordered by uncertainty
    (1 - the highest class probability) from most to least, with their top guesses."""
    confidence = probs.max(axis=1) if probs.size else np.zeros(len(probs))
    rows = np.flatnonzero(confidence <= threshold)
    rows = rows[np.argsort(confidence[rows], kind="stable")]
    best = np.argsort(-probs[rows], axis=1, kind="stable")[:, :top]
    queue = pd.DataFrame(
        {
            "rank": np.arange(1, len(rows) + 1),
            "product_id": product_ids[rows],
            "uncertainty": 1 - confidence[rows],
        }
    )
    names = np.asarray(classes, dtype=object)
    for i in range(min(top, len(classes))):
        queue[f"guess_{i + 1}"] = names[best[:, i]]
        queue[f"p_{i + 1}"] = probs[rows, best[:, i]]
    return queue


@dataclass(frozen=True)
class Queue:
    table: pd.DataFrame
    method: str
    version: int
    scored: int


def build_queue(
    store: Store, vectors: ProductVectors, tracking_uri: str, alias: str, limit: int = 0
) -> Queue:
    """The queue of the registered model under `alias`, over every product it did not train
    on, with titles and the catalogue's category beside (empty when unlabelled)."""
    version = version_by_alias(tracking_uri, alias)
    params = mlflow.MlflowClient(tracking_uri).get_run(version.run_id).data.params
    classifier = load_registered_classifier(tracking_uri, alias)
    split = store.split(version.tags[TAG_TRIAL])
    trained = set(split.loc[split["role"] == "train", "product_id"])
    rows = np.flatnonzero([p not in trained for p in vectors.product_ids])
    queue = labeling_queue(
        vectors.product_ids[rows],
        classifier.predict_proba(vectors.vectors[rows]),
        classifier.classes,
        float(params["threshold"]),
    )
    queue = queue.head(limit) if limit else queue
    products = store.products().set_index("product_id")[["title", "category"]]
    queue = queue.join(products.rename(columns={"category": "catalogue_category"}), on="product_id")
    store.replace_tables({"labeling_queue": queue})
    return Queue(queue, version.tags[TAG_METHOD], int(version.version), len(rows))


def write_queue_csv(queue: pd.DataFrame, path: Path) -> Path:
    """The queue as a CSV a person fills in: a `category` column to write the label into."""
    return write_csv(queue.assign(category=""), path)
