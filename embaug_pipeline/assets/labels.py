"""label_sets: seeds grown through nearest neighbours, and the label-propagation baseline."""

import dagster as dg

from embaug_core.label_sets import (
    LabelSettings,
    build_label_sets,
    label_quality,
    label_set_problems,
)
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.assets.splits import trial_splits
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, StoreResource

LabelConfig = config_class("LabelConfig", LabelSettings)

LABELS_CHECK = "classes_disjoint_and_holdout_never_labelled"


@dg.asset(
    group_name="experiment",
    partitions_def=trial_partitions,
    check_specs=[dg.AssetCheckSpec(LABELS_CHECK, asset="label_sets")],
    deps=[trial_splits, text_embeddings, image_embeddings],
    kinds={"faiss", "duckdb"},
    pool=DUCKDB_POOL,
)
def label_sets(
    context: dg.AssetExecutionContext,
    config: LabelConfig,
    store: StoreResource,
    encoders: EncodersResource,
) -> dg.MaterializeResult:
    """Seeds, similarity-augmented and propagated labels of one trial, and their precision."""
    db, trial = store.get(), context.partition_key
    split = db.split(trial)
    vectors, lineage = encoders.vectors(db)
    if trial not in lineage.splits:
        raise dg.Failure(f"{trial}'s split was made on another catalogue: rematerialise it first")
    sets = build_label_sets(vectors, split, settings_of(config, LabelSettings))
    db.replace_label_sets(trial, sets.table, lineage.key(trial))
    quality = label_quality(sets.table, split)
    overall = quality[quality["label"] == "ALL"].set_index("source")
    context.log.info(f"{sets.augmented.n_steps} steps in {sets.seconds:.1f} s\n{overall}")
    problems = label_set_problems(sets.table, split)
    check = dg.AssetCheckResult(
        check_name=LABELS_CHECK, passed=not any(problems.values()), metadata=problems
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "steps": sets.augmented.n_steps,
            "augmentation_seconds": round(sets.seconds, 2),
            **{
                f"{source}_{name}": float(overall.loc[source, name])
                for source in overall.index
                for name in ("labels", "precision", "coverage")
            },
            "largest_classes": dg.MetadataValue.md(
                sets.augmented.sizes().head(20).to_markdown(index=False)
            ),
            "quality_by_class": dg.MetadataValue.md(
                quality.sort_values(["source", "labels"], ascending=[True, False])
                .groupby("source")
                .head(20)
                .to_markdown(index=False, floatfmt=".3f")
            ),
        },
    )
