"""trained_models (trial x method, one MLflow run each) and alpha_search (the paper's grid
search over the Beta parameter, one MLflow run per trial, method and alpha)."""

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.embeddings import product_vectors
from embaug_core.experiment import TrialData, trial_data
from embaug_core.methods import get_method
from embaug_core.splits import split_fingerprint
from embaug_core.tracking import (
    TAG_METHOD,
    TAG_SOURCE,
    TAG_SPLIT,
    TAG_TRIAL,
    TAG_VARIANT,
    TrackedRun,
    train_tracked,
)
from embaug_core.train import TrainConfig
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.assets.labels import label_sets
from embaug_pipeline.assets.splits import trial_splits
from embaug_pipeline.partitions import trial_method_partitions, trial_partitions
from embaug_pipeline.resources import EncodersResource, MlflowResource, StoreResource

TRAIN_FIELDS = tuple(TrainConfig.__dataclass_fields__)
AUGMENTATION_FIELDS = ("alpha", "softness", "negative_mass", "gamma")


class TrainingSettings(dg.Config):
    epochs: int = Field(48, description="The paper ran 576")
    batch_size: int = 128
    lr_min: float = 3e-4
    lr_max: float = 3e-3
    step_epochs: int = Field(12, description="Half-cycle of the triangular cyclic LR, in epochs")
    weight_decay: float = 1e-4
    head: str = Field("mlp", description="mlp (embedding-augmentation paper) or linear")
    standardize: bool = Field(True, description="Standardise inputs with training statistics")
    seed: int = 0
    alpha: float = Field(0.3, description="Beta(alpha, alpha) of the pair methods")
    softness: float = 0.05
    negative_mass: float = 1.0
    gamma: float = Field(2.8, description="zeta-mixup exponent")
    threshold: float = Field(0.6, description="Confidence below which a product is 'none'")

    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.model_dump(include=set(TRAIN_FIELDS)))

    def augmentation(self) -> dict[str, float]:
        return self.model_dump(include=set(AUGMENTATION_FIELDS))


def _load_trial(
    store: StoreResource, encoders: EncodersResource, trial: str, labels: str = "seeds"
) -> tuple[TrialData, str]:
    """The trial's arrays, read once from DuckDB, with augmented or propagated labels added
    when `labels` says so, and the fingerprint of its split."""
    db = store.get()
    split = db.split(trial)
    split_sha = split_fingerprint(split)
    extra = None if labels == "seeds" else db.label_set(trial, labels, split_sha)
    vectors = product_vectors(db, encoders.text().identity, encoders.image().identity)
    return trial_data(vectors, split, extra), split_sha


def _train(
    context: dg.AssetExecutionContext,
    tracking: MlflowResource,
    config: TrainingSettings,
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
        config.train_config(),
        config.augmentation(),
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
    data, split_sha = _load_trial(store, encoders, trial, get_method(method).labels)
    tags = {
        TAG_TRIAL: trial,
        TAG_METHOD: method,
        TAG_SPLIT: split_sha,
        TAG_SOURCE: "trained_models",
    }
    run = _train(context, tracking, config, data, f"{method}__{trial}", tags)
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run.run_id,
            "mlflow_experiment_id": run.experiment_id,
            "model_uri": run.model_uri,
            **{k: float(v) for k, v in run.metrics.items()},
        }
    )


class AlphaSearchSettings(TrainingSettings):
    alphas: list[float] = Field(
        default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5], description="The paper's grid"
    )
    methods: list[str] = Field(
        default_factory=lambda: ["e_mixup", "e_stitchup", "soft_e_mixup", "soft_e_stitchup"]
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
    data, split_sha = _load_trial(store, encoders, trial)
    rows = []
    for method in config.methods:
        for alpha in config.alphas:
            point = config.model_copy(update={"alpha": alpha})
            tags = {
                TAG_TRIAL: trial,
                TAG_METHOD: method,
                TAG_SPLIT: split_sha,
                TAG_SOURCE: "alpha_search",
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
