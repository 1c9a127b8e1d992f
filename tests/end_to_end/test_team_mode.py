"""Team mode for real: a Postgres server and a two-worker Dask cluster whose workers report host
names of their own (as on separate machines), each started and stopped by the test as
separate processes on loopback. The graph materialises through them: Dagster's instance and
MLflow live in Postgres, every trial x method partition runs on a worker as its own Dagster
run (label sets with an IVF index), every product is embedded once. Runs Dagster launches
itself (a backfill, a run from the UI) run on the workers too. A worker killed mid-run costs a
failed run, its MLflow run ended, and a rerun of its partition elsewhere; a run canceled in
Dagster stops on its worker; a database lost mid-run is one line, and the rerun leaves no run
started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import mlflow
import pytest

from embaug_core.common.home import Home
from embaug_core.store import Store
from embaug_pipeline.cli import EXIT_NO_DATABASE
from embaug_pipeline.run.abandoned import HOST_TAG, IN_PROGRESS, PID_TAG
from embaug_pipeline.run.graph import GraphOptions, materialize_graph
from embaug_pipeline.run.launched_run import WORKER_TAG
from embaug_pipeline.run.runner import prepare_home
from tests.end_to_end.servers import DagsterDev, DaskCluster, Postgres, postgres_binaries, wait_for

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
            patch.setenv("EMBAUG_SENSOR_SECONDS", "5")  # the daemon's abandoned_runs sensor
            home = prepare_home()
            cluster.start(workers=2)
            yield postgres, cluster, home, kaggle_slice
    finally:
        cluster.stop()
        postgres.stop()


def _options(catalogue: Path, epochs: int, **more) -> GraphOptions:
    return GraphOptions(
        data=str(catalogue),
        sample_fraction=1.0,
        trials=TRIALS,
        methods=METHODS,
        epochs=epochs,
        splits={"train_fraction": 0.4},
        report={"champion_auc_floor": 0.0},
        **more,
    )


def _partition_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dagster/partition/method")]


def _mlflow_runs(dagster_run_id: str) -> list:
    client = mlflow.MlflowClient(Home.from_env().mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    found = f"tags.`dagster.run_id` = '{dagster_run_id}'"
    return client.search_runs([experiment.experiment_id], found)


def _worker_hosts(cluster: DaskCluster) -> set[str]:
    hosts = {cluster.host_name(name) for name in cluster.processes if name != "scheduler"}
    assert socket.gethostname() not in hosts
    return hosts


def test_the_graph_runs_on_workers_with_everything_in_postgres(team, embeddings_written):
    postgres, cluster, home, catalogue = team
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        outcome = materialize_graph(_options(catalogue, 2, labels={"index": "ivf"}), instance)
        runs = _partition_runs(instance)
        label_sets = instance.fetch_materializations(dg.AssetKey("label_sets"), limit=10).records
    assert len(runs) == TRIALS * len(METHODS)
    assert {r.status.value for r in runs} == {"SUCCESS"}
    workers = {str(pid) for pid in cluster.workers()}
    assert {r.tags[PID_TAG] for r in runs} <= workers  # each ran in a worker process
    assert {r.tags[HOST_TAG] for r in runs} <= _worker_hosts(cluster)
    assert sorted(r.partition_key for r in label_sets) == ["trial_0", "trial_1"]
    for record in label_sets:  # grown through an IVF index, on the workers
        assert record.asset_materialization.metadata["neighbour_index"].value == "ivf"
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
                    and _mlflow_runs(r.run_id)  # training, logged to MLflow
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
        left = instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    assert cluster.processes["worker-0"].poll() is not None, "the worker was never killed"
    failed = [r for r in runs if r.status.value == "FAILURE"]
    assert len(failed) == 1 and failed[0].tags[PID_TAG] == str(victim)
    # On another machine than the coordinator, its run was failed all the same.
    assert failed[0].tags[HOST_TAG] == cluster.host_name("worker-0") != socket.gethostname()
    assert {r.info.status for r in _mlflow_runs(failed[0].run_id)} <= {"FAILED", "KILLED"}
    assert _mlflow_runs(failed[0].run_id) and not left
    succeeded = {r.tags["dagster/partition"] for r in runs if r.status.value == "SUCCESS"}
    assert len(succeeded) == TRIALS * len(METHODS)  # its partition ran again elsewhere
    assert sum(embeddings_written.values()) == 0  # everything was embedded by the first run
    assert os.environ["EMBAUG_DATABASE_URL"].startswith("postgresql+psycopg2://")


# -- runs Dagster launches itself: the UI's backfill and run buttons, through GraphQL ----------

REPOSITORY = {"repositoryLocationName": "embaug", "repositoryName": "__repository__"}
#: As the command line's runs are: the automation does not retrain downstream of these runs.
NOT_FOR_AUTOMATION = [{"key": "embaug/trigger", "value": "demo"}]
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(
  backfillParams: $params) { __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def _epochs(epochs: int) -> str:
    return json.dumps({"ops": {"trained_models": {"config": {"epochs": epochs}}}})


def _launch(server: DagsterDev, partition: str, epochs: int) -> str:
    """One trained_models partition, launched as the UI's Materialize button does."""
    method, trial = partition.split("|")
    tags = {"dagster/partition": partition, "dagster/partition/method": method,
            "dagster/partition/trial": trial}  # fmt: skip
    selector = {**REPOSITORY, "jobName": "__ASSET_JOB", "assetCheckSelection": [],
                "assetSelection": [{"path": ["trained_models"]}]}  # fmt: skip
    params = {
        "selector": selector,
        "mode": "default",
        "runConfigData": _epochs(epochs),
        "executionMetadata": {
            "tags": NOT_FOR_AUTOMATION + [{"key": k, "value": v} for k, v in tags.items()]
        },
    }
    launched = server.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _ended(run_id: str) -> dg.DagsterRun | None:
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    return run if run.is_finished else None


def _training(run_id: str) -> dg.DagsterRun | None:
    """The run, once its process trains (started, and its MLflow run open)."""
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    running = [r for r in _mlflow_runs(run_id) if r.info.status == "RUNNING"]
    return run if run.status.value == "STARTED" and running and PID_TAG in run.tags else None


def _gone(pid: int) -> bool:
    """No such process, or only its exit status left (a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class ProcessWatch(threading.Thread):
    """Every process whose parent is a worker, seen while it lived (read from /proc)."""

    def __init__(self, cluster: DaskCluster):
        super().__init__(daemon=True)
        self.workers, self.children, self.done = set(cluster.workers()), set(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # ended meanwhile
                if int(fields[1]) in self.workers:
                    self.children.add(int(stat.parent.name))


@pytest.fixture(scope="class")
def dagster_dev(team, tmp_path_factory: pytest.TempPathFactory):
    """`dagster dev` on the team instance, whose dagster.yaml sends launched runs to Dask."""
    server = DagsterDev(tmp_path_factory.mktemp("dagster_dev") / "dagster_dev.log")
    try:
        yield server.start()
    finally:
        server.stop()


class TestRunsDagsterLaunches:
    def test_a_backfill_runs_its_steps_on_the_workers(self, team, dagster_dev):
        _, cluster, _, _ = team
        partitions = ["control|trial_0", "logreg|trial_1"]
        watch = ProcessWatch(cluster)
        watch.start()
        params = {
            "partitionNames": partitions,
            "assetSelection": [{"path": ["trained_models"]}],
            "fromFailure": False,
            "tags": NOT_FOR_AUTOMATION,
            "runConfigData": _epochs(3),
        }
        launched = dagster_dev.graphql(BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched

        def runs_ended() -> list[dg.DagsterRun] | None:
            with dg.DagsterInstance.get() as instance:
                found = instance.get_runs(
                    dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]})
                )
            return found if len(found) == 2 and all(r.is_finished for r in found) else None

        runs = wait_for("the backfill's runs to end", runs_ended, 900, every=5)
        watch.done.set()
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(partitions)
        assert {r.status.value for r in runs} == {"SUCCESS"}, dagster_dev.log.read_text()[-3000:]
        with dg.DagsterInstance.get() as instance:
            for run in runs:
                steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
                pids = {event.dagster_event.pid for event in steps}
                assert pids and pids <= watch.children  # in a process a Dask worker started
                assert run.tags[HOST_TAG] in _worker_hosts(cluster)
                assert run.tags[WORKER_TAG].split()[0] in cluster.workers().values()

    def test_a_launched_run_whose_worker_dies_fails_and_runs_again(self, team, dagster_dev):
        _, cluster, _, _ = team
        run_id = _launch(dagster_dev, "control|trial_1", epochs=300)
        run = wait_for("the run to train on a worker", lambda: _training(run_id), 900, every=0.5)
        victim = run.tags[WORKER_TAG].split()[0]
        cluster.kill(victim, group=False)  # the worker alone: its run's process dies with it
        wait_for("the run's process to die", lambda: _gone(int(run.tags[PID_TAG])), 30, every=0.5)
        failed = wait_for("the run to be failed", lambda: _ended(run_id), 300)
        assert failed.status.value == "FAILURE"
        assert {r.info.status for r in _mlflow_runs(run_id)} <= {"FAILED", "KILLED"}

        def retried() -> dg.DagsterRun | None:
            with dg.DagsterInstance.get() as instance:
                found = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
            return found[0] if found and found[0].is_finished else None

        retry = wait_for("Dagster's retry of the run to end", retried, 900, every=5)
        assert retry.status.value == "SUCCESS", dagster_dev.log.read_text()[-3000:]
        assert retry.tags[HOST_TAG] != cluster.host_name(victim)
        cluster.add_worker(f"{victim}-again")
        cluster.wait_for(2, 120)

    def test_a_run_canceled_in_dagster_stops_on_its_worker(self, team, dagster_dev):
        run_id = _launch(dagster_dev, "control|trial_0", epochs=3000)
        run = wait_for("the run to train on a worker", lambda: _training(run_id), 900, every=0.5)
        terminated = dagster_dev.graphql(
            """mutation($id: String!) { terminateRun(runId: $id) { __typename
                 ... on TerminateRunFailure { message } } }""",
            {"id": run_id},
        )["terminateRun"]
        assert terminated["__typename"] == "TerminateRunSuccess", terminated
        canceled = wait_for("the run to stop", lambda: _ended(run_id), 300)
        assert canceled.status.value == "CANCELED"
        wait_for("the run's process to exit", lambda: _gone(int(run.tags[PID_TAG])), 60, every=0.5)
        assert {r.info.status for r in _mlflow_runs(run_id)} <= {"FAILED", "KILLED"}


def test_a_lost_database_is_one_line_and_the_rerun_leaves_no_run_started(team):
    postgres, _, _, catalogue = team
    demo = [str(Path(sys.executable).with_name("embaug")), "demo", "--data", str(catalogue),
            "--sample-fraction", "1", "--trials", "1", "--methods", "control,logreg",
            "--epochs", "90", "--auc-floor", "0"]  # fmt: skip
    with dg.DagsterInstance.get() as instance:
        before = {r.run_id for r in instance.get_runs()}

        def training() -> bool:
            runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            return any(r.run_id not in before and _mlflow_runs(r.run_id) for r in runs)

        process = subprocess.Popen(demo, stderr=subprocess.PIPE, text=True)
        try:
            wait_for("a training run", training, 900, every=0.5)
        finally:
            postgres.pause()
    _, stderr = process.communicate(timeout=600)
    postgres.resume()
    lines = stderr.strip().splitlines()
    assert process.returncode == EXIT_NO_DATABASE, stderr[-3000:]
    assert "Traceback" not in stderr and "Retrying failed database" not in stderr
    url = postgres.url()
    assert lines[-1].startswith(f"embaug: the team database {url} cannot be reached")
    assert "start it again" in lines[-1]
    assert subprocess.run(demo, capture_output=True, timeout=1200).returncode == 0
    with dg.DagsterInstance.get() as instance:
        assert not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    client = mlflow.MlflowClient(Home.from_env().mlflow_uri)
    experiment = client.get_experiment_by_name("embaug").experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
