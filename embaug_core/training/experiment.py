"""One (trial, method) experiment: the trial's arrays, a fitted model, and its figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.evaluation.metrics import (
    NONE,
    threshold_sweep,
    tradeoff_auc,
    tune_threshold,
)
from embaug_core.evaluation.scores import at_threshold, epoch_metrics, evaluate
from embaug_core.training.methods import Method, get_method
from embaug_core.training.mixup import get_augmenter
from embaug_core.training.model import Classifier, HybridClassifier
from embaug_core.training.open_set import OpenSetClassifier, fit_open_set
from embaug_core.training.train import EpochCallback, TrainConfig, fit_logreg, train_classifier

EpochLogger = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrialData:
    """Training rows with class indices; the selection part S of H and the rest of H (where
    every figure is computed), with class index or NONE."""

    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    eval_ids: np.ndarray
    x_select: np.ndarray
    y_select: np.ndarray


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
    select = split[split["role"] == "select"]
    classes = sorted(split.loc[split["role"] == "train", "category"].unique())
    index = {name: i for i, name in enumerate(classes)}
    if not train["category"].isin(index).all():
        raise ValueError("extra labels name classes that have no training products")

    def labels(part: pd.DataFrame) -> np.ndarray:
        return part["category"].map(index).fillna(NONE).astype(int).to_numpy()

    return TrialData(
        classes=classes,
        x_train=vectors.vectors[vectors.rows(train["product_id"])],
        y_train=train["category"].map(index).to_numpy(),
        x_eval=vectors.vectors[vectors.rows(holdout["product_id"])],
        y_eval=labels(holdout),
        eval_ids=holdout["product_id"].to_numpy(),
        x_select=vectors.vectors[vectors.rows(select["product_id"])],
        y_select=labels(select),
    )


@dataclass(frozen=True)
class MethodResult:
    """A fitted model, its probabilities on H (rows as `TrialData.eval_ids`), its figures."""

    classifier: Classifier | HybridClassifier | OpenSetClassifier
    probs: np.ndarray
    metrics: dict[str, float]


@dataclass(frozen=True)
class CurveSettings:
    """How the per-epoch curve (the paper's Fig. 5) is scored. It only draws that figure: every
    reported figure is computed on all of H after training. A seeded sample of H, every few
    epochs, costs a fraction of scoring all of H every epoch (benchmarks/curve.py measures
    how far the figure moves)."""

    curve_sample: int = field(
        default=2000, metadata={"doc": "Products of H scored per epoch (0: all of H)"}
    )
    # Every 4: the same values at the epochs it scores, for a quarter of the work (scoring H
    # is as much arithmetic per epoch as training on a 10% sample; benchmarks/notes.md).
    curve_every: int = field(
        default=4, metadata={"doc": "Score the curve every N epochs (and at the last)"}
    )

    def scores(self, epoch: int, epochs: int) -> bool:
        """Whether the curve is scored after `epoch` of `epochs`: every `curve_every`, and at
        the last."""
        return epoch % self.curve_every == 0 or epoch == epochs

    def rows(self, n: int, seed: int = 0) -> np.ndarray:
        """The fixed sample of H's rows the curve is scored on."""
        if not self.curve_sample or self.curve_sample >= n:
            return np.arange(n)
        return np.sort(np.random.default_rng(seed).choice(n, self.curve_sample, replace=False))


def run_method(
    method: Method,
    data: TrialData,
    threshold: float,
    config: TrainConfig | None = None,
    augmentation: dict[str, float] | None = None,
    on_epoch: EpochLogger | None = None,
    curve: CurveSettings = CurveSettings(),
    base: Classifier | None = None,
) -> MethodResult:
    """Fit `method` on the trial's training rows and score it on H (an open-set method next
    to `base`, its part's model fitted on the same rows, when given).

    `on_epoch(epoch, metrics)` receives the training loss, learning rate and, every
    `curve.curve_every` epochs, the overall, none and top-1 accuracy on a sample of H.
    """
    rows = curve.rows(len(data.y_eval))
    epochs = method.epochs or (config or TrainConfig()).epochs  # a method's own count first
    standardized_eval: list[np.ndarray] = []  # the standardiser is fitted in training

    def log_epoch(epoch: int, loss: float, lr: float, model: Classifier) -> None:
        if not on_epoch:
            return
        values = {"train_loss": loss, "lr": lr}
        if curve.scores(epoch, epochs):
            if not standardized_eval:
                standardized_eval.append(model.standardizer(data.x_eval[rows]))
            probs = model.predict_standardized(standardized_eval[0])
            values.update(epoch_metrics(probs, data.y_eval[rows], threshold))
        on_epoch(epoch, values)

    classifier = fit_method(
        method,
        data.x_train,
        data.y_train,
        data.classes,
        config,
        augmentation,
        log_epoch,
        (data.x_select, data.y_select),
        base,
    )
    probs = classifier.predict_proba(data.x_eval)
    metrics = evaluate(probs, data.y_eval, threshold)
    metrics.update(
        tuned_metrics(
            classifier.predict_proba(data.x_select), data.y_select, probs, data.y_eval, threshold
        )
    )
    return MethodResult(classifier, probs, metrics)


def fit_method(
    method: Method,
    x: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    config: TrainConfig | None = None,
    augmentation: dict[str, float] | None = None,
    on_epoch: EpochCallback | None = None,
    select: tuple[np.ndarray, np.ndarray] | None = None,
    base: Classifier | None = None,
) -> Classifier | HybridClassifier | OpenSetClassifier:
    """Fit the method's model on rows `x` with class indices `labels` (its head and epochs
    override the config's; a hybrid fits both of its parts). An open-set method fits its
    scorer next to `base`, its part already fitted on the same rows (fitted here when None),
    choosing what the scorer tunes on S (`select`: vectors and labels; None: made inside the
    training rows)."""
    config = replace(
        config or TrainConfig(),
        head=method.head or (config or TrainConfig()).head,
        epochs=method.epochs or (config or TrainConfig()).epochs,
    )
    if method.trainer == "logreg":
        return fit_logreg(x, labels, classes, config)
    if method.trainer == "hybrid":
        first, second = (get_method(name) for name in method.parts)
        return HybridClassifier(
            fit_method(first, x, labels, classes, config, augmentation),
            fit_method(second, x, labels, classes, config, augmentation, on_epoch),
        )
    if method.trainer == "open_set":
        part = get_method(method.parts[0])
        classifier = base or fit_method(part, x, labels, classes, config, augmentation, on_epoch)
        return fit_open_set(classifier, method.scorer, x, labels, *(select or (None, None)))
    augmenter = get_augmenter(method.augmentation, **(augmentation or {}))
    return train_classifier(x, labels, classes, augmenter, config, on_epoch, method.output)


def tuned_metrics(
    select_probs: np.ndarray,
    select_labels: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    default: float,
) -> dict[str, float]:
    """The threshold chosen on S and the threshold-dependent figures it gives on the rest of
    H (`*_tuned`), and S's own trade-off area (what parameter searches choose by)."""
    threshold = (
        tune_threshold(select_probs, select_labels, default) if len(select_labels) else default
    )
    tuned = at_threshold(probs, labels, threshold)
    names = ("overall_acc", "none_acc", "macro_f1_known", "hm_macro_pr")
    select_area = (
        tradeoff_auc(threshold_sweep(select_probs, select_labels))
        if len(select_labels)
        else float("nan")
    )
    return {
        "threshold_tuned": threshold,
        **{f"{name}_tuned": tuned[name] for name in names},
        "select_tradeoff_auc": select_area,
    }
