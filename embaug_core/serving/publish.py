"""Publishing the production model: train the recommended method on every labelled product,
log it as an MLflow run with the product-level model, register it under `production`. A model
whose inputs are unchanged (same vectors, labels, method, threshold, settings and code) is not
trained again: its run is found by fingerprint and kept."""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from embaug_core.common.reuse import fingerprint as made_from
from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.labels.lineage import Lineage
from embaug_core.labels.sets import LabelSettings
from embaug_core.serving.product import EncoderSpec, InputLimits, ProductClassifier
from embaug_core.serving.production import labels_sha256, production_data, train_production
from embaug_core.store import Store
from embaug_core.tracking import (
    PRODUCTION_RUN,
    TAG_INPUTS,
    TAG_LINEAGE,
    TAG_METHOD,
    TAG_SOURCE,
)
from embaug_core.tracking.registry import register_production
from embaug_core.tracking.reuse import find_run
from embaug_core.tracking.runs import SplitDataset, log_production_run
from embaug_core.training.methods import get_method
from embaug_core.training.mixup import MixupSettings
from embaug_core.training.train import TrainConfig


@dataclass(frozen=True)
class Published:
    version: int
    run_id: str
    reused: bool
    method: str
    threshold: float
    labelled: int
    by_people: int
    inputs_sha256: str


def publish_production(
    store: Store,
    vectors: ProductVectors,
    lineage: Lineage,
    recommendation: Recommendation,
    labels: pd.Series,
    people: list[str],
    label_settings: LabelSettings,
    spec: EncoderSpec,
    limits: InputLimits,
    tracking_uri: str,
    experiment_id: str,
    expected: dict[str, object] | None = None,
) -> Published:
    """Train (or reuse), log and register the production model; its run logs the labels it
    trained on as its dataset and `expected` (the report's figures at its threshold) as the
    metrics to expect of it."""
    train = recommendation.settings(TrainConfig)
    mixup = recommendation.settings(MixupSettings)
    method, threshold = recommendation.method, recommendation.threshold
    fingerprint = made_from(
        (__name__,),
        vectors=lineage.vectors_sha256,
        labels=labels_sha256(labels),
        method=method,
        threshold=threshold,
        train=asdict(train),
        mixup=asdict(mixup),
        label_settings=asdict(label_settings),
        encoders=asdict(spec),
        limits=asdict(limits),
    )
    found = find_run(tracking_uri, experiment_id, fingerprint)
    reused = found is not None
    if found:
        run_id, model_uri = found.run_id, found.model_uri
    else:
        chosen = get_method(method)
        data = production_data(vectors, labels, chosen, label_settings)
        product = ProductClassifier(
            train_production(data, chosen, train, mixup), spec, threshold, limits
        )
        tags = {
            TAG_SOURCE: PRODUCTION_RUN,
            TAG_METHOD: method,
            TAG_INPUTS: fingerprint,
            TAG_LINEAGE: lineage.vectors_sha256,
        }
        params = {
            "method": method,
            "threshold": threshold,
            "labelled_products": data.n_labelled,
            "labelled_by_people": len(people),
            "grown_labels": data.n_extra,
            "classes": len(data.classes),
            "labels_sha256": labels_sha256(labels),
            "rule": recommendation.rule[:500],
            **asdict(train),
            **asdict(mixup),
        }
        run_id, model_uri = log_production_run(
            experiment_id,
            f"production__{method}",
            tags,
            params,
            product,
            _example(store),
            _labels_dataset(store, labels, people),
            expected_metrics(expected or {}),
        )
    description = (
        f"{method} trained on every labelled product ({int(labels.notna().sum())}, "
        f"{len(people)} of them labelled by people) with threshold {threshold:.3f}, chosen "
        f"because {recommendation.rule}."
    )
    version = register_production(
        tracking_uri, run_id, model_uri, {TAG_METHOD: method}, description
    )
    return Published(
        version,
        run_id,
        reused,
        method,
        threshold,
        int(labels.notna().sum()),
        len(people),
        fingerprint,
    )


def expected_metrics(expected: dict[str, object]) -> dict[str, float]:
    """The report's figures at the served threshold, as the run's `expected/*` metrics."""
    names = ("overall_acc", "none_acc", "overall_acc_min", "none_acc_min", "trials")
    values = {f"expected/{n}": float(expected[n]) for n in names if n in expected}
    return {k: v for k, v in values.items() if not math.isnan(v)}


def _labels_dataset(store: Store, labels: pd.Series, people: list[str]) -> SplitDataset:
    """Every training label, and who gave it, as the run's dataset."""
    labelled = labels.dropna()
    frame = pd.DataFrame(
        {
            "product_id": labelled.index,
            "category": labelled.to_numpy(),
            "role": np.where(labelled.index.isin(people), "train (people)", "train (catalogue)"),
        }
    )
    source = str(store.catalogue()["path"])
    return SplitDataset(frame, "every label", source, labels_sha256(labels))


def _example(store: Store) -> pd.DataFrame:
    """One real product as the model's input example (image as base64 text)."""
    product = store.products().iloc[0]
    example = {"product_id": product["product_id"], "title": product["title"]}
    example["description"] = product["description"]
    if product["image_sha256"]:
        data = store.image_bytes([product["image_sha256"]])[product["image_sha256"]]
        example["image"] = base64.b64encode(data).decode()
    return pd.DataFrame([example])
