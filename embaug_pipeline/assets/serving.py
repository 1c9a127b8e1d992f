"""Putting the champion to work: the production model, predictions for every unlabelled and
new product, and the labeling queue built from them."""

import json

import dagster as dg
from pydantic import Field

from embaug_core.catalog import CatalogSettings
from embaug_core.evaluation_report import refresh_serving
from embaug_core.home import Home
from embaug_core.human_labels import effective_labels
from embaug_core.labeling_queue import queue_from_predictions, write_queue_csv
from embaug_core.labels.sets import LabelSettings
from embaug_core.predictions import export_predictions, predict_products, to_score
from embaug_core.production import Recommendation
from embaug_core.serving.product import InputLimits
from embaug_core.tracking.production import publish_production
from embaug_core.tracking.registry import MODEL_NAME, load_product_model
from embaug_pipeline.assets.human_labels import MIN_CLASS
from embaug_pipeline.assets.reporting import evaluation_report
from embaug_pipeline.conditions import retrain, retrain_after_checks
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource

ProductionConfig = config_class("ProductionConfig", LabelSettings, min_class_products=MIN_CLASS)


@dg.asset(
    group_name="serving",
    # People's labels reach it once, through the report (splits, models, recommendation).
    deps=[evaluation_report],
    kinds={"pytorch", "mlflow"},
    pool=DUCKDB_POOL,
    automation_condition=retrain_after_checks(),
)
def production_model(
    context: dg.AssetExecutionContext,
    config: ProductionConfig,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """The method the report recommends, trained on every labelled product (the catalogue's
    and people's) with the recommended threshold, registered under the `production` alias. An
    unchanged set of inputs reuses the model already made from them."""
    db = store.get()
    recommendation = Recommendation.from_row(db.recommendation())
    labels, people = effective_labels(db, config.min_class_products)
    vectors, lineage = encoders.vectors(db)
    catalogue = db.catalogue()
    settings = CatalogSettings.from_mapping(json.loads(catalogue["settings"] or "{}"))
    limits = InputLimits(
        settings.image_roots or (str(_folder(catalogue["path"])),),
        settings.max_image_bytes,
        settings.max_image_pixels,
        settings.max_aspect_ratio,
    )
    published = publish_production(
        db,
        vectors,
        lineage,
        recommendation,
        labels,
        people,
        settings_of(config, LabelSettings),
        encoders.spec(catalogue["features"]),
        limits,
        tracking.uri(),
        tracking.experiment_id(),
    )
    context.log.info(
        f"production: {published.method} v{published.version} "
        f"({'reused' if published.reused else 'trained'}), threshold {published.threshold:.3f}"
    )
    return dg.MaterializeResult(
        metadata={
            "method": published.method,
            "threshold": published.threshold,
            "model": f"models:/{MODEL_NAME}@production",
            "version": published.version,
            "mlflow_run_id": published.run_id,
            "reused": published.reused,
            "labelled_products": published.labelled,
            "labelled_by_people": published.by_people,
            "why": recommendation.rule,
        }
    )


def _folder(path: str):
    from pathlib import Path

    return Path(path) if Path(path).is_dir() else Path(path).parent


class PredictionSettings(dg.Config):
    max_none_share: float = Field(
        0.5,
        description="Warn when more than this share of newly scored products is 'none': the "
        "catalogue is drifting away from the known categories",
    )


NONE_CHECK = "none_share_of_new_predictions_below_limit"


@dg.asset(
    group_name="serving",
    # New products reach it through the production model (a catalogue change retrains it).
    deps=[production_model],
    kinds={"duckdb", "parquet"},
    pool=DUCKDB_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            NONE_CHECK,
            asset="predictions",
            description="Warns when the share of 'none' among newly scored products exceeds "
            "max_none_share",
        )
    ],
    automation_condition=retrain(),
)
def predictions(
    context: dg.AssetExecutionContext,
    config: PredictionSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """The production model's category, probability, top 3 and "none" for every product
    without a training label, scored only when new, changed, or scored by an older version."""
    db = store.get()
    product, version = load_product_model(tracking.uri())
    labels, _ = effective_labels(db)
    vectors, _ = encoders.vectors(db)
    unlabelled = labels[labels.isna()].index
    hashes = to_score(
        db.products(), db.catalogue()["features"], unlabelled, db.predictions(), version.version
    )
    table = predict_products(
        vectors, hashes, product.classifier, product.threshold, MODEL_NAME, version.version
    )
    db.upsert_predictions(table, unlabelled.tolist())
    files = export_predictions(db, Home.from_env().create().reports)
    none_share = float(table["none"].mean()) if len(table) else 0.0
    check = dg.AssetCheckResult(
        check_name=NONE_CHECK,
        passed=none_share <= config.max_none_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "none_share": none_share,
            "newly_scored": len(table),
            "limit": config.max_none_share,
        },
    )
    counts = table["category"].fillna("none").value_counts().head(15)
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "model_version": int(version.version),
            "unlabelled_products": len(unlabelled),
            "newly_scored": len(table),
            "already_scored": len(unlabelled) - len(table),
            "none_share_new": none_share,
            "by_category": dg.MetadataValue.md(counts.rename("products").to_frame().to_markdown()),
            "parquet": dg.MetadataValue.path(str(files["parquet"])),
            "csv": dg.MetadataValue.path(str(files["csv"])),
        },
    )


class QueueSettings(dg.Config):
    limit: int = Field(0, description="Keep the first N products of the queue (0: all)")


@dg.asset(
    group_name="serving",
    deps=[predictions],
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    automation_condition=retrain(),
)
def labeling_queue(
    context: dg.AssetExecutionContext, config: QueueSettings, store: StoreResource
) -> dg.MaterializeResult:
    """Products the production model calls "none", most uncertain first, with its top three
    guesses and an empty `category` column to fill in: what to label next. Products people
    labelled leave it. The report's predictions and next steps are brought up to date."""
    db = store.get()
    queue = queue_from_predictions(db, config.limit)
    reports = Home.from_env().create().reports
    path = write_queue_csv(queue, reports / "labeling_queue.csv")
    refresh_serving(db, reports / "report.html")
    return dg.MaterializeResult(
        metadata={
            "queued": len(queue),
            "csv": dg.MetadataValue.path(str(path)),
            "first_rows": dg.MetadataValue.md(
                queue.head(15).to_markdown(index=False, floatfmt=".3f")
            ),
        }
    )
