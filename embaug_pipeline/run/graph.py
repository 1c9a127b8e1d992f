"""The whole graph as the command line runs it: catalogue and embeddings, people's labels,
each trial's split and label sets, every trial x method model, the report, then the production
model, its predictions and the labeling queue."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from embaug_core.catalog.settings import DEMO_SAMPLE_FRACTION
from embaug_core.common.environment import DASK, setting
from embaug_core.common.progress import Progress
from embaug_core.labels.splits import DEFAULT_TRIALS, trial_names
from embaug_core.tracking import ALPHA_SEARCH
from embaug_core.tracking.results import current_runs, finished_runs
from embaug_core.training.methods import get_method, method_names
from embaug_pipeline.defs.evaluation.evaluation_report import CHAMPION_CHECK
from embaug_pipeline.partitions import add_partitions, trial_method_key
from embaug_pipeline.resources import (
    PARENT_RUN_TAG,
    RESOURCES,
    EncodersResource,
    MlflowResource,
    StoreResource,
)
from embaug_pipeline.run.parallel import PartitionRun, Workers, auto_workers
from embaug_pipeline.run.runner import COUNTER_TAG, check_outcome, prepare_home, run_assets

logger = logging.getLogger(__name__)
EMBEDDING_ASSETS = ("text_embeddings", "image_embeddings")
SERVING_ASSETS = ("production_model", "predictions", "labeling_queue")


@dataclass
class GraphOptions:
    """What `embaug demo` runs: catalogue, sample, trials, methods and asset config."""

    data: str = ""
    sample_fraction: float = DEMO_SAMPLE_FRACTION
    #: More raw_products config: label_column, features, image_roots, ...
    catalogue: dict[str, object] = field(default_factory=dict)
    #: Partitions side by side: local worker processes (0: automatic, `auto_workers`), or the
    #: Dask scheduler's address.
    workers: int = 0
    dask_address: str = field(default_factory=lambda: setting(DASK))
    trials: int = DEFAULT_TRIALS
    methods: Sequence[str] = field(default_factory=lambda: method_names())
    epochs: int = 48
    training: dict[str, object] = field(default_factory=dict)
    splits: dict[str, object] = field(default_factory=dict)
    #: label_sets config: k, the neighbour index (index="ivf", nprobe, ...), ...
    labels: dict[str, object] = field(default_factory=dict)
    report: dict[str, object] = field(default_factory=dict)


@dataclass
class GraphOutcome:
    """The results table, what the embedding cache did (metadata per embedding asset), and the
    champion check (passed, and its metadata)."""

    results: pd.DataFrame
    embeddings: dict[str, dict[str, object]]
    champion_check: dict[str, object] = field(default_factory=dict)
    #: Metadata of the serving assets that ran (production_model, predictions, labeling_queue).
    serving: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def champion_below_floor(self) -> bool:
        return self.champion_check.get("passed") is False

    def serving_lines(self) -> list[str]:
        """What the production model is and did, in a few lines."""
        model = self.serving.get("production_model")
        if not model:
            return []
        made = "reused, inputs unchanged" if model["reused"] else "trained"
        lines = [
            f"Production model: {model['method']} (version {model['version']}, {made}), "
            f"threshold {model['threshold']:.3f}, {model['labelled_products']} labelled products "
            f"({model['labelled_by_people']} by people); {model['model']}"
        ]
        if "expected_overall_acc" in model:
            lines.append(
                f"  expect at that threshold: overall accuracy {model['expected_overall_acc']:.3f}"
                f", none accuracy {model.get('expected_none_acc', float('nan')):.3f} (mean of "
                "the trials' figures there; the report says why they differ from '@tuned')"
            )
        scored = self.serving.get("predictions")
        if scored:
            lines.append(
                f"Predictions: {scored['unlabelled_products']} unlabelled products, "
                f"{scored['newly_scored']} newly scored: {scored['csv']}"
            )
        queue = self.serving.get("labeling_queue")
        if queue:
            lines.append(f"Labeling queue: {queue['queued']} products to label: {queue['csv']}")
        return lines

    def embedding_lines(self) -> list[str]:
        return [
            f"{name}: {m['requested']} wanted, {m['from_cache']} from cache, "
            f"{m['computed']} computed ({m['items_per_second']}/s)"
            for name, m in self.embeddings.items()
        ]


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    materialization = result.asset_materializations_for_node(asset)[0]
    return {key: value.value for key, value in materialization.metadata.items()}


def materialize_graph(
    options: GraphOptions, instance: dg.DagsterInstance | None = None
) -> GraphOutcome:
    """Run every asset of the main graph; return the results and the cache's work."""
    prepare_home()
    instance = instance or dg.DagsterInstance.get()
    config = {
        "raw_products": {
            "path": options.data,
            "sample_fraction": options.sample_fraction,
            **options.catalogue,
        },
        "trial_splits": options.splits,
        "label_sets": options.labels,
        "trained_models": {"epochs": options.epochs, **options.training},
        "evaluation_report": options.report,
    }
    encoded = run_assets(["raw_products", *EMBEDDING_ASSETS, "human_labels"], instance, config)
    trials = trial_names(options.trials)
    add_partitions(instance, trials, options.methods)
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    parent = {PARENT_RUN_TAG: MlflowResource().parent_run(f"graph {stamp}", f"embaug {stamp}")}
    splits = [PartitionRun(("trial_splits", "label_sets"), config, t, label=t) for t in trials]
    with Workers(auto_workers(options.workers, len(splits)), options.dask_address) as workers:
        workers.run(splits, instance)
    materialise_grid(
        instance, trials, options.methods, config, options.dask_address, options.workers, parent
    )
    reported = run_assets(["evaluation_report", *SERVING_ASSETS], instance, config, tags=parent)
    results = StoreResource().get().query("SELECT * FROM results")
    embeddings = {name: _metadata(encoded, name) for name in EMBEDDING_ASSETS}
    serving = {
        name: _metadata(reported, name)
        for name in SERVING_ASSETS
        if reported.asset_materializations_for_node(name)
    }
    return GraphOutcome(results, embeddings, check_outcome(reported, CHAMPION_CHECK), serving)


def materialise_grid(
    instance: dg.DagsterInstance,
    trials: Sequence[str],
    methods: Sequence[str],
    config: dict[str, dict],
    dask_address: str = "",
    workers: int = 0,
    tags: dict[str, str] | None = None,
) -> None:
    """Every trial x method partition of `trained_models`, one Dagster run each, side by side
    on the workers, with a counter ("model 12 of 50") in the log and each run's tags. Open-set
    methods run after the others, so each finds its part's model trained."""
    waves = [
        [m for m in methods if get_method(m).trainer != "open_set"],
        [m for m in methods if get_method(m).trainer == "open_set"],
    ]
    grid = [(trial, method) for wave in waves for trial in trials for method in wave]
    models = Progress(len(grid), "models")
    runs = [
        PartitionRun(
            ("trained_models",),
            config,
            str(trial_method_key(trial, method)),
            {**(tags or {}), COUNTER_TAG: f"model {number} of {len(grid)}"},
            f"{method} on {trial}",
        )
        for number, (trial, method) in enumerate(grid, start=1)
    ]
    first = sum(len(trials) * len(wave) for wave in waves[:1])
    with Workers(auto_workers(workers, len(runs)), dask_address) as pool:
        for part in (runs[:first], runs[first:]):
            pool.run(
                part, instance, lambda run: logger.info("%s (%s)", models.advance(), run.label)
            )


def last_options() -> GraphOptions:
    """The options of the last graph run, read back from the store: the catalogue and how it
    was loaded, the current trials, the methods compared and the champion's epochs."""
    prepare_home()
    store = StoreResource().get()
    if not store.path.exists():
        raise LookupError(f"{store.path}: nothing to retrain yet; run `embaug demo` first")
    catalogue = store.catalogue()
    settings = json.loads(catalogue["settings"] or "{}")
    results = store.query("SELECT DISTINCT trial, method FROM results")
    params = json.loads(store.recommendation()["params"])
    keep = ("label_column", "features", "image_roots", "sample_seed", "unlabelled_fraction")
    return GraphOptions(
        data=str(catalogue["path"]),
        sample_fraction=float(settings.get("sample_fraction", 1.0)),
        catalogue={k: settings[k] for k in keep if k in settings},
        trials=max(1, results["trial"].nunique()),
        methods=sorted(results["method"].unique()),
        epochs=int(params.get("epochs", 48)),
    )


def materialize_alpha_search(
    trials: int, settings: dict[str, object], instance: dg.DagsterInstance | None = None
) -> pd.DataFrame:
    """The alpha grid on the stored splits, one Dagster run per trial; returns the grid's
    finished MLflow runs on the current splits, the method column labelled `method@alpha=a`."""
    prepare_home()
    instance = instance or dg.DagsterInstance.get()
    add_partitions(instance, trial_names(trials))
    for trial in trial_names(trials):
        run_assets(["alpha_search"], instance, {"alpha_search": settings}, trial)
    tracking = RESOURCES["tracking"]
    lineage = EncodersResource().lineage(StoreResource().get())
    runs = current_runs(finished_runs(tracking.uri(), tracking.experiment, ALPHA_SEARCH), lineage)
    return runs.assign(method=runs["method"] + "@" + runs["variant"])
