"""Materialise assets in-process, into the Dagster instance under EMBAUG_HOME, one run per
partition, so the Dagster UI and the MLflow UI show exactly what the command line ran."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from embaug_core.home import Home
from embaug_core.progress import Progress
from embaug_core.tracking import ALPHA_SEARCH
from embaug_core.tracking.results import current_runs, finished_runs
from embaug_pipeline import definitions
from embaug_pipeline.assets.reporting import CHAMPION_CHECK
from embaug_pipeline.partitions import METHOD_KEYS, TRIALS, trial_method_key
from embaug_pipeline.resources import (
    PARENT_RUN_TAG,
    EncodersResource,
    MlflowResource,
    StoreResource,
)

logger = logging.getLogger(__name__)
EMBEDDING_ASSETS = ("text_embeddings", "image_embeddings")
SERVING_ASSETS = ("production_model", "predictions", "labeling_queue")
PID_TAG, HOST_TAG = "embaug/pid", "embaug/host"
#: Where a training run stands in the grid ("model 12 of 50"), shown in its Dagster log.
COUNTER_TAG = "embaug/grid_position"
#: Dagster's console log of in-process runs: quiet (the event log keeps everything, and the
#: command line shows embaug's own progress and one line per failure); EMBAUG_DAGSTER_LOG=INFO
#: (or `embaug demo --verbose`) prints Dagster's events too.
CONSOLE_LEVEL = os.environ.get("EMBAUG_DAGSTER_LOG", "CRITICAL")


@dataclass
class GraphOptions:
    """What `embaug demo` runs: catalogue, sample, trials, methods and asset config."""

    data: str = ""
    sample_fraction: float = 0.1
    #: More raw_products config: label_column, features, image_roots, ...
    catalogue: dict[str, object] = field(default_factory=dict)
    trials: int = len(TRIALS)
    methods: Sequence[str] = tuple(METHOD_KEYS)
    epochs: int = 48
    training: dict[str, object] = field(default_factory=dict)
    splits: dict[str, object] = field(default_factory=dict)
    report: dict[str, object] = field(default_factory=dict)


class GraphFailure(RuntimeError):
    """A step of the graph failed; the message is its cause in a line or two, `detail` the
    whole error with its stack (shown with --verbose)."""

    def __init__(self, step: str, cause: str, detail: str, run_id: str):
        super().__init__(f"{step} failed: {cause}")
        self.step, self.cause, self.detail, self.run_id = step, cause, detail, run_id


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


INSTANCE_YAML = """\
# Written by embaug (edit freely; it is not overwritten).
concurrency:
  pools:
    default_limit: 1  # the pool embaug_duckdb: one DuckDB writer at a time, across runs
  runs:
    max_concurrent_runs: {runs}  # training runs side by side: the cores, at least 2
telemetry:
  enabled: false
"""


def prepare_home() -> Home:
    """Create EMBAUG_HOME and point Dagster at its instance folder, whose dagster.yaml (written
    once) limits DuckDB writers to one at a time and runs to the number of cores."""
    home = Home.from_env().create()
    os.environ["EMBAUG_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    instance_yaml = home.dagster_home / "dagster.yaml"
    if not instance_yaml.exists() or not instance_yaml.read_text().strip():
        instance_yaml.write_text(INSTANCE_YAML.format(runs=max(2, os.cpu_count() or 1)))
    return home


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-process runs of this host whose process is gone (killed, say with
    SIGKILL), and free the DuckDB pool slots they held: else the next run waits for them
    forever. Returns their run ids."""
    runs = instance.get_runs(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={HOST_TAG: socket.gethostname()},
        )
    )
    abandoned = [run for run in runs if not _alive(int(run.tags[PID_TAG]))]
    for run in abandoned:
        instance.report_run_failed(run, f"its process {run.tags[PID_TAG]} is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        logger.warning("run %s was abandoned by a killed process: marked failed", run.run_id)
    return [run.run_id for run in abandoned]


def run_assets(
    selection: list[str],
    instance: dg.DagsterInstance,
    config: dict[str, dict] | None = None,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One in-process run of the selected assets, with per-asset config, tagged with this
    process so that a later run can tell if it was killed."""
    release_abandoned_runs(instance)
    started = time.perf_counter()
    run_config = {
        "loggers": {"console": {"config": {"log_level": CONSOLE_LEVEL}}},
        "ops": {
            name: {"config": value} for name, value in (config or {}).items() if name in selection
        },
    }
    result = dg.materialize(
        definitions.ASSETS,
        selection=selection,
        partition_key=partition_key,
        run_config=run_config,
        instance=instance,
        resources=definitions.RESOURCES,
        tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), **(tags or {})},
        raise_on_error=False,
    )
    logger.info(
        "%s %s: %.1f s", ",".join(selection), partition_key or "", time.perf_counter() - started
    )
    failure = step_failure(result)
    if failure:
        raise GraphFailure(*failure, result.run_id)
    return result


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str, str] | None:
    """The first failed step, the root cause of its error and the whole error, or None. A
    failed blocking check is not a step failure: the caller reads the check's evaluation."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            chain = [event.step_failure_data.error]
            while chain[-1].cause is not None:
                chain.append(chain[-1].cause)
            if any(error.cls_name == "DagsterAssetCheckFailedError" for error in chain):
                continue
            detail = event.step_failure_data.error.to_string()
            return str(event.step_key), _without_class(chain[-1]), detail
    return None


def _without_class(error) -> str:
    """An error's message without its exception class ("CatalogError: ...")."""
    message = error.message.strip()
    prefix = f"{error.cls_name}: "
    return message.split(prefix, 1)[1] if prefix in message[: len(prefix) + 200] else message


def check_outcome(result: dg.ExecuteInProcessResult, check: str) -> dict[str, object]:
    """A check's verdict and metadata from a run ({} when it was not evaluated)."""
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == check:
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            return {"passed": evaluation.passed, **meta}
    return {}


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
        "trained_models": {"epochs": options.epochs, **options.training},
        "evaluation_report": options.report,
    }
    encoded = run_assets(["raw_products", *EMBEDDING_ASSETS, "human_labels"], instance, config)
    trials = TRIALS[: options.trials]
    for trial in trials:
        run_assets(["trial_splits", "label_sets"], instance, config, trial)
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    parent = {PARENT_RUN_TAG: MlflowResource().parent_run(f"graph {stamp}", f"embaug {stamp}")}
    models = Progress(len(trials) * len(options.methods), "models")
    for trial in trials:
        for method in options.methods:
            key = str(trial_method_key(trial, method))
            counter = f"model {models.done + 1} of {models.total}"
            run_assets(["trained_models"], instance, config, key, {**parent, COUNTER_TAG: counter})
            logger.info("%s (%s on %s)", models.advance(), method, trial)
    reported = run_assets(["evaluation_report", *SERVING_ASSETS], instance, config)
    results = StoreResource().get().query("SELECT * FROM results")
    embeddings = {name: _metadata(encoded, name) for name in EMBEDDING_ASSETS}
    serving = {
        name: _metadata(reported, name)
        for name in SERVING_ASSETS
        if reported.asset_materializations_for_node(name)
    }
    return GraphOutcome(results, embeddings, check_outcome(reported, CHAMPION_CHECK), serving)


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
    keep = ("label_column", "features", "image_roots", "sample_seed")
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
    for trial in TRIALS[:trials]:
        run_assets(["alpha_search"], instance, {"alpha_search": settings}, trial)
    tracking = definitions.RESOURCES["tracking"]
    lineage = EncodersResource().lineage(StoreResource().get())
    runs = current_runs(finished_runs(tracking.uri(), tracking.experiment, ALPHA_SEARCH), lineage)
    return runs.assign(method=runs["method"] + "@" + runs["variant"])
