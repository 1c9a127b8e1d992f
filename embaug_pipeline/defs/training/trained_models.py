"""trained_models: one method trained on one trial's split, one MLflow run per partition."""

import dagster as dg

from embaug_core.evaluation.comparison import HEADLINE
from embaug_core.tracking import (
    GRID,
    TAG_LINEAGE,
    TAG_METHOD,
    TAG_SOURCE,
    TAG_TRIAL,
)
from embaug_core.training.methods import get_method
from embaug_pipeline.conditions import retrain
from embaug_pipeline.defs.embeddings.assets import image_embeddings, text_embeddings
from embaug_pipeline.defs.labels.label_sets import label_sets
from embaug_pipeline.defs.labels.trial_splits import trial_splits
from embaug_pipeline.defs.training.runs import TrainingSettings, train_or_reuse, trial_inputs
from embaug_pipeline.partitions import trial_method_partitions
from embaug_pipeline.resources import (
    EncodersResource,
    MlflowResource,
    StoreResource,
)


@dg.asset(
    group_name="training",
    partitions_def=trial_method_partitions,
    # Dagster maps each (trial, method) partition to its trial's split and labels by itself.
    deps=[trial_splits, label_sets, text_embeddings, image_embeddings],
    kinds={"pytorch", "mlflow"},
    automation_condition=retrain(),
)
def trained_models(
    context: dg.AssetExecutionContext,
    config: TrainingSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Train one method on one trial's split; log params, its split, curves, metrics, figures
    and model to MLflow.

    Partitions are the trials x methods the command line ran (`embaug demo --trials N
    --methods ...` adds them), or that were added here: add a trial or a method (a registered
    name, such as one of the candidate configurations) to the partitions, then Materialize it
    after its trial's split and label sets."""
    keys = context.partition_key.keys_by_dimension
    trial, method = keys["trial"], get_method(keys["method"])
    if "embaug/grid_position" in context.run.tags:
        context.log.info(f"{context.run.tags['embaug/grid_position']}: {method.name} on {trial}")
    with store.get().reading():
        inputs = trial_inputs(store, encoders, trial, method)
    tags = {
        TAG_TRIAL: trial,
        TAG_METHOD: method.name,
        TAG_LINEAGE: inputs.lineage,
        TAG_SOURCE: GRID,
    }
    name = f"{method.name}__{trial}"
    run = train_or_reuse(context, store, encoders, tracking, config, method, inputs, name, tags)
    # The headline figures once each, rounded (every figure, the tables and the model are in
    # the MLflow run the link opens).
    figures = {k: round(float(run.metrics[k]), 4) for k in HEADLINE if k in run.metrics}
    return dg.MaterializeResult(
        metadata={
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run.run_id)),
            "reused": run.reused,
            **figures,
        }
    )
