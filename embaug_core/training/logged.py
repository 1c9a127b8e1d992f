"""One run of a method, logged to MLflow: the training itself is `experiment.run_method`;
this adds the run's params, per-epoch metrics, figures and model."""

from __future__ import annotations

import mlflow
import pandas as pd

from embaug_core.evaluation.metrics import NONE
from embaug_core.evaluation.run_evaluation import run_figures, run_tables
from embaug_core.tracking import TAG_MODEL_URI
from embaug_core.tracking.pyfunc import log_classifier
from embaug_core.tracking.runs import (
    SplitDataset,
    TrackedRun,
    log_dataset,
    log_evaluation,
    log_history,
    logged_name,
)
from embaug_core.training.experiment import CurveSettings, TrialData, run_method
from embaug_core.training.methods import Method
from embaug_core.training.model import Classifier
from embaug_core.training.train import TrainConfig


def train_tracked(
    experiment_id: str,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, object],
    method: Method,
    data: TrialData,
    config: TrainConfig,
    augmentation: dict[str, float],
    threshold: float,
    dataset: SplitDataset | None = None,
    curve: CurveSettings | None = None,
    base: Classifier | None = None,
) -> TrackedRun:
    """Train and score one method as one MLflow run: params, its split as a dataset,
    per-epoch metrics (`epoch/*`, one step per epoch), final metrics (`holdout/*`,
    `select/*`), evaluation tables and figures, and the model. An open-set method reuses
    `base`, its part's model already trained on the same rows, when given."""
    history: list[dict[str, float]] = []

    def log_epoch(epoch: int, values: dict[str, float]) -> None:
        history.append({"epoch": epoch, **values})  # logged in batches after training

    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        if dataset is not None:
            log_dataset(dataset)
        mlflow.log_params(
            {
                **params,
                "method": method.name,
                "labels": method.labels,
                "n_train": len(data.y_train),
                "n_eval": len(data.y_eval),
                "n_eval_none": int((data.y_eval == NONE).sum()),
                "n_classes": len(data.classes),
                "input_dim": data.x_train.shape[1],
                "scorer": method.scorer or "",
                "base_reused": base is not None,
            }
        )
        curve = curve or CurveSettings()
        result = run_method(method, data, threshold, config, augmentation, log_epoch, curve, base)
        # The model before the metrics: MLflow links a model to the run's metrics by reading
        # back each one's history (0.04 s a partition); the final figures name the model instead.
        model = log_classifier(result.classifier)
        mlflow.set_tag(TAG_MODEL_URI, model.model_uri)
        log_history(run.info.run_id, history)
        final = {logged_name(k): v for k, v in result.metrics.items()}
        mlflow.log_metrics(final, model_id=model.model_id)
        tables = run_tables(
            result.probs, data.y_eval, data.classes, threshold, pd.DataFrame(history)
        )
        weighted_auc = result.metrics["weighted_auc"]
        log_evaluation(tables, run_figures(tables, method.name, threshold, weighted_auc))
    return TrackedRun(run.info.run_id, run.info.experiment_id, result.metrics, model.model_uri)
