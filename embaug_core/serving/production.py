"""The production model: the method the report recommends, trained once more on every
labelled product (the catalogue's and people's), with the recommended threshold. The trial
models are the evidence; this one is what categorises new products (docs/METHODS.md section 7)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.labels.sets import LabelSettings, build_label_sets
from embaug_core.training.experiment import fit_method, trial_data
from embaug_core.training.methods import Method
from embaug_core.training.mixup import MixupSettings
from embaug_core.training.model import Classifier
from embaug_core.training.train import TrainConfig


@dataclass(frozen=True)
class ProductionData:
    """Every labelled product as training rows, the extra labels the method grew, and a
    fingerprint of exactly what the model will be trained on."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    n_labelled: int
    n_extra: int


def production_data(
    vectors: ProductVectors, labels: pd.Series, method: Method, label_settings: LabelSettings
) -> ProductionData:
    """All labelled products train (no hold-out); a label method grows its sets over the
    unlabelled products first."""
    labelled = labels.dropna()
    split = pd.DataFrame(
        {
            "product_id": vectors.product_ids,
            "category": labels.reindex(vectors.product_ids).to_numpy(),
            "role": np.where(np.isin(vectors.product_ids, labelled.index), "train", "pool"),
            "known": True,
        }
    )
    extra = None
    source = method.labels
    if source != "seeds":
        sets = build_label_sets(vectors, split, label_settings).table
        extra = sets[sets["source"] == source]
    data = trial_data(vectors, split[split["role"] == "train"], extra)
    n_extra = 0 if extra is None else len(extra)
    return ProductionData(data.x_train, data.y_train, data.classes, len(labelled), n_extra)


def train_production(
    data: ProductionData, method: Method, config: TrainConfig, mixup: MixupSettings
) -> Classifier:
    return fit_method(method, data.x, data.y, data.classes, config, asdict(mixup))


def labels_sha256(labels: pd.Series) -> str:
    """A hash of every product's training label (people's included)."""
    ordered = labels.dropna().sort_index()
    text = "\n".join(f"{p}\t{c}" for p, c in ordered.items())
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
