"""label_sets: seeds grown through nearest neighbours, and the label-propagation baseline."""

import dagster as dg

from embaug_core.common.reuse import fingerprint
from embaug_core.labels.sets import (
    LabelSettings,
    build_label_sets,
    label_quality,
    label_set_problems,
)
from embaug_pipeline.conditions import retrain
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.defs.embeddings.assets import image_embeddings, text_embeddings
from embaug_pipeline.defs.labels.trial_splits import trial_splits
from embaug_pipeline.metadata import table_markdown
from embaug_pipeline.partitions import trial_partitions
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, StoreResource

LabelConfig = config_class("LabelConfig", LabelSettings)

LABELS_CHECK = "classes_disjoint_and_holdout_never_labelled"


@dg.asset(
    group_name="labels",
    partitions_def=trial_partitions,
    check_specs=[
        dg.AssetCheckSpec(
            LABELS_CHECK,
            asset="label_sets",
            description="No product in two classes, no hold-out product labelled, every seed "
            "a training product",
        )
    ],
    deps=[trial_splits, text_embeddings, image_embeddings],
    kinds={"faiss", "duckdb"},
    pool=DUCKDB_POOL,
    automation_condition=retrain(),
)
def label_sets(
    context: dg.AssetExecutionContext,
    config: LabelConfig,
    store: StoreResource,
    encoders: EncodersResource,
) -> dg.MaterializeResult:
    """Seeds, similarity-augmented and propagated labels of one trial, and their precision.
    Unchanged inputs (the trial's split and vectors, these settings, the code) keep the stored
    sets instead of growing them again."""
    db, trial = store.get(), context.partition_key
    split = db.split(trial)
    lineage = encoders.lineage(db)
    if trial not in lineage.splits:
        raise dg.Failure(f"{trial}'s split was made on another catalogue: rematerialise it first")
    made_from = fingerprint(
        ("embaug_core.labels.sets",), settings=config.model_dump(), lineage=lineage.key(trial)
    )
    stored = db.label_sets(trial)
    reused = db.made_from("label_sets", trial) == made_from and not stored.empty
    if reused:
        table, steps, seconds = stored, int(stored["step"].max()), 0.0
        context.log.info(f"{trial}: inputs unchanged, the stored label sets are kept")
    else:
        vectors, _ = encoders.vectors(db)
        sets = build_label_sets(vectors, split, settings_of(config, LabelSettings))
        table, steps, seconds = sets.table, sets.augmented.n_steps, sets.seconds
        db.replace_label_sets(trial, table, lineage.key(trial))
        db.record_settings("label_sets", trial, config.model_dump())
        db.record_made_from("label_sets", trial, made_from)
    quality = label_quality(table, split)
    overall = quality[quality["label"] == "ALL"].set_index("source")
    context.log.info(f"{steps} steps in {seconds:.1f} s ({config.index} search)\n{overall}")
    problems = label_set_problems(table, split)
    check = dg.AssetCheckResult(
        check_name=LABELS_CHECK, passed=not any(problems.values()), metadata=problems
    )
    grown = table[table["source"] == "knn_aug"]["label"].value_counts().rename("augmented")
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "reused": reused,
            "neighbour_index": config.index,
            "steps": steps,
            "augmentation_seconds": round(seconds, 2),
            **{
                f"{source}_{name}": round(float(overall.loc[source, name]), 4)
                for source in overall.index
                for name in ("labels", "precision", "coverage")
            },
            "largest_classes": dg.MetadataValue.md(table_markdown(grown.reset_index(), 20)),
            "quality_by_class": dg.MetadataValue.md(
                table_markdown(
                    quality.sort_values(["source", "labels"], ascending=[True, False])
                    .groupby("source")
                    .head(20),
                    60,
                )
            ),
        },
    )
