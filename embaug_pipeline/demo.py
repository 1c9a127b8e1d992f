"""Materialise the whole asset graph in-process, into the Dagster instance under EMBAUG_HOME,
so the Dagster UI and the MLflow UI show exactly what the command line ran."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from embaug_core.home import Home
from embaug_pipeline import definitions
from embaug_pipeline.partitions import TRIALS, trial_method_key
from embaug_pipeline.resources import StoreResource

logger = logging.getLogger(__name__)

DEMO_METHODS = ("control", "soft_e_stitchup", "logreg")


@dataclass
class DemoOptions:
    data: str = ""
    sample_fraction: float = 0.1
    trials: int = len(TRIALS)
    methods: Sequence[str] = DEMO_METHODS
    epochs: int = 48
    training: dict[str, object] = field(default_factory=dict)
    splits: dict[str, object] = field(default_factory=dict)


def prepare_home() -> Home:
    """Create EMBAUG_HOME and point Dagster at its instance folder."""
    home = Home.from_env().create()
    os.environ["EMBAUG_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    (home.dagster_home / "dagster.yaml").touch()
    return home


@dataclass
class DemoOutcome:
    """The results table, and what the embedding cache did (metadata per embedding asset)."""

    results: pd.DataFrame
    embeddings: dict[str, dict[str, object]]

    def embedding_lines(self) -> list[str]:
        return [
            f"{name}: {m['requested']} wanted, {m['from_cache']} from cache, "
            f"{m['computed']} computed ({m['items_per_second']}/s)"
            for name, m in self.embeddings.items()
        ]


def materialize_graph(
    options: DemoOptions, instance: dg.DagsterInstance | None = None
) -> DemoOutcome:
    """Run every asset (one run per partition); return the results and the cache's work."""
    prepare_home()
    instance = instance or dg.DagsterInstance.get()
    trials = TRIALS[: options.trials]
    run_config = {
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {
            "raw_products": {
                "config": {"path": options.data, "sample_fraction": options.sample_fraction}
            },
            "trial_splits": {"config": options.splits},
            "trained_models": {"config": {"epochs": options.epochs, **options.training}},
        },
    }

    def run(selection: list[str], partition_key: str | None = None) -> dg.ExecuteInProcessResult:
        started = time.perf_counter()
        config = {
            **run_config,
            "ops": {k: v for k, v in run_config["ops"].items() if k in selection},
        }
        result = dg.materialize(
            definitions.ASSETS,
            selection=selection,
            partition_key=partition_key,
            run_config=config,
            instance=instance,
            resources=definitions.RESOURCES,
        )
        logger.info(
            "%s %s: %.1f s", ",".join(selection), partition_key or "", time.perf_counter() - started
        )
        return result

    encoded = run(["raw_products", "text_embeddings", "image_embeddings"])
    embeddings = {
        name: {
            k: v.value for k, v in encoded.asset_materializations_for_node(name)[0].metadata.items()
        }
        for name in ("text_embeddings", "image_embeddings")
    }
    for trial in trials:
        run(["trial_splits"], trial)
    for trial in trials:
        for method in options.methods:
            run(["trained_models"], str(trial_method_key(trial, method)))
    run(["evaluation_report"])
    return DemoOutcome(StoreResource().get().query("SELECT * FROM results"), embeddings)
