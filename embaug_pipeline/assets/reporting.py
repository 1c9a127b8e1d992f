"""evaluation_report: the comparison over trials, from the finished MLflow runs, and the
champion in MLflow's model registry."""

import dagster as dg
import mlflow
import pandas as pd
from pydantic import Field

from embaug_core.embeddings import product_vectors
from embaug_core.figures import epochs_figure, label_sets_figure, roc_figure, threshold_figure
from embaug_core.home import Home
from embaug_core.label_sets import label_quality
from embaug_core.queue import labeling_queue as labeling_queue_table
from embaug_core.report import (
    Report,
    comparison_table,
    paired_differences,
    paired_table,
    per_class_table,
)
from embaug_core.tracking import (
    CHAMPION,
    MODEL_NAME,
    TAG_METHOD,
    TAG_TRIAL,
    champion_method,
    champion_version,
    collect_evaluation,
    current_runs,
    finished_runs,
    load_registered_classifier,
    register_methods,
    run_params,
)
from embaug_pipeline.assets.training import trained_models
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource

SETTINGS = (
    "epochs",
    "batch_size",
    "alpha",
    "softness",
    "negative_mass",
    "gamma",
    "threshold",
    "head",
    "standardize",
    "n_train",
    "n_eval",
    "n_eval_none",
    "n_classes",
)


class ReportSettings(dg.Config):
    epochs_methods: list[str] = Field(
        default_factory=lambda: ["control", "soft_e_stitchup"],
        description="Methods whose per-epoch accuracies are drawn (the paper's Fig. 5)",
    )
    mlflow_ui: str = Field("http://127.0.0.1:5000", description="Base URL of runs' links")
    champion_auc_floor: float = Field(
        0.9, description="Below this mean weighted AUC the champion blocks the labeling queue"
    )


CHAMPION_CHECK = "champion_weighted_auc_above_floor"


@dg.asset(
    group_name="reporting",
    deps=[trained_models],
    check_specs=[dg.AssetCheckSpec(CHAMPION_CHECK, asset="evaluation_report", blocking=True)],
    kinds={"duckdb", "html", "mlflow"},
    pool=DUCKDB_POOL,
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    config: ReportSettings,
    store: StoreResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Tables, figures and champion from the runs on the current splits (older runs ignored)."""
    db = store.get()
    runs = current_runs(finished_runs(tracking.uri(), tracking.experiment), db)
    if runs.empty:
        raise dg.Failure(
            "no finished MLflow runs on the current splits: materialise trained_models"
        )
    evaluation = collect_evaluation(runs, tracking.uri())
    params = run_params(runs["run_id"].unique().tolist(), tracking.uri())
    threshold = float(params["threshold"].iloc[0])
    quality = _label_quality(db)
    champion = champion_method(runs)
    registered = register_methods(runs, tracking.uri(), champion)
    report = Report(
        comparison=comparison_table(runs),
        paired=paired_table(paired_differences(runs)),
        per_class=per_class_table(evaluation["per_class"]),
        settings={
            "experiment": tracking.experiment,
            "tracking": tracking.uri(),
            "trials": runs["trial"].nunique(),
            **{
                k: ", ".join(sorted(params[k].astype(str).unique()))
                for k in SETTINGS
                if k in params
            },
        },
        runs=_links(
            runs, registered, f"{config.mlflow_ui}/#/experiments/{tracking.experiment_id()}"
        ),
        champion=champion,
        figures=_figures(runs, evaluation, quality, threshold, config.epochs_methods),
    )
    path = report.write(Home.from_env().create().reports / "report.html")
    db.replace_tables(
        {
            "results": runs[["trial", "method", "metric", "value", "run_id"]],
            "paired_differences": paired_differences(runs),
            "per_class_results": evaluation["per_class"],
            "label_quality": quality,
        }
    )
    context.log.info(f"champion: {champion}\n{report.comparison.to_markdown()}")
    auc = runs[(runs["method"] == champion) & (runs["metric"] == "weighted_auc")]["value"].mean()
    check = dg.AssetCheckResult(
        check_name=CHAMPION_CHECK,
        passed=bool(auc >= config.champion_auc_floor),
        metadata={
            "champion": champion,
            "mean_weighted_auc": float(auc),
            "floor": config.champion_auc_floor,
        },
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "comparison": dg.MetadataValue.md(report.comparison.to_markdown()),
            "paired_with_control": dg.MetadataValue.md(report.paired.to_markdown()),
            "champion": champion,
            "report": dg.MetadataValue.path(str(path)),
            "runs": runs["run_id"].nunique(),
        },
    )


def _label_quality(db) -> pd.DataFrame:
    """Label-set quality per trial, source and class (empty when no label sets are stored)."""
    labels = db.label_tables()
    parts = [
        label_quality(table, db.split(trial)).assign(trial=trial)
        for trial, table in labels.groupby("trial")
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _figures(runs, evaluation, quality, threshold, epochs_methods) -> dict[str, bytes]:
    auc = runs[runs["metric"] == "weighted_auc"].groupby("method")["value"].mean().to_dict()
    figures = {
        "Accuracy against the confidence threshold (Fig. 3)": threshold_figure(
            evaluation["sweep"], threshold
        ),
        "Weighted ROC with the none category (Fig. 4)": roc_figure(evaluation["roc"], auc),
    }
    history = evaluation.get("history", pd.DataFrame())
    if not history.empty and history["method"].isin(epochs_methods).any():
        chosen = history[history["method"].isin(epochs_methods)]
        figures["Accuracy per epoch (Fig. 5)"] = epochs_figure(chosen, threshold)
    if not quality.empty:
        knn = quality[(quality["source"] == "knn_aug") & (quality["label"] != "ALL")]
        means = knn.groupby("label")[["labels", "precision"]].mean().reset_index()
        figures["Similarity-augmented labels per class"] = label_sets_figure(means)
    return figures


def _links(runs: pd.DataFrame, registered: pd.DataFrame, base: str) -> pd.DataFrame:
    listing = runs[["trial", "method", "run_id"]].drop_duplicates().sort_values(["method", "trial"])
    listing["url"] = [f"{base}/runs/{run_id}" for run_id in listing["run_id"]]
    versions = registered.set_index("run_id")["version"]
    listing["registered_version"] = listing["run_id"].map(versions).astype("Int64")
    return listing


class QueueSettings(dg.Config):
    limit: int = Field(0, description="Keep the first N products of the queue (0: all)")


@dg.asset(
    group_name="reporting", deps=[evaluation_report], kinds={"duckdb", "mlflow"}, pool=DUCKDB_POOL
)
def labeling_queue(
    context: dg.AssetExecutionContext,
    config: QueueSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Products outside the champion's training set that it calls "none", most uncertain
    first, with its top three guesses: what to label next."""
    db = store.get()
    champion = champion_version(tracking.uri())
    run = mlflow.MlflowClient(tracking.uri()).get_run(champion.run_id)
    classifier = load_registered_classifier(tracking.uri(), f"models:/{MODEL_NAME}@{CHAMPION}")
    split = db.split(champion.tags[TAG_TRIAL])
    outside = split.loc[split["role"] != "train", "product_id"]
    vectors = product_vectors(db, encoders.text().identity, encoders.image().identity)
    rows = vectors.rows(outside)
    queue = labeling_queue_table(
        vectors.product_ids[rows],
        classifier.predict_proba(vectors.vectors[rows]),
        classifier.classes,
        float(run.data.params["threshold"]),
    )
    queue = queue.head(config.limit) if config.limit else queue
    products = db.products().set_index("product_id")[["title", "category"]]
    queue = queue.join(products.rename(columns={"category": "catalogue_category"}), on="product_id")
    db.replace_tables({"labeling_queue": queue})
    path = Home.from_env().create().reports / "labeling_queue.csv"
    queue.to_csv(path, index=False)
    return dg.MaterializeResult(
        metadata={
            "champion": champion.tags[TAG_METHOD],
            "model_version": int(champion.version),
            "scored": len(rows),
            "queued": len(queue),
            "csv": dg.MetadataValue.path(str(path)),
            "first_rows": dg.MetadataValue.md(
                queue.head(15).to_markdown(index=False, floatfmt=".3f")
            ),
        }
    )
