"""trial_splits: train / unlabeled pool / validation hold-out per trial."""

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.splits import SplitConfig, make_split, split_fingerprint, split_summary, trial_seed
from embaug_pipeline.assets.catalog import raw_products
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource


class SplitSettings(dg.Config):
    train_fraction: float = 0.1
    pool_fraction: float = Field(0.5, description="Share of non-training products left unlabeled")
    holdout_class_fraction: float = Field(
        0.1, description="Share of classes (>= 10 products) never trained on; 0 = the paper"
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
    """Whole classes held out (the "none" category), a random share of the rest trained on."""
    products = store.get().products()
    categories = pd.Series(products["category"].to_numpy(), index=products["product_id"])
    settings = SplitConfig(**config.model_dump(exclude={"base_seed"}))
    split = make_split(categories, trial_seed(context.partition_key, config.base_seed), settings)
    store.get().replace_split(context.partition_key, split)
    return dg.MaterializeResult(
        metadata={**split_summary(split), "split_sha256": split_fingerprint(split)}
    )
