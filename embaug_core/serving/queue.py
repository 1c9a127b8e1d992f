"""What to label next: products the production model puts in the "none" category, most
uncertain first.

This is the production use the embedding-augmentation paper argues for: a sigmoid model that
may say "none of the classes I know" points at the products (and often whole new classes)
worth labelling before the next retraining. The queue's CSV has an empty `category` column: a
person fills it in and `embaug labels import` brings it back.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from embaug_core.common.spreadsheet import write_csv
from embaug_core.store import Store

QUEUE_COLUMNS = [
    "rank",
    "product_id",
    "title",
    "uncertainty",
    "guess_1",
    "p_1",
    "guess_2",
    "p_2",
    "guess_3",
    "p_3",
    "model_version",
]


def queue_table(predictions: pd.DataFrame, titles: pd.Series, limit: int = 0) -> pd.DataFrame:
    """The "none" predictions, most uncertain (lowest top probability) first."""
    none = predictions[predictions["none"].astype(bool)]
    none = none.sort_values(["probability", "product_id"], kind="stable")
    queue = none.rename(columns={"top_1": "guess_1", "top_2": "guess_2", "top_3": "guess_3"})
    queue = queue.assign(
        rank=range(1, len(queue) + 1),
        uncertainty=1 - queue["probability"],
        title=queue["product_id"].map(titles),
    ).reindex(columns=QUEUE_COLUMNS)
    return queue.head(limit) if limit else queue.reset_index(drop=True)


def queue_from_predictions(store: Store, limit: int = 0) -> pd.DataFrame:
    """The queue from the stored predictions, kept in the store as `labeling_queue`."""
    titles = store.products().set_index("product_id")["title"]
    queue = queue_table(store.predictions(), titles, limit)
    store.replace_tables({"labeling_queue": queue})
    return queue


def write_queue_csv(queue: pd.DataFrame, path: Path) -> Path:
    """The queue as a CSV a person fills in: a `category` column to write the label into."""
    return write_csv(queue.assign(category=""), path)
