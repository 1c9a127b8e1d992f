"""The code location: assets, resources, the retraining schedule and sensors. Nothing heavy
is imported or loaded here."""

import dagster as dg

from embaug_pipeline.assets.catalog import raw_products
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.assets.human_labels import human_labels
from embaug_pipeline.assets.labels import label_sets
from embaug_pipeline.assets.reporting import evaluation_report
from embaug_pipeline.assets.serving import labeling_queue, predictions, production_model
from embaug_pipeline.assets.splits import trial_splits
from embaug_pipeline.assets.training import alpha_search, trained_models
from embaug_pipeline.automation import (
    catalogue_changed,
    catalogue_refresh,
    label_import,
    labels_dropped,
    retraining_automation,
    weekly_retraining,
)
from embaug_pipeline.resources import EncodersResource, MlflowResource, StoreResource

ASSETS = [
    raw_products,
    text_embeddings,
    image_embeddings,
    human_labels,
    trial_splits,
    label_sets,
    trained_models,
    alpha_search,
    evaluation_report,
    production_model,
    predictions,
    labeling_queue,
]
RESOURCES = {"store": StoreResource(), "encoders": EncodersResource(), "tracking": MlflowResource()}

defs = dg.Definitions(
    assets=ASSETS,
    resources=RESOURCES,
    jobs=[catalogue_refresh, label_import],
    schedules=[weekly_retraining],
    sensors=[catalogue_changed, labels_dropped, retraining_automation],
)
