"""trial_splits: train / unlabeled pool / validation hold-out per trial."""

import dagster as dg
from pydantic import Field

from embaug_core.labels.people import effective_labels
from embaug_core.labels.splits import (
    SplitConfig,
    make_split,
    split_fingerprint,
    split_summary,
    supported_trials,
    trial_index,
)
from embaug_pipeline.conditions import evidence_inputs_ignored, retrain
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.defs.catalog.raw_products import raw_products
from embaug_pipeline.defs.labels.human_labels import MIN_CLASS, human_labels
from embaug_pipeline.metadata import table_markdown
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource

SplitSettings = config_class(
    "SplitSettings",
    SplitConfig,
    base_seed=(
        int,
        Field(0, description="Seeds the held-out classes' order; trial_i draws with base_seed + i"),
    ),
    min_class_products=MIN_CLASS,
)


@dg.asset(
    group_name="labels",
    partitions_def=trial_partitions,
    deps=[raw_products, human_labels],
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    automation_condition=retrain(ignore=evidence_inputs_ignored()),
)
def trial_splits(
    context: dg.AssetExecutionContext, config: SplitSettings, store: StoreResource
) -> dg.MaterializeResult:
    """Whole classes held out (the "none" category), a random share of the rest trained on,
    drawn among labelled products only; products people labelled always train (unless their
    class is held out) and never enter the pool or H."""
    db = store.get()
    categories, people = effective_labels(db, config.min_class_products)
    settings = settings_of(config, SplitConfig)
    trial = trial_index(context.partition_key)
    split = make_split(categories, trial, settings, config.base_seed, train_only=people)
    db.replace_split(context.partition_key, split, str(db.catalogue()["sha256"]))
    db.record_settings("trial_splits", context.partition_key, config.model_dump())
    roles = split.pivot_table(
        index="category", columns="role", values="product_id", aggfunc="count"
    )
    return dg.MaterializeResult(
        metadata={
            "roles_by_class": dg.MetadataValue.md(
                table_markdown(roles.fillna(0).astype(int).reset_index(), 20)
            ),
            **split_summary(split),
            "split_sha256": split_fingerprint(split),
            "trials_with_distinct_held_out_classes": _count(supported_trials(categories, settings)),
        }
    )


def _count(trials: float) -> int | str:
    return "any" if trials == float("inf") else int(trials)
