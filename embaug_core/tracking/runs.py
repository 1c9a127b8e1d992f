"""The parts of a run as MLflow keeps them: metric names, the split as a dataset, evaluation
tables and figures as artifacts, and the production model's run."""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.data
import pandas as pd
from mlflow.entities import Metric

from embaug_core.serving.product import ProductClassifier
from embaug_core.tracking import TAG_MODEL_URI
from embaug_core.tracking.product_model import log_product_model

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


#: Tries to log a split that another run may be logging at the same moment.
DATASET_ATTEMPTS = 3
#: How Postgres and SQLite name that collision.
DUPLICATE_DATASET = ('"dataset_pk"', "UNIQUE constraint failed: datasets.")


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
    for attempt in range(DATASET_ATTEMPTS):
        try:
            mlflow.log_input(frame, context="training")
            return
        except Exception as error:  # MlflowException or the database's own IntegrityError
            # Two runs on one trial logging its split at once (team mode's workers, one
            # database): MLflow looks the dataset up, then inserts it, so the slower insert
            # meets the faster one's row. Logged again, the lookup now finds it.
            duplicate = any(key in str(error) for key in DUPLICATE_DATASET)
            if not duplicate or attempt == DATASET_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def log_evaluation(tables: dict[str, pd.DataFrame], figures: dict[str, bytes]) -> None:
    """A run's evaluation tables (`evaluation/*.csv`, read back by the report) and its own
    figures (`figures/*.png`, as drawn), in one artifact upload instead of one per file."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "evaluation").mkdir()
        (folder / "figures").mkdir()
        for name, table in tables.items():
            table.to_csv(folder / "evaluation" / f"{name}.csv", index=False)
        for name, png in figures.items():
            (folder / "figures" / f"{name}.png").write_bytes(png)
        mlflow.log_artifacts(str(folder))


#: The most values MLflow takes in one batch.
BATCH = 1000


def log_history(run_id: str, history: list[dict[str, float]]) -> None:
    """The per-epoch figures (`epoch/*`, one step per epoch) written once training is done,
    in batches, instead of one write per epoch: the MLflow charts are the same."""
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(EPOCH + name, float(value), stamp, int(row["epoch"]))
        for row in history
        for name, value in row.items()
        if name != "epoch"
    ]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])


def log_production_run(
    experiment_id: str,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, object],
    product: ProductClassifier,
    input_example: pd.DataFrame,
    dataset: SplitDataset | None = None,
    metrics: dict[str, float] | None = None,
) -> tuple[str, str]:
    """The production model as one MLflow run (what made it: method, threshold, labels, their
    fingerprints; the labels it trained on as its dataset; the figures to expect of it) with
    the product-level model. Returns the run id and model URI."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(params)
        if dataset is not None:
            log_dataset(dataset)
        if metrics:
            mlflow.log_metrics(metrics)
        model_uri = log_product_model(product, input_example)
        mlflow.set_tag(TAG_MODEL_URI, model_uri)
    return run.info.run_id, model_uri
