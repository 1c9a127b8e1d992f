"""Training one method on one trial as one MLflow run: params, per-epoch metrics, final
metrics, evaluation tables, figures, and the model."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import mlflow
import mlflow.data
import pandas as pd

from embaug_core.experiment import CurveSettings, MethodResult, TrialData, run_method
from embaug_core.figures import epochs_figure, roc_figure, threshold_figure
from embaug_core.methods import Method
from embaug_core.metrics import NONE, per_class_report, threshold_sweep
from embaug_core.roc import weighted_roc_curve
from embaug_core.serving.product import ProductClassifier
from embaug_core.tracking import TAG_MODEL_URI
from embaug_core.tracking.product_model import log_product_model
from embaug_core.tracking.pyfunc import log_classifier
from embaug_core.train import TrainConfig

#: Logged metric names: final figures on the evaluated hold-out and on S, and per epoch, in
#: groups the MLflow compare view shows side by side ("holdout/tradeoff_auc", "epoch/...").
HOLDOUT, SELECT, EPOCH = "holdout/", "select/", "epoch/"


def logged_name(figure: str) -> str:
    """The MLflow metric name of a figure (`select_x` is `select/x`)."""
    if figure.startswith("select_"):
        return SELECT + figure.removeprefix("select_")
    return HOLDOUT + figure


def figure_name(metric: str) -> str | None:
    """The figure a logged final metric holds (None for per-epoch metrics)."""
    if metric.startswith(HOLDOUT):
        return metric.removeprefix(HOLDOUT)
    if metric.startswith(SELECT):
        return "select_" + metric.removeprefix(SELECT)
    return None


@dataclass(frozen=True)
class SplitDataset:
    """A trial's split as an MLflow dataset: who trains and who is held out, named by trial,
    with the split's fingerprint as its digest and the catalogue as its source."""

    split: pd.DataFrame
    name: str
    source: str
    digest: str


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    model_uri: str
    #: Found again by the fingerprint of its inputs instead of trained.
    reused: bool = False


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
) -> TrackedRun:
    """Train and score one method as one MLflow run: params, its split as a dataset,
    per-epoch metrics (`epoch/*`, one step per epoch), final metrics (`holdout/*`,
    `select/*`), evaluation tables and figures, and the model."""
    history: list[dict[str, float]] = []

    def log_epoch(epoch: int, values: dict[str, float]) -> None:
        history.append({"epoch": epoch, **values})
        logged = {EPOCH + name: value for name, value in values.items()}
        mlflow.log_metrics(logged, step=epoch)

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
            }
        )
        curve = curve or CurveSettings()
        result = run_method(method, data, config, augmentation, threshold, log_epoch, curve)
        mlflow.log_metrics({logged_name(k): v for k, v in result.metrics.items()})
        log_evaluation(result, data, pd.DataFrame(history), threshold, method.name)
        model_uri = log_classifier(result.classifier)
        mlflow.set_tag(TAG_MODEL_URI, model_uri)
    return TrackedRun(run.info.run_id, run.info.experiment_id, result.metrics, model_uri)


def log_dataset(dataset: SplitDataset) -> None:
    """Log the split as the run's training input (the runs list then shows what each run
    trained on)."""
    with warnings.catch_warnings():
        # A local path matches MLflow's two local-file source kinds; both mean the same.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        frame = mlflow.data.from_pandas(
            dataset.split[["product_id", "category", "role"]],
            source=dataset.source,
            name=dataset.name,
            digest=dataset.digest[:16],
        )
    mlflow.log_input(frame, context="training")


def log_evaluation(
    result: MethodResult, data: TrialData, history: pd.DataFrame, threshold: float, name: str
) -> None:
    """The run's evaluation tables (`evaluation/*.csv`, read back by the report) and its own
    figures (`figures/*.png`)."""
    sweep = threshold_sweep(result.probs, data.y_eval)
    roc = weighted_roc_curve(result.probs, data.y_eval)
    tables = {
        "sweep": sweep,
        "roc": roc,
        "per_class": per_class_report(result.probs, data.y_eval, data.classes, threshold),
    }
    if not history.empty:  # logistic regression has no epochs
        tables["history"] = history
    for table_name, table in tables.items():
        mlflow.log_text(table.to_csv(index=False), f"evaluation/{table_name}.csv")
    figures = {
        "threshold_sweep": threshold_figure(sweep.assign(method=name, trial=0), threshold),
        "roc": roc_figure(roc.assign(method=name, trial=0), {name: result.metrics["weighted_auc"]}),
    }
    if not history.empty:
        figures["epochs"] = epochs_figure(history.assign(method=name, trial=0), threshold)
    for figure_name, png in figures.items():
        mlflow.log_image(_image(png), f"figures/{figure_name}.png")


def _image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png))


def log_production_run(
    experiment_id: str,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, object],
    product: ProductClassifier,
    input_example: pd.DataFrame,
) -> tuple[str, str]:
    """The production model as one MLflow run (what made it: method, threshold, labels, their
    fingerprints) with the product-level model. Returns the run id and model URI."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(params)
        model_uri = log_product_model(product, input_example)
        mlflow.set_tag(TAG_MODEL_URI, model_uri)
    return run.info.run_id, model_uri
