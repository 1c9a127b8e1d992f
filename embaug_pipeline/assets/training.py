"""trained_models (trial x method, one MLflow run each) and alpha_search (the paper's grid
search over the Beta parameter, one MLflow run per trial, method and alpha)."""

from dataclasses import dataclass

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.comparison import HEADLINE, for_people
from embaug_core.experiment import CurveSettings, trial_data
from embaug_core.lineage import code_sha256, inputs_sha256
from embaug_core.methods import ALPHA_GRID, get_method
from embaug_core.metrics import DEFAULT_THRESHOLD
from embaug_core.mixup import MixupSettings
from embaug_core.tracking import (
    ALPHA_SEARCH,
    GRID,
    TAG_INPUTS,
    TAG_LINEAGE,
    TAG_METHOD,
    TAG_SOURCE,
    TAG_TRIAL,
    TAG_VARIANT,
)
from embaug_core.tracking.reuse import find_run
from embaug_core.tracking.runs import SplitDataset, TrackedRun, train_tracked
from embaug_core.train import TrainConfig
from embaug_pipeline.assets.embeddings import image_embeddings, text_embeddings
from embaug_pipeline.assets.labels import label_sets
from embaug_pipeline.assets.splits import trial_splits
from embaug_pipeline.conditions import retrain
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.partitions import trial_method_partitions, trial_partitions
from embaug_pipeline.resources import (
    PARENT_RUN_TAG,
    EncodersResource,
    MlflowResource,
    StoreResource,
)

THRESHOLD = (
    float,
    Field(DEFAULT_THRESHOLD, description="Confidence below which a product is 'none'"),
)
TrainingSettings = config_class(
    "TrainingSettings", TrainConfig, MixupSettings, CurveSettings, threshold=THRESHOLD
)


@dataclass(frozen=True)
class TrialInputs:
    """What a trial's run is made from, before any vector is read: its lineage key (what
    makes a run current), the extra labels of a label method, its split (an MLflow dataset)
    and the comparison its runs belong to (the vectors' fingerprint)."""

    trial: str
    lineage: str
    extra: pd.DataFrame | None
    dataset: SplitDataset
    comparison: str

    def fingerprint(self, config: dg.Config, tags: dict[str, str]) -> str:
        """Everything the run's model and figures depend on: unchanged, the run is reused."""
        extra = None if self.extra is None else self.extra[["product_id", "label"]].values.tolist()
        return inputs_sha256(
            lineage=self.lineage,
            extra=extra,
            config=config.model_dump(),
            method=tags[TAG_METHOD],
            source=tags[TAG_SOURCE],
            variant=tags.get(TAG_VARIANT, ""),
            code=code_sha256(),
        )


def _inputs(
    store: StoreResource, encoders: EncodersResource, trial: str, labels: str
) -> TrialInputs:
    """A trial's inputs from DuckDB (split and label sets; no vectors yet)."""
    db = store.get()
    lineage = encoders.lineage(db)
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
    split = db.split(trial)
    dataset = SplitDataset(
        split, f"{trial} split", str(db.catalogue()["path"]), lineage.splits[trial]
    )
    return TrialInputs(trial, key, extra, dataset, lineage.vectors_sha256)


def _train(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
    config: dg.Config,
    inputs: TrialInputs,
    run_name: str,
    tags: dict[str, str],
) -> TrackedRun:
    """One run: found again when its inputs are unchanged, else trained on the trial's
    arrays (read once from DuckDB) and logged."""
    fingerprint = inputs.fingerprint(config, tags)
    found = find_run(tracking.uri(), tracking.experiment_id(), fingerprint)
    if found:
        context.log.info(f"{run_name}: inputs unchanged, reusing MLflow run {found.run_id}")
        return TrackedRun(
            found.run_id, tracking.experiment_id(), found.metrics, found.model_uri, True
        )
    vectors, _ = encoders.vectors(store.get())
    data = trial_data(vectors, inputs.dataset.split, inputs.extra)
    parent = context.run.tags.get(PARENT_RUN_TAG) or tracking.parent_run(
        inputs.comparison, f"comparison on vectors {inputs.comparison[:8]}"
    )
    run = train_tracked(
        tracking.experiment_id(),
        run_name,
        {
            **tags,
            TAG_INPUTS: fingerprint,
            "dagster.run_id": context.run.run_id,
            "mlflow.parentRunId": parent,
        },
        config.model_dump(),
        get_method(tags[TAG_METHOD]),
        data,
        settings_of(config, TrainConfig),
        config.model_dump(include=set(MixupSettings.__dataclass_fields__)),
        config.threshold,
        inputs.dataset,
        settings_of(config, CurveSettings),
    )
    context.log.info(f"{run_name}: " + ", ".join(f"{k}={v:.4f}" for k, v in run.metrics.items()))
    return run


@dg.asset(
    group_name="experiment",
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

    Partitions are every trial (EMBAUG_TRIALS) x method (EMBAUG_METHODS). `embaug demo` runs
    the trials and methods it was asked for, so the others show as missing: run them with
    `embaug demo --trials N`, or select them here and Materialize (after their trial's split
    and label sets)."""
    keys = context.partition_key.keys_by_dimension
    trial, method = keys["trial"], keys["method"]
    if "embaug/grid_position" in context.run.tags:
        context.log.info(f"{context.run.tags['embaug/grid_position']}: {method} on {trial}")
    inputs = _inputs(store, encoders, trial, get_method(method).labels)
    tags = {TAG_TRIAL: trial, TAG_METHOD: method, TAG_LINEAGE: inputs.lineage, TAG_SOURCE: GRID}
    run = _train(context, store, encoders, tracking, config, inputs, f"{method}__{trial}", tags)
    figures = {k: run.metrics[k] for k in HEADLINE if k in run.metrics}
    return dg.MaterializeResult(
        metadata={
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run.run_id)),
            "figures": dg.MetadataValue.md(
                for_people(pd.DataFrame([figures])).to_markdown(index=False, floatfmt=".3f")
            ),
            "reused": run.reused,
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
    CurveSettings,
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
    inputs = _inputs(store, encoders, trial, "seeds")
    rows = []
    for method in config.methods:
        for alpha in config.alphas:
            point = config.model_copy(update={"alpha": alpha})
            tags = {
                TAG_TRIAL: trial,
                TAG_METHOD: method,
                TAG_LINEAGE: inputs.lineage,
                TAG_SOURCE: ALPHA_SEARCH,
                TAG_VARIANT: f"alpha={alpha}",
            }
            name = f"{method}__{trial}__alpha_{alpha}"
            run = _train(context, store, encoders, tracking, point, inputs, name, tags)
            rows.append({"method": method, "alpha": alpha, **run.metrics, "run_id": run.run_id})
    table = pd.DataFrame(rows)
    # Chosen on the selection part S, never on the figures reported (METHODS.md section 7).
    ranked = table.sort_values("select_tradeoff_auc", ascending=False, na_position="last")
    best = ranked.drop_duplicates("method")
    shown = ["method", "alpha", "select_tradeoff_auc", "tradeoff_auc", "weighted_auc"]
    return dg.MaterializeResult(
        metadata={
            "runs": len(table),
            "grid": dg.MetadataValue.md(table[shown].to_markdown(index=False)),
            "best_alpha_on_selection": dict(zip(best["method"], best["alpha"], strict=True)),
        }
    )
