"""trial_splits: train / unlabeled pool / validation hold-out per trial."""

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.splits import (
    SplitConfig,
    make_split,
    split_fingerprint,
    split_summary,
    supported_trials,
    trial_index,
)
from embaug_pipeline.assets.catalog import raw_products
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource

SplitSettings = config_class(
    "SplitSettings",
    SplitConfig,
    base_seed=(
        int,
        Field(0, description="Seeds the held-out classes' order; trial_i draws with base_seed + i"),
    ),
)


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
    """Whole classes held out (the "none" category), a random share of the rest trained on,
    drawn among labelled products only."""
    db = store.get()
    products = db.products()
    categories = pd.Series(products["category"].to_numpy(), index=products["product_id"])
    settings = settings_of(config, SplitConfig)
    split = make_split(categories, trial_index(context.partition_key), settings, config.base_seed)
    db.replace_split(context.partition_key, split, str(db.catalogue()["sha256"]))
    return dg.MaterializeResult(
        metadata={
            **split_summary(split),
            "split_sha256": split_fingerprint(split),
            "trials_with_distinct_held_out_classes": _count(supported_trials(categories, settings)),
        }
    )


def _count(trials: float) -> int | str:
    return "any" if trials == float("inf") else int(trials)
