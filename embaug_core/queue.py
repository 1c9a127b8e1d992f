"""What to label next: products the model puts in the "none" category, most uncertain first.

This is the production use the embedding-augmentation paper argues for: a sigmoid model that
may say "none of the classes I know" points at the products (and often whole new classes)
worth labelling before the next retraining.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
