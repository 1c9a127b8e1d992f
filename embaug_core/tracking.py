"""MLflow: log a fitted classifier as a pyfunc model (weights load with weights_only=True),
and read the finished runs of an experiment back as one results table."""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from embaug_core.experiment import MethodResult, TrialData, run_method
from embaug_core.figures import epochs_figure, roc_figure, threshold_figure
from embaug_core.methods import Method
from embaug_core.metrics import NONE, per_class_report, threshold_sweep, weighted_roc_curve
from embaug_core.model import Classifier, Standardizer, build_head
from embaug_core.store import Store
from embaug_core.train import TrainConfig

TAG_TRIAL, TAG_METHOD, TAG_SPLIT = "embaug.trial", "embaug.method", "embaug.split_sha256"
#: Which asset made a run: the main grid ("trained_models") or a parameter search.
TAG_SOURCE = "embaug.source"
#: What sets a search's run apart from the main grid's, e.g. "alpha=0.1" ("" in the grid).
TAG_VARIANT = "embaug.variant"
TAG_MODEL_URI = "embaug.model_uri"
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


# Logged models carry an explicit signature, which is what this MLflow nag asks for.
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")


class ClassifierModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: product vectors in, a DataFrame of class probabilities out."""

    def load_context(self, context) -> None:
        self.classifier = load_classifier(Path(context.artifacts["classifier"]))

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        probs = self.classifier.predict_proba(np.asarray(model_input, dtype=np.float32))
        return pd.DataFrame(probs, columns=self.classifier.classes)


def log_classifier(classifier: Classifier, name: str = "model") -> str:
    """Log to the active run as a pyfunc model from code, with its signature (a float32
    matrix of product vectors in, one probability column per class out); returns its URI."""
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
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"classifier": str(folder)},
            signature=signature,
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
    one step per epoch), final metrics, evaluation tables and figures, and the model."""
    history: list[dict[str, float]] = []

    def log_epoch(epoch: int, values: dict[str, float]) -> None:
        history.append({"epoch": epoch, **values})
        mlflow.log_metrics({f"epoch_{name}": value for name, value in values.items()}, step=epoch)

    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
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
        result = run_method(method, data, config, augmentation, threshold, on_epoch=log_epoch)
        mlflow.log_metrics(result.metrics)
        log_evaluation(result, data, pd.DataFrame(history), threshold, method.name)
        model_uri = log_classifier(result.classifier)
        mlflow.set_tag(TAG_MODEL_URI, model_uri)
    return TrackedRun(run.info.run_id, run.info.experiment_id, result.metrics, model_uri)


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


def evaluation_tables(run_id: str, tracking_uri: str) -> dict[str, pd.DataFrame]:
    """The evaluation tables a run logged, read back from its artifacts."""
    folder = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="evaluation", tracking_uri=tracking_uri
    )
    return {path.stem: pd.read_csv(path) for path in Path(folder).glob("*.csv")}


def collect_evaluation(runs: pd.DataFrame, tracking_uri: str) -> dict[str, pd.DataFrame]:
    """Every run's evaluation tables, concatenated, with its method, trial and run id."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for (method, trial, run_id), _ in runs.groupby(["method", "trial", "run_id"]):
        for name, table in evaluation_tables(run_id, tracking_uri).items():
            parts.setdefault(name, []).append(table.assign(method=method, trial=trial))
    return {name: pd.concat(tables, ignore_index=True) for name, tables in parts.items()}


def run_params(run_ids: list[str], tracking_uri: str) -> pd.DataFrame:
    """The params of each run, one row per run."""
    client = mlflow.MlflowClient(tracking_uri)
    return pd.DataFrame([{"run_id": r, **client.get_run(r).data.params} for r in run_ids])


MODEL_NAME = "embaug-classifier"
CHAMPION = "champion"


def champion_method(results: pd.DataFrame, metric: str = "weighted_auc") -> str:
    """The method with the best mean `metric` over trials."""
    means = results[results["metric"] == metric].groupby("method")["value"].mean()
    return str(means.idxmax())


def use_tracking_store(tracking_uri: str) -> None:
    """Point this process's MLflow at `tracking_uri`, for tracking and registry alike. Some MLflow
    calls resolve `models:/` URIs through the process-wide store even when given a client, so a
    fresh process (a Dagster run worker) must set it before registering or loading a model."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def register_methods(
    results: pd.DataFrame, tracking_uri: str, champion: str, model_name: str = MODEL_NAME
) -> pd.DataFrame:
    """Register each method's model (the run of its first trial) as a version of one
    registered model, aliased by method name, and give the champion's the `champion` alias.
    A run already registered is not registered again."""
    use_tracking_store(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    if not client.search_registered_models(f"name = '{model_name}'"):
        client.create_registered_model(model_name)
    firsts = results.sort_values("trial").drop_duplicates("method")[["method", "trial", "run_id"]]
    rows = []
    for method, trial, run_id in firsts.itertuples(index=False):
        found = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
        if found:
            version = found[0].version
        else:
            run = client.get_run(run_id)
            version = client.create_model_version(
                model_name,
                run.data.tags[TAG_MODEL_URI],
                run_id,
                tags={TAG_METHOD: method, TAG_TRIAL: trial},
            ).version
        client.set_registered_model_alias(model_name, method, version)
        rows.append({"method": method, "trial": trial, "run_id": run_id, "version": int(version)})
    registered = pd.DataFrame(rows)
    champion_version = registered.loc[registered["method"] == champion, "version"].iloc[0]
    client.set_registered_model_alias(model_name, CHAMPION, str(champion_version))
    return registered


def champion_version(tracking_uri: str, model_name: str = MODEL_NAME):
    """The registered model version that holds the `champion` alias."""
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    return client.get_model_version_by_alias(model_name, CHAMPION)


def load_registered_classifier(tracking_uri: str, model_uri: str) -> Classifier:
    """A logged classifier back as a `Classifier` (its weights load with weights_only=True)."""
    use_tracking_store(tracking_uri)
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().classifier
