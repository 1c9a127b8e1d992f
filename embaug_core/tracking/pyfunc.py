"""A fitted classifier as an MLflow pyfunc model: files on disk (weights load with
weights_only=True), the wrapper MLflow calls, and logging it to the active run."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from embaug_core.evaluation.open_set import load_scorer
from embaug_core.training.model import Classifier, HybridClassifier, Standardizer, build_head
from embaug_core.training.open_set import OpenSetClassifier, ScoreMap

HYBRID_PARTS = ("classes_from", "confidence_from")
#: Where an open-set model keeps the classifier its classes come from.
OPEN_SET_PART = "classifier"


def save_classifier(
    classifier: Classifier | HybridClassifier | OpenSetClassifier, folder: Path
) -> Path:
    """Write the head's weights, the standardisation and the class list to `folder` (a hybrid:
    each of its two models to a folder of its own; an open-set model: its classifier to a
    folder, its scorer's arrays and score map beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(classifier, HybridClassifier):
        for part in HYBRID_PARTS:
            save_classifier(getattr(classifier, part), folder / part)
        return folder
    if isinstance(classifier, OpenSetClassifier):
        save_classifier(classifier.classifier, folder / OPEN_SET_PART)
        np.savez(folder / "scorer.npz", **classifier.scorer.state())
        score_map = {"center": classifier.score_map.center, "slope": classifier.score_map.slope}
        meta = {"scorer": classifier.scorer.name, "score_map": score_map}
        (folder / "open_set.json").write_text(json.dumps(meta, indent=1))
        return folder
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


def load_classifier(folder: Path) -> Classifier | HybridClassifier | OpenSetClassifier:
    if (folder / HYBRID_PARTS[0]).is_dir():
        return HybridClassifier(*(load_classifier(folder / part) for part in HYBRID_PARTS))
    if (folder / "open_set.json").is_file():
        meta = json.loads((folder / "open_set.json").read_text())
        classifier = load_classifier(folder / OPEN_SET_PART)
        with np.load(folder / "scorer.npz") as arrays:
            scorer = load_scorer(meta["scorer"], dict(arrays), classifier)
        return OpenSetClassifier(classifier, scorer, ScoreMap(**meta["score_map"]))
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


def load_logged_classifier(model_uri: str) -> Classifier | HybridClassifier | OpenSetClassifier:
    """A classifier logged by `log_classifier`, back from its model URI."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().classifier


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: product vectors in, a DataFrame of class probabilities out."""

    def load_context(self, context) -> None:
        self.classifier = load_classifier(Path(context.artifacts["classifier"]))

    def predict(self, context, model_input: np.ndarray, params=None) -> pd.DataFrame:
        """The hint tells MLflow to check inputs against the logged signature, not the hint."""
        probs = self.classifier.predict_proba(np.asarray(model_input, dtype=np.float32))
        return pd.DataFrame(probs, columns=self.classifier.classes)


def log_classifier(classifier: Classifier, name: str = "model") -> ModelInfo:
    """Log to the active run as a pyfunc model from code, with its signature (a float32
    matrix of product vectors in, one probability column per class out)."""
    width = int(classifier.standardizer.mean.shape[0])
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, width))]),
        outputs=Schema([ColSpec(DataType.float, name) for name in classifier.classes]),
    )
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        folder = save_classifier(classifier, Path(scratch) / "classifier")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("model_code.py")),
            artifacts={"classifier": str(folder)},
            signature=signature,
            pip_requirements=["embaug", "torch", "numpy", "pandas"],
        )
    return info
