"""One (trial, method) experiment: the trial's arrays, a fitted model, and its figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embaug_core.augment import get_augmenter
from embaug_core.embeddings import ProductVectors
from embaug_core.methods import Method
from embaug_core.metrics import DEFAULT_THRESHOLD, NONE, epoch_metrics, evaluate
from embaug_core.model import Classifier
from embaug_core.train import TrainConfig, fit_logreg, train_classifier

EpochLogger = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrialData:
    """Training rows with class indices, and the hold-out H with class index or NONE."""

    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    eval_ids: np.ndarray


def trial_data(
    vectors: ProductVectors, split: pd.DataFrame, extra_labels: pd.DataFrame | None = None
) -> TrialData:
    """Cut the product matrix along a stored split; classes are those seen in training.

    `extra_labels` (product_id, label) adds pool products with given, possibly wrong, labels
    to the training rows: the output of label augmentation or propagation.
    """
    train = split.loc[split["role"] == "train", ["product_id", "category"]]
    if extra_labels is not None and len(extra_labels):
        extra = extra_labels.rename(columns={"label": "category"})[["product_id", "category"]]
        train = pd.concat([train, extra], ignore_index=True)
    holdout = split[split["role"] == "holdout"]
    classes = sorted(split.loc[split["role"] == "train", "category"].unique())
    index = {name: i for i, name in enumerate(classes)}
    if not train["category"].isin(index).all():
        raise ValueError("extra labels name classes that have no training products")
    return TrialData(
        classes=classes,
        x_train=vectors.vectors[vectors.rows(train["product_id"])],
        y_train=train["category"].map(index).to_numpy(),
        x_eval=vectors.vectors[vectors.rows(holdout["product_id"])],
        y_eval=holdout["category"].map(index).fillna(NONE).astype(int).to_numpy(),
        eval_ids=holdout["product_id"].to_numpy(),
    )


@dataclass(frozen=True)
class MethodResult:
    """A fitted model, its probabilities on H (rows as `TrialData.eval_ids`), its figures."""

    classifier: Classifier
    probs: np.ndarray
    metrics: dict[str, float]


def run_method(
    method: Method,
    data: TrialData,
    config: TrainConfig | None = None,
    augmentation: dict[str, float] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    on_epoch: EpochLogger | None = None,
) -> MethodResult:
    """Fit `method` on the trial's training rows and score it on H.

    `on_epoch(epoch, metrics)` receives the training loss, learning rate and H's overall,
    none and top-1 accuracy after every epoch.
    """
    config = config or TrainConfig()
    if method.trainer == "logreg":
        classifier = fit_logreg(data.x_train, data.y_train, data.classes, config)
    else:
        standardized_eval: list[np.ndarray] = []  # the standardiser is fitted in training

        def log_epoch(epoch: int, loss: float, lr: float, model: Classifier) -> None:
            if on_epoch:
                if not standardized_eval:
                    standardized_eval.append(model.standardizer(data.x_eval))
                probs = model.predict_standardized(standardized_eval[0])
                figures = epoch_metrics(probs, data.y_eval, threshold)
                on_epoch(epoch, {"train_loss": loss, "lr": lr, **figures})

        augmenter = get_augmenter(method.augmentation, **(augmentation or {}))
        classifier = train_classifier(
            data.x_train, data.y_train, data.classes, augmenter, config, log_epoch
        )
    probs = classifier.predict_proba(data.x_eval)
    return MethodResult(classifier, probs, evaluate(probs, data.y_eval, threshold))
