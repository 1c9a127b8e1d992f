"""Team mode for real: a Postgres server and a two-worker Dask cluster, each started and
stopped by the test as separate processes on loopback. The graph materialises through them:
Dagster's instance and MLflow live in Postgres, every trial x method partition runs on a
worker as its own Dagster run, every product is embedded once, and a worker killed mid-run
costs nothing but a rerun of its partition elsewhere."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import mlflow
import pytest

from embaug_core.common.home import Home
from embaug_core.store import Store
from embaug_pipeline.run.graph import GraphOptions, materialize_graph
from embaug_pipeline.run.runner import PID_TAG, prepare_home
from tests.end_to_end.servers import DaskCluster, Postgres, postgres_binaries

METHODS = ("control", "logreg", "knn_aug")
TRIALS = 2
BINARIES = postgres_binaries()
pytestmark = [
    pytest.mark.slow,  # Postgres and Dask as processes
    pytest.mark.skipif(
        BINARIES is None, reason="no PostgreSQL server binaries (pg_ctl) on this machine"
    ),
]


@pytest.fixture(scope="module")
def team(kaggle_slice: Path, tmp_path_factory: pytest.TempPathFactory):
    """Postgres, the shared folder (EMBAUG_HOME) and a scheduler with two workers that see
    the same settings as this process."""
    shared = tmp_path_factory.mktemp("shared")
    postgres = Postgres(BINARIES).start()
    env = {
        "EMBAUG_DATABASE_URL": postgres.url(),
        "EMBAUG_HOME": str(shared / "home"),
        "DAGSTER_HOME": str(shared / "home" / "dagster"),
    }
    cluster = DaskCluster(env)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            patch.setenv("EMBAUG_DASK_SCHEDULER", cluster.address)
            home = prepare_home()
            cluster.start(workers=2)
            yield postgres, cluster, home, kaggle_slice
    finally:
        cluster.stop()
        postgres.stop()


def _options(catalogue: Path, epochs: int) -> GraphOptions:
    return GraphOptions(
        data=str(catalogue),
        sample_fraction=1.0,
        trials=TRIALS,
        methods=METHODS,
        epochs=epochs,
        splits={"train_fraction": 0.4},
        report={"champion_auc_floor": 0.0},
    )


def _partition_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dagster/partition/method")]


def test_the_graph_runs_on_workers_with_everything_in_postgres(team, embeddings_written):
    postgres, cluster, home, catalogue = team
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        outcome = materialize_graph(_options(catalogue, epochs=2), instance)
        runs = _partition_runs(instance)
    assert len(runs) == TRIALS * len(METHODS)
    assert {r.status.value for r in runs} == {"SUCCESS"}
    workers = {str(p.pid) for name, p in cluster.processes.items() if name != "scheduler"}
    assert {r.tags[PID_TAG] for r in runs} <= workers  # each ran in a worker process
    for name in ("text_embeddings", "image_embeddings"):  # embedded in shards on the workers
        assert {str(pid) for pid in outcome.embeddings[name]["embedded_by"]} <= workers
    assert set(outcome.results["method"]) == set(METHODS)
    assert "postgresql" in Home.from_env().mlflow_uri
    client = mlflow.MlflowClient(Home.from_env().mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    logged = client.search_runs([experiment.experiment_id], "tags.`embaug.source` = 'grid'")
    assert len(logged) == len(runs)
    tables = subprocess.run(
        [str(BINARIES / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "embaug",
         "-d", "embaug", "-Atc", "SELECT count(*) FROM mlflow.runs"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert int(tables.stdout) >= len(runs)
    stored = Store(home.duckdb_path).query(
        "SELECT encoder, count(*) AS n FROM embeddings GROUP BY encoder"
    )
    # Every shard merged here once: as many vectors written as there are distinct contents.
    assert embeddings_written == dict(zip(stored["encoder"], stored["n"], strict=True))
    assert (home.reports / "report.html").is_file()


def test_a_worker_killed_mid_run_costs_only_a_rerun_of_its_partition(team, embeddings_written):
    _, cluster, _, catalogue = team
    cluster.add_worker("worker-2")
    cluster.wait_for(3, 120)
    victim = cluster.processes["worker-0"].pid
    with dg.DagsterInstance.get() as instance:
        before = {r.run_id for r in _partition_runs(instance)}

        def kill_when_it_trains() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                running = [
                    r
                    for r in _partition_runs(instance)
                    if r.run_id not in before
                    and r.tags.get(PID_TAG) == str(victim)
                    and r.status == dg.DagsterRunStatus.STARTED
                ]
                if running:
                    cluster.kill("worker-0")
                    return
                time.sleep(0.5)

        killer = threading.Thread(target=kill_when_it_trains, daemon=True)
        killer.start()
        materialize_graph(_options(catalogue, epochs=60), instance)  # new epochs: retrain
        killer.join(timeout=5)
        runs = [r for r in _partition_runs(instance) if r.run_id not in before]
    assert cluster.processes["worker-0"].poll() is not None, "the worker was never killed"
    failed = [r for r in runs if r.status.value == "FAILURE"]
    assert len(failed) == 1 and failed[0].tags[PID_TAG] == str(victim)
    succeeded = {r.tags["dagster/partition"] for r in runs if r.status.value == "SUCCESS"}
    assert len(succeeded) == TRIALS * len(METHODS)  # its partition ran again elsewhere
    assert sum(embeddings_written.values()) == 0  # everything was embedded by the first run
    assert os.environ["EMBAUG_DATABASE_URL"].startswith("postgresql+psycopg2://")
