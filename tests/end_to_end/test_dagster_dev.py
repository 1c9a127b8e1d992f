"""The path people take: `dagster dev` (webserver and daemon) on loopback against a temporary
EMBAUG_HOME. A partition launched through the webserver's GraphQL API, as the UI's button does,
lands in MLflow; a changed catalogue is noticed by the sensor, refreshed, and retrained as one
backfill whose runs share the machine (several at a time) without a lock error, one MLflow run
per partition."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import mlflow
import pytest
from PIL import Image

from embaug_core.common.home import Home
from embaug_core.store import Store
from embaug_pipeline.run.graph import GraphOptions, materialize_graph
from embaug_pipeline.run.runner import prepare_home
from tests.conftest import write_kaggle_slice
from tests.end_to_end.servers import DagsterDev, wait_for

#: Starts `dagster dev` (webserver and daemon) as processes.
pytestmark = pytest.mark.slow

TRIALS = ("trial_0", "trial_1")
#: A small grid keeps the retraining test well inside its limits on a busy machine, and still
#: covers a method that reads label sets (knn_aug) and the peer.
METHODS = ("control", "logreg", "knn_aug")
REPOSITORY = {"repositoryLocationName": "embaug", "repositoryName": "__repository__"}
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory):
    """Catalogue, embeddings, splits and label sets of 2 trials materialised in the instance
    under a temporary EMBAUG_HOME, then `dagster dev` started on it."""
    root = tmp_path_factory.mktemp("dagster_dev")
    catalogue = root / "catalogue"
    write_kaggle_slice(catalogue, per_class=15)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBAUG_HOME", str(root / "home"))
        patch.setenv("EMBAUG_DATA", str(catalogue))
        patch.setenv("EMBAUG_SENSOR_SECONDS", "5")
        patch.setenv("EMBAUG_AUTOMATION", "on")  # chosen, as `embaug ui --automation` does
        # So small a catalogue's champion is under the default floor; the automation's runs,
        # launched with default config, must still rebuild the production model and the queue.
        patch.setenv("EMBAUG_AUC_FLOOR", "0")
        patch.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        home = prepare_home()
        with dg.DagsterInstance.get() as instance:  # the demo's state, which retraining updates
            options = GraphOptions(
                data=str(catalogue),
                sample_fraction=1.0,
                trials=len(TRIALS),
                methods=METHODS,
                epochs=2,
                splits={"train_fraction": 0.4},
            )
            materialize_graph(options, instance)
        server = DagsterDev(root / "dagster_dev.log")
        try:
            yield server.start(timeout=180), home, catalogue
        finally:
            server.stop()


def test_schedule_and_sensors_are_running_in_dagster_dev(dagster_dev):
    server, _, _ = dagster_dev
    data = server.graphql(
        """query($repo: RepositorySelector!) {
          schedulesOrError(repositorySelector: $repo) { ... on Schedules {
            results { name cronSchedule scheduleState { status } } } }
          sensorsOrError(repositorySelector: $repo) { ... on Sensors {
            results { name sensorState { status } } } } }""",
        {"repo": REPOSITORY},
    )
    schedules = {s["name"]: s for s in data["schedulesOrError"]["results"]}
    assert schedules["weekly_retraining"]["cronSchedule"] == "0 3 * * 1"
    assert schedules["weekly_retraining"]["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert sensors == {
        "abandoned_runs": "RUNNING",
        "catalogue_changed": "RUNNING",
        "labels_dropped": "RUNNING",
        "retraining_automation": "RUNNING",
    }


def test_a_partition_launched_like_the_ui_button_succeeds_and_lands_in_mlflow(dagster_dev):
    server, home, _ = dagster_dev
    tags = {
        # As the command line's runs are: the automation does not cascade from this one, which
        # would retrain the report beside the next test's retraining.
        "embaug/trigger": "demo",
        "dagster/partition": "control|trial_0",
        "dagster/partition/method": "control",
        "dagster/partition/trial": "trial_0",
    }
    launched = server.graphql(
        """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } }
             ... on PythonError { message } } }""",
        {
            "params": {
                "selector": {
                    **REPOSITORY,
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": ["trained_models"]}],
                    "assetCheckSelection": [],
                },
                "mode": "default",
                "runConfigData": "{}",
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_for("the run to end", lambda: server.run_status(run_id) in RUN_DONE, 300)
    assert status and server.run_status(run_id) == "SUCCESS", server.log.read_text()[-3000:]
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    runs = client.search_runs([experiment.experiment_id], f"tags.`dagster.run_id` = '{run_id}'")
    assert len(runs) == 1
    assert runs[0].data.tags["embaug.method"] == "control"
    assert runs[0].data.tags["embaug.trial"] == "trial_0"
    assert runs[0].info.status == "FINISHED"


def _add_product(catalogue: Path) -> str:
    """A new product in the real layout: a row, a description and an image of its own."""
    with (catalogue / "styles.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    template = next(row for row in rows if row["articleType"] == "Watches")
    new_id = "999001"
    with (catalogue / "styles.csv").open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(template))
        writer.writerow({**template, "id": new_id, "productDisplayName": "Steel Chronograph Watch"})
    with Image.open(catalogue / "images" / f"{template['id']}.jpg") as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            catalogue / "images" / f"{new_id}.jpg"
        )
    return new_id


def test_a_changed_catalogue_retrains_everything_concurrently_one_run_per_partition(dagster_dev):
    """The sensor notices a new product, the refresh embeds only it, and Dagster's automation
    retrains every partition that exists once, in order, training runs side by side, then the
    report, the production model, its predictions and the queue."""
    server, home, catalogue = dagster_dev
    instance = dg.DagsterInstance.get()
    new_id = _add_product(catalogue)

    def refresh_runs():
        return instance.get_runs(dg.RunsFilter(job_name="catalogue_refresh"))

    refresh = wait_for("the sensor to request a refresh", refresh_runs, 120)[0]
    assert refresh.tags["embaug/trigger"] == "catalogue_changed"

    def queue_rebuilt():
        event = instance.get_latest_materialization_event(dg.AssetKey("labeling_queue"))
        return (
            event is not None and event.run_id != refresh.run_id and event.timestamp > refresh_start
        )

    refresh_start = instance.get_run_record_by_id(refresh.run_id).create_timestamp.timestamp()
    wait_for("the automation to retrain everything", queue_rebuilt, 1500, 5)

    def automation_runs_ended():
        # The queue's materialisation is stored a moment before its run is marked ended.
        found = instance.get_runs(
            dg.RunsFilter(
                tags={"embaug/trigger": "automation"},
                created_after=datetime.fromtimestamp(refresh_start, UTC),
            )
        )
        return found if all(r.is_finished for r in found) else None

    runs = wait_for("the automation's runs to end", automation_runs_ended, 300)
    failed = [
        (r.tags.get("dagster/partition"), r.status.value)
        for r in runs
        if r.status.value != "SUCCESS"
    ]
    assert not failed, f"{failed}\n{server.log.read_text()[-4000:]}"
    assert instance.get_run_by_id(refresh.run_id).status.value == "SUCCESS"

    # Only the new product was embedded; it is in the store and in the retrained splits.
    store = Store(home.duckdb_path)
    assert new_id in set(store.products()["product_id"])
    assert new_id in set(store.query("SELECT product_id FROM splits")["product_id"])
    image_event = instance.get_latest_materialization_event(dg.AssetKey("image_embeddings"))
    assert image_event.run_id == refresh.run_id
    assert image_event.asset_materialization.metadata["computed"].value == 1

    # Every trial x method partition exactly once, each with one MLflow run, side by side.
    training = [r for r in runs if r.tags.get("dagster/partition/method")]
    partitions = sorted(r.tags["dagster/partition"] for r in training)
    assert partitions == sorted(f"{m}|{t}" for m in METHODS for t in TRIALS)
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    logged = client.search_runs(
        [experiment.experiment_id], "tags.`embaug.source` = 'grid'", max_results=1000
    )
    automation_runs = {r.run_id for r in training}
    mine = [r for r in logged if r.data.tags["dagster.run_id"] in automation_runs]
    assert {r.data.tags["dagster.run_id"] for r in mine} == automation_runs and len(mine) == len(
        training
    )
    records = instance.get_run_records(dg.RunsFilter(run_ids=list(automation_runs)))
    spans = sorted((r.start_time, r.end_time) for r in records)
    overlaps = sum(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    assert overlaps > 0, "no two training runs ran at the same time"

    # The report was rebuilt once, from this retraining's runs.
    results = store.query("SELECT DISTINCT run_id FROM results")
    assert set(results["run_id"]) == {r.info.run_id for r in mine}
    assert Home.from_env().reports.joinpath("report.html").is_file()
