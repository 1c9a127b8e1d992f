"""evaluation_report: the comparison over trials, from the finished MLflow runs, and the
champion in MLflow's model registry."""

import dagster as dg
import mlflow
from pydantic import Field

from embaug_core.embeddings import product_vectors
from embaug_core.home import Home
from embaug_core.label_sets import label_quality_by_trial
from embaug_core.queue import labeling_queue as labeling_queue_table
from embaug_core.report import build_report, run_links
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
    labels = db.label_tables()
    quality = label_quality_by_trial(labels, {t: db.split(t) for t in labels["trial"].unique()})
    champion = champion_method(runs)
    registered = register_methods(runs, tracking.uri(), champion)
    evaluation = collect_evaluation(runs, tracking.uri())
    report = build_report(
        runs,
        evaluation,
        run_params(runs["run_id"].unique().tolist(), tracking.uri()),
        quality,
        run_links(runs, registered, f"{config.mlflow_ui}/#/experiments/{tracking.experiment_id()}"),
        champion,
        {"experiment": tracking.experiment, "tracking": tracking.uri()},
        config.epochs_methods,
    )
    path = report.write(Home.from_env().create().reports / "report.html")
    db.replace_tables(
        {
            "results": runs[["trial", "method", "metric", "value", "run_id"]],
            "paired_differences": report.differences,
            "per_class_results": evaluation["per_class"],
            "label_quality": quality,
        }
    )
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
