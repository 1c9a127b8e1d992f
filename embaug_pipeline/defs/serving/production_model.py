"""production_model: the recommended method trained on every label, registered in MLflow."""

import json

import dagster as dg

from embaug_core.catalog import CatalogSettings
from embaug_core.evaluation.recommendation import Recommendation
from embaug_core.labels.people import effective_labels
from embaug_core.labels.sets import LabelSettings
from embaug_core.serving.product import InputLimits
from embaug_core.serving.publish import publish_production
from embaug_core.tracking.registry import MODEL_NAME
from embaug_pipeline.conditions import retrain_after_checks
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.defs.evaluation.evaluation_report import evaluation_report
from embaug_pipeline.defs.labels.human_labels import MIN_CLASS, human_labels
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource

ProductionConfig = config_class("ProductionConfig", LabelSettings, min_class_products=MIN_CLASS)


@dg.asset(
    group_name="serving",
    # The report's recommendation, trained on every label: people's labels reach it first,
    # straight from an import (job labels_to_production, which the inbox sensor also runs),
    # then again through the report; so the automation waits for the report alone.
    deps=[evaluation_report, human_labels],
    kinds={"pytorch", "mlflow"},
    pool=DUCKDB_POOL,
    automation_condition=retrain_after_checks(ignore=("human_labels",)),
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
    expected = db.expected_figures()
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
        expected,
    )
    context.log.info(
        f"production: {published.method} v{published.version} "
        f"({'reused' if published.reused else 'trained'}), threshold {published.threshold:.3f}"
    )
    return dg.MaterializeResult(
        metadata={
            "method": published.method,
            "threshold": round(published.threshold, 4),
            "model": f"models:/{MODEL_NAME}@production",
            "version": published.version,
            "mlflow_run_id": published.run_id,
            "reused": published.reused,
            "labelled_products": published.labelled,
            "labelled_by_people": published.by_people,
            "why": recommendation.rule,
            **{
                f"expected_{name}": round(float(expected[name]), 4)
                for name in ("overall_acc", "none_acc")
                if name in expected
            },
        }
    )


def _folder(path: str):
    from pathlib import Path

    return Path(path) if Path(path).is_dir() else Path(path).parent
