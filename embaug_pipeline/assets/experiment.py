"""trial_splits (per trial) and trained_models (per trial x method, one MLflow run each)."""

import dagster as dg
import mlflow
import pandas as pd
from pydantic import Field

from embaug_core.embeddings import product_vectors
from embaug_core.experiment import run_method, trial_data
from embaug_core.methods import get_method
from embaug_core.splits import SplitConfig, make_split, split_fingerprint, split_summary, trial_seed
from embaug_core.tracking import TAG_METHOD, TAG_SPLIT, TAG_TRIAL, log_classifier
from embaug_core.train import TrainConfig
from embaug_pipeline.assets.catalog import raw_products
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.partitions import trial_method_partitions, trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, MlflowResource, StoreResource


class SplitSettings(dg.Config):
    train_fraction: float = 0.1
    pool_fraction: float = Field(
        0.5, description="Share of the non-training products left unlabeled"
    )
    holdout_class_fraction: float = Field(
        0.1, description="Share of classes (>= 10 products) never trained on"
    )
    min_holdout_class_size: int = 10
    base_seed: int = 0


@dg.asset(
    group_name="experiment",
    partitions_def=trial_partitions,
    deps=[raw_products],
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
def trial_splits(
    context: dg.AssetExecutionContext, config: SplitSettings, store: StoreResource
) -> dg.MaterializeResult:
    """Train / unlabeled pool / validation hold-out per trial, with whole classes held out."""
    products = store.get().products()
    categories = pd.Series(products["category"].to_numpy(), index=products["product_id"])
    settings = SplitConfig(
        config.train_fraction,
        config.pool_fraction,
        config.holdout_class_fraction,
        config.min_holdout_class_size,
    )
    split = make_split(categories, trial_seed(context.partition_key, config.base_seed), settings)
    store.get().replace_split(context.partition_key, split)
    return dg.MaterializeResult(
        metadata={**split_summary(split), "split_sha256": split_fingerprint(split)}
    )


class TrainingSettings(dg.Config):
    epochs: int = Field(48, description="The paper ran 576")
    batch_size: int = 128
    lr_min: float = 3e-4
    lr_max: float = 3e-3
    step_epochs: int = 12
    weight_decay: float = 1e-4
    head: str = Field("mlp", description="mlp (embedding-augmentation paper) or linear")
    standardize: bool = True
    seed: int = 0
    alpha: float = 0.3
    softness: float = 0.05
    negative_mass: float = 1.0
    gamma: float = 2.8
    threshold: float = 0.6

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            self.epochs,
            self.batch_size,
            self.lr_min,
            self.lr_max,
            self.step_epochs,
            self.weight_decay,
            self.head,
            self.standardize,
            self.seed,
        )

    def augmentation(self) -> dict[str, float]:
        return {
            "alpha": self.alpha,
            "softness": self.softness,
            "negative_mass": self.negative_mass,
            "gamma": self.gamma,
        }


@dg.asset(
    group_name="experiment",
    partitions_def=trial_method_partitions,
    # Dagster maps each (trial, method) partition to its trial's split by itself.
    deps=[trial_splits, text_embeddings, image_embeddings],
    kinds={"pytorch", "mlflow"},
)
def trained_models(
    context: dg.AssetExecutionContext,
    config: TrainingSettings,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
) -> dg.MaterializeResult:
    """Train one method on one trial's split and log the run, its curves and model to MLflow."""
    keys = context.partition_key.keys_by_dimension
    trial, method = keys["trial"], keys["method"]
    split = store.get().split(trial)
    data = trial_data(
        product_vectors(store.get(), encoders.text().identity, encoders.image().identity), split
    )
    tags = {
        TAG_TRIAL: trial,
        TAG_METHOD: method,
        TAG_SPLIT: split_fingerprint(split),
        "dagster.run_id": context.run.run_id,
    }
    with tracking.start_run(f"{method}__{trial}", tags) as run:
        mlflow.log_params(
            {
                **config.model_dump(),
                "method": method,
                "trial": trial,
                "n_train": len(data.y_train),
                "n_eval": len(data.y_eval),
                "n_classes": len(data.classes),
                "input_dim": data.x_train.shape[1],
            }
        )
        classifier, metrics = run_method(
            get_method(method),
            data,
            config.train_config(),
            config.augmentation(),
            config.threshold,
            on_epoch=lambda epoch, values: mlflow.log_metrics(
                {f"epoch_{name}": value for name, value in values.items()}, step=epoch
            ),
        )
        mlflow.log_metrics(metrics)
        model_uri = log_classifier(classifier)
    context.log.info(
        f"{method} on {trial}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    )
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run.info.run_id,
            "mlflow_experiment_id": run.info.experiment_id,
            "model_uri": model_uri,
            **{k: float(v) for k, v in metrics.items()},
        }
    )
