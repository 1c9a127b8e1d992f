"""The product matrix: each product's cached vectors, concatenated in one order."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embaug_core.catalog import FEATURES
from embaug_core.store import Store


def text_sha256(text: str) -> str:
    """The cache key of a text (titles and descriptions share it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ProductVectors:
    """The product matrix: concat(title, description, image) per product, float32."""

    product_ids: np.ndarray
    #: The catalogue's class of each product, None where it is unlabelled.
    categories: np.ndarray
    vectors: np.ndarray

    def rows(self, product_ids: Sequence[str]) -> np.ndarray:
        """Row positions of the given products in this matrix."""
        position = pd.Series(np.arange(len(self.product_ids)), index=self.product_ids)
        return position.loc[list(product_ids)].to_numpy()


def product_vectors(store: Store, encoders: Mapping[str, str]) -> ProductVectors:
    """Assemble the product matrix from cached vectors: concat(title, description, image),
    each feature that `encoders` (feature -> encoder identity) names, in that order. A missing
    vector is a KeyError."""
    products = store.products()
    parts = []
    for feature in FEATURES:
        if feature not in encoders:
            continue
        if feature == "image":
            hashes = products["image_sha256"].tolist()
        else:
            hashes = [text_sha256(text) for text in products[feature]]
        parts.append(store.embeddings(encoders[feature], hashes))
    if not parts:
        raise ValueError(f"no features to embed: choose among {', '.join(FEATURES)}")
    return ProductVectors(
        product_ids=products["product_id"].to_numpy(),
        categories=products["category"].to_numpy(),
        vectors=np.concatenate(parts, axis=1),
    )
