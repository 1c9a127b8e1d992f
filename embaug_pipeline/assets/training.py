"""trained_models (trial x method, one MLflow run each) and alpha_search (the paper's grid
search over the Beta parameter, one MLflow run per trial, method and alpha)."""

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.experiment import TrialData, trial_data
from embaug_core.methods import ALPHA_GRID, get_method
from embaug_core.metrics import DEFAULT_THRESHOLD
from embaug_core.mixup import MixupSettings
from embaug_core.tracking import (
    ALPHA_SEARCH,
    GRID,
    TAG_LINEAGE,
    TAG_METHOD,
    TAG_SOURCE,
    TAG_TRIAL,
    TAG_VARIANT,
)
from embaug_core.tracking.runs import TrackedRun, train_tracked
from embaug_core.train import TrainConfig
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.assets.labels import label_sets
from embaug_pipeline.assets.splits import trial_splits
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.partitions import trial_method_partitions, trial_partitions
from embaug_pipeline.resources import EncodersResource, MlflowResource, StoreResource

THRESHOLD = (
    float,
    Field(DEFAULT_THRESHOLD, description="Confidence below which a product is 'none'"),
)
TrainingSettings = config_class("TrainingSettings", TrainConfig, MixupSettings, threshold=THRESHOLD)


def _load_trial(
    store: StoreResource, encoders: EncodersResource, trial: str, labels: str = "seeds"
) -> tuple[TrialData, str]:
    """The trial's arrays, read once from DuckDB, with augmented or propagated labels added
    when `labels` says so, and the trial's lineage key (what makes its run current)."""
    db = store.get()
    vectors, lineage = encoders.vectors(db)
    if trial not in lineage.splits:
        raise dg.Failure(f"{trial} has no split on the current catalogue: materialise trial_splits")
    key = lineage.key(trial)
    extra = None
    if labels != "seeds":
        stored = db.label_sets(trial)
        extra = stored[(stored["source"] == labels) & (stored["lineage"] == key)]
        if extra.empty:
            raise dg.Failure(
                f"no {labels} labels for the current split of {trial}: materialise label_sets"
            )
    return trial_data(vectors, db.split(trial), extra), key


def _train(
    context: dg.AssetExecutionContext,
    tracking: MlflowResource,
    config: dg.Config,
    data: TrialData,
    run_name: str,
    tags: dict[str, str],
) -> TrackedRun:
    run = train_tracked(
        tracking.experiment_id(),
        run_name,
        {**tags, "dagster.run_id": context.run.run_id},
        config.model_dump(),
        get_method(tags[TAG_METHOD]),
        data,
        settings_of(config, TrainConfig),
        config.model_dump(include=set(MixupSettings.__dataclass_fields__)),
        config.threshold,
    )
    context.log.info(f"{run_name}: " + ", ".join(f"{k}={v:.4f}" for k, v in run.metrics.items()))
    return run


@dg.asset(
    group_name="experiment",
    partitions_def=trial_method_partitions,
    # Dagster maps each (trial, method) partition to its trial's split and labels by itself.
    deps=[trial_splits, label_sets, text_embeddings, image_embeddings],
    kinds={"pytorch", "mlflow"},
)
def trained_models(
    context: dg.AssetExecutionContext,
    config: TrainingSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Train one method on one trial's split; log params, curves, metrics and model to MLflow."""
    keys = context.partition_key.keys_by_dimension
    trial, method = keys["trial"], keys["method"]
    data, lineage = _load_trial(store, encoders, trial, get_method(method).labels)
    tags = {TAG_TRIAL: trial, TAG_METHOD: method, TAG_LINEAGE: lineage, TAG_SOURCE: GRID}
    run = _train(context, tracking, config, data, f"{method}__{trial}", tags)
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run.run_id,
            "mlflow_experiment_id": run.experiment_id,
            "model_uri": run.model_uri,
            **{k: float(v) for k, v in run.metrics.items()},
        }
    )


AlphaSearchSettings = config_class(
    "AlphaSearchSettings",
    TrainConfig,
    MixupSettings,
    threshold=THRESHOLD,
    alphas=(list[float], Field(list(ALPHA_GRID), description="The paper's grid")),
    methods=(
        list[str],
        Field(
            ["e_mixup", "e_stitchup", "soft_e_mixup", "soft_e_stitchup"],
            description="Methods searched",
        ),
    ),
)


@dg.asset(
    group_name="experiment",
    partitions_def=trial_partitions,
    deps=[trial_splits, text_embeddings, image_embeddings],
    kinds={"pytorch", "mlflow"},
)
def alpha_search(
    context: dg.AssetExecutionContext,
    config: AlphaSearchSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Every method x alpha of the grid on one trial, each an MLflow run named after its point."""
    trial = context.partition_key
    data, lineage = _load_trial(store, encoders, trial)
    rows = []
    for method in config.methods:
        for alpha in config.alphas:
            point = config.model_copy(update={"alpha": alpha})
            tags = {
                TAG_TRIAL: trial,
                TAG_METHOD: method,
                TAG_LINEAGE: lineage,
                TAG_SOURCE: ALPHA_SEARCH,
                TAG_VARIANT: f"alpha={alpha}",
            }
            run = _train(context, tracking, point, data, f"{method}__{trial}__alpha_{alpha}", tags)
            rows.append({"method": method, "alpha": alpha, **run.metrics, "run_id": run.run_id})
    table = pd.DataFrame(rows)
    ranked = table.sort_values("tradeoff_auc", ascending=False, na_position="last")
    best = ranked.drop_duplicates("method")
    shown = ["method", "alpha", "weighted_auc", "overall_acc", "none_acc", "tradeoff_auc"]
    return dg.MaterializeResult(
        metadata={
            "runs": len(table),
            "grid": dg.MetadataValue.md(table[shown].to_markdown(index=False)),
            "best_alpha_by_tradeoff_auc": dict(zip(best["method"], best["alpha"], strict=True)),
        }
    )
