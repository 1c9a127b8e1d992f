"""What the training assets share: a trial's inputs read from DuckDB, and one run found again
when its inputs are unchanged, else trained and logged to MLflow."""

from dataclasses import dataclass

import dagster as dg
import pandas as pd
from pydantic import Field

from embaug_core.common.reuse import fingerprint
from embaug_core.evaluation.metrics import DEFAULT_THRESHOLD
from embaug_core.tracking import (
    TAG_INPUTS,
    TAG_METHOD,
    TAG_SOURCE,
    TAG_VARIANT,
)
from embaug_core.tracking.pyfunc import load_logged_classifier
from embaug_core.tracking.reuse import find_run
from embaug_core.tracking.runs import SplitDataset, TrackedRun
from embaug_core.training.experiment import CurveSettings, trial_data
from embaug_core.training.logged import train_tracked
from embaug_core.training.methods import Method
from embaug_core.training.mixup import MixupSettings
from embaug_core.training.model import Classifier
from embaug_core.training.train import TrainConfig
from embaug_pipeline.config import config_class, settings_of
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
        return fingerprint(
            ("embaug_core.training.logged",),
            lineage=self.lineage,
            extra=extra,
            config=config.model_dump(),
            method=tags[TAG_METHOD],
            source=tags[TAG_SOURCE],
            variant=tags.get(TAG_VARIANT, ""),
        )


def trial_inputs(
    store: StoreResource, encoders: EncodersResource, trial: str, method: Method
) -> TrialInputs:
    """A trial's inputs for `method` from DuckDB (split and label sets; no vectors yet)."""
    labels = method.labels
    db = store.get()
    lineage = encoders.lineage(db, [trial])  # not every trial's split: they cost a read each
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


def train_or_reuse(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    encoders: EncodersResource,
    tracking: MlflowResource,
    config: dg.Config,
    method: Method,
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
    base = None
    if method.trainer == "open_set":
        base = _base_classifier(tracking, config, method, inputs, tags)
        made = "reused from its partition" if base else "not trained yet: trained here"
        context.log.info(f"{run_name}: the classifier of {method.parts[0]} {made}")
    db = store.get()
    with db.reading():
        vectors, _ = encoders.vectors(db, trials=[])  # the matrix only, no split read
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
        method,
        data,
        settings_of(config, TrainConfig),
        config.model_dump(include=set(MixupSettings.__dataclass_fields__)),
        config.threshold,
        inputs.dataset,
        settings_of(config, CurveSettings),
        base,
    )
    context.log.info(f"{run_name}: " + ", ".join(f"{k}={v:.4f}" for k, v in run.metrics.items()))
    return run


def _base_classifier(
    tracking: MlflowResource,
    config: dg.Config,
    method: Method,
    inputs: TrialInputs,
    tags: dict[str, str],
) -> Classifier | None:
    """The model of an open-set method's part, from the part's own run on the same inputs
    (its partition of this trial), or None when that run does not exist yet."""
    part_tags = {**tags, TAG_METHOD: method.parts[0]}
    found = find_run(
        tracking.uri(), tracking.experiment_id(), inputs.fingerprint(config, part_tags)
    )
    return load_logged_classifier(found.model_uri) if found else None
