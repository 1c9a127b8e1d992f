"""MLflow: log a fitted classifier as a pyfunc model (weights load with weights_only=True),
and read the finished runs of an experiment back as one results table."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch

from embaug_core.model import Classifier, Standardizer, build_head

TAG_TRIAL, TAG_METHOD, TAG_SPLIT = "embaug.trial", "embaug.method", "embaug.split_sha256"


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


def finished_runs(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """The latest finished run per (trial, method, split) with its final metrics, long format:
    trial, method, split_sha256, run_id, metric, value."""
    client = mlflow.MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame(
            columns=["trial", "method", "split_sha256", "run_id", "metric", "value"]
        )
    rows, seen = [], set()
    for run in _all_runs(client, found.experiment_id):
        tags = run.data.tags
        key = (tags.get(TAG_TRIAL), tags.get(TAG_METHOD), tags.get(TAG_SPLIT))
        if None in key or key in seen:
            continue
        seen.add(key)
        rows += [(*key, run.info.run_id, name, value) for name, value in run.data.metrics.items()]
    return pd.DataFrame(
        rows, columns=["trial", "method", "split_sha256", "run_id", "metric", "value"]
    )


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
