"""predictions: the production model's category for every unlabelled and new product."""

import dagster as dg
from pydantic import Field

from embaug_core.common.home import Home
from embaug_core.labels.people import effective_labels
from embaug_core.serving.predictions import export_predictions, predict_products, to_score
from embaug_core.tracking.registry import MODEL_NAME, load_product_model
from embaug_pipeline.conditions import retrain
from embaug_pipeline.defs.serving.production_model import production_model
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource


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
    none_share = round(float(table["none"].mean()), 4) if len(table) else 0.0
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
