"""MLflow: log a fitted classifier as a pyfunc model (weights load with weights_only=True),
and read the finished runs of an experiment back as one results table."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch

from embaug_core.experiment import TrialData, run_method
from embaug_core.methods import Method
from embaug_core.model import Classifier, Standardizer, build_head
from embaug_core.store import Store
from embaug_core.train import TrainConfig

TAG_TRIAL, TAG_METHOD, TAG_SPLIT = "embaug.trial", "embaug.method", "embaug.split_sha256"
#: Which asset made a run: the main grid ("trained_models") or a parameter search.
TAG_SOURCE = "embaug.source"
#: What sets a search's run apart from the main grid's, e.g. "alpha=0.1" ("" in the grid).
TAG_VARIANT = "embaug.variant"
RUN_COLUMNS = ["trial", "method", "variant", "split_sha256", "run_id", "metric", "value"]


def save_classifier(classifier: Classifier, folder: Path) -> Path:
    """Write the head's weights, the standardisation and the class list to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(classifier.head.state_dict(), folder / "head.pt")
    np.savez(
        folder / "standardizer.npz",
        mean=classifier.standardizer.mean,
        std=classifier.standardizer.std,
    )
    meta = {
        "classes": classifier.classes,
        "head_kind": classifier.head_kind,
        "output": classifier.output,
        "in_dim": int(classifier.standardizer.mean.shape[0]),
    }
    (folder / "classifier.json").write_text(json.dumps(meta, indent=1))
    return folder


def load_classifier(folder: Path) -> Classifier:
    meta = json.loads((folder / "classifier.json").read_text())
    head = build_head(meta["head_kind"], meta["in_dim"], len(meta["classes"]))
    head.load_state_dict(torch.load(folder / "head.pt", map_location="cpu", weights_only=True))
    stats = np.load(folder / "standardizer.npz")
    return Classifier(
        meta["classes"],
        Standardizer(stats["mean"], stats["std"]),
        head.eval(),
        meta["head_kind"],
        meta["output"],
    )


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: product vectors in, a DataFrame of class probabilities out."""

    def load_context(self, context) -> None:
        self.classifier = load_classifier(Path(context.artifacts["classifier"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        probs = self.classifier.predict_proba(np.asarray(model_input, dtype=np.float32))
        return pd.DataFrame(probs, columns=self.classifier.classes)


def log_classifier(classifier: Classifier, name: str = "model") -> str:
    """Log to the active run; returns the model URI."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = save_classifier(classifier, Path(scratch) / "classifier")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=ClassifierModel(),
            artifacts={"classifier": str(folder)},
            pip_requirements=["embaug", "torch", "numpy", "pandas"],
        )
    return info.model_uri


def finished_runs(
    tracking_uri: str, experiment: str, source: str = "trained_models"
) -> pd.DataFrame:
    """The latest finished run of `source` per (trial, method, variant, split) with its final
    metrics, in long format (RUN_COLUMNS)."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows, seen = [], set()
    for run in _all_runs(client, found.experiment_id):
        tags = run.data.tags
        key = (
            tags.get(TAG_TRIAL),
            tags.get(TAG_METHOD),
            tags.get(TAG_VARIANT, ""),
            tags.get(TAG_SPLIT),
        )
        if tags.get(TAG_SOURCE) != source or None in key or key in seen:
            continue
        seen.add(key)
        rows += [(*key, run.info.run_id, name, value) for name, value in run.data.metrics.items()]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def current_runs(runs: pd.DataFrame, store: Store) -> pd.DataFrame:
    """Only the runs made on the splits stored now (older splits' runs are left out)."""
    return runs[runs["split_sha256"] == runs["trial"].map(store.split_fingerprints())]


def _all_runs(client: mlflow.MlflowClient, experiment_id: str):
    """Every finished run of the experiment, newest first, across result pages."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            "attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    model_uri: str


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
) -> TrackedRun:
    """Train and score one method as one MLflow run: params, per-epoch metrics (`epoch_*`,
    one step per epoch), final metrics and the model."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(
            {
                **params,
                "method": method.name,
                "labels": method.labels,
                "n_train": len(data.y_train),
                "n_eval": len(data.y_eval),
                "n_classes": len(data.classes),
                "input_dim": data.x_train.shape[1],
            }
        )
        classifier, metrics = run_method(
            method,
            data,
            config,
            augmentation,
            threshold,
            on_epoch=lambda epoch, values: mlflow.log_metrics(
                {f"epoch_{name}": value for name, value in values.items()}, step=epoch
            ),
        )
        mlflow.log_metrics(metrics)
        model_uri = log_classifier(classifier)
    return TrackedRun(run.info.run_id, run.info.experiment_id, metrics, model_uri)
