"""The whole asset graph, materialised in-process with temporary DuckDB, MLflow and Dagster."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest

from embaug_core.home import Home
from embaug_core.splits import split_fingerprint
from embaug_core.store import Store
from embaug_core.verdicts import choose_champion
from embaug_pipeline import definitions
from embaug_pipeline.cli import main
from embaug_pipeline.cli.serve import serve_command
from embaug_pipeline.graph import GraphOptions, materialize_alpha_search, materialize_graph
from embaug_pipeline.resources import EncodersResource

METHODS = (
    "control",
    "soft_e_stitchup",
    "logreg",
    "knn_aug",
    "label_prop",
    "knn_aug__soft_e_stitchup",
)


UNLABELLED_PER_CLASS = 3


@pytest.fixture(scope="module")
def catalogue(kaggle_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 72-product slice with the category of 3 products per class left empty: 54 labelled,
    18 unlabelled products to categorise."""
    folder = tmp_path_factory.mktemp("partly_labelled")
    shutil.copytree(kaggle_slice, folder, dirs_exist_ok=True)
    styles = pd.read_csv(folder / "styles.csv", dtype=str, keep_default_na=False)
    blank = styles.groupby("articleType").cumcount() >= 12 - UNLABELLED_PER_CLASS
    styles.loc[blank, "articleType"] = ""
    styles.to_csv(folder / "styles.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def graph_run(catalogue: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("embaug_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBAUG_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.instance_for_test() as instance:
            options = GraphOptions(
                data=str(catalogue),
                sample_fraction=1.0,
                trials=2,
                methods=METHODS,
                epochs=3,
                splits={"train_fraction": 0.4},
                report={"champion_auc_floor": 0.5},
            )
            outcome = materialize_graph(options, instance)
            assert outcome.embeddings["image_embeddings"]["computed"] == 72
            yield Home(home), instance, outcome.results, options


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(definitions.defs)
    keys = {key.to_user_string() for key in definitions.defs.resolve_all_asset_keys()}
    assert keys == {
        "raw_products",
        "text_embeddings",
        "image_embeddings",
        "trial_splits",
        "label_sets",
        "trained_models",
        "alpha_search",
        "evaluation_report",
        "human_labels",
        "production_model",
        "predictions",
        "labeling_queue",
    }


def test_every_trial_and_method_lands_in_results_and_report(graph_run):
    home, _, results, _ = graph_run
    assert set(results["method"]) == set(METHODS)
    assert set(results["trial"]) == {"trial_0", "trial_1"}
    assert results.groupby(["trial", "method"])["run_id"].nunique().eq(1).all()
    report = (home.reports / "report.html").read_text()
    assert all(method in report for method in METHODS)
    assert "weighted AUC" in report and "weighted_auc" not in report  # people's names


def test_one_mlflow_run_per_partition_with_per_epoch_metrics(graph_run):
    home, _, _, _ = graph_run
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    runs = client.search_runs([experiment.experiment_id], "tags.`embaug.source` = 'grid'")
    assert len(runs) == 2 * len(METHODS)
    for run in runs:
        tags = run.data.tags
        assert run.info.run_name == f"{tags['embaug.method']}__{tags['embaug.trial']}"
        assert tags["dagster.run_id"]
        assert 0 <= run.data.metrics["holdout/weighted_auc"] <= 1
        assert run.data.tags["mlflow.parentRunId"]
        history = client.get_metric_history(run.info.run_id, "epoch/overall_acc")
        expected_steps = [] if tags["embaug.method"] == "logreg" else [1, 2, 3]
        assert [m.step for m in history] == expected_steps
        assert run.data.params["epochs"] == "3"


def test_mlflow_shows_training_runs_with_their_split_grouped_under_a_parent(graph_run):
    home, _, _, _ = graph_run
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], "tags.`embaug.source` = 'grid'")
    parents = {run.data.tags["mlflow.parentRunId"] for run in runs}
    assert len(parents) == 1 and client.get_run(parents.pop()).info.run_name.startswith("embaug ")
    store = Store(home.duckdb_path)
    for run in runs[:3]:
        [dataset] = run.inputs.dataset_inputs
        trial = run.data.tags["embaug.trial"]
        assert dataset.dataset.name == f"{trial} split"
        assert dataset.dataset.digest == split_fingerprint(store.split(trial))[:16]
        assert "holdout/tradeoff_auc" in run.data.metrics


def test_rematerialising_embeddings_computes_nothing(graph_run):
    home, instance, _, _ = graph_run
    result = dg.materialize(
        definitions.ASSETS,
        selection=["text_embeddings", "image_embeddings"],
        instance=instance,
        resources=definitions.RESOURCES,
    )
    for name in ("text_embeddings", "image_embeddings"):
        metadata = result.asset_materializations_for_node(name)[0].metadata
        assert metadata["computed"].value == 0
        assert metadata["from_cache"].value > 0
    assert Store(home.duckdb_path).query("SELECT count(*) AS n FROM products")["n"][0] == 72


def test_stored_splits_keep_roles_disjoint_and_held_out_classes_untrained(graph_run):
    home, _, _, _ = graph_run
    splits = Store(home.duckdb_path).query("SELECT * FROM splits")
    assert splits.groupby("trial")["product_id"].apply(lambda s: s.is_unique).all()
    for _, split in splits.groupby("trial"):
        trained = set(split.loc[split["role"] == "train", "category"])
        assert split["known"].equals(split["category"].isin(trained))


def test_alpha_grid_is_one_run_per_point_named_after_it(graph_run):
    home, instance, _, _ = graph_run
    settings = {"alphas": [0.1, 0.5], "methods": ["e_mixup", "soft_e_stitchup"], "epochs": 2}
    runs = materialize_alpha_search(1, settings, instance)
    assert set(runs["method"]) == {
        "e_mixup@alpha=0.1",
        "e_mixup@alpha=0.5",
        "soft_e_stitchup@alpha=0.1",
        "soft_e_stitchup@alpha=0.5",
    }
    client = mlflow.MlflowClient(home.mlflow_uri)
    run = client.get_run(runs.loc[runs["method"] == "e_mixup@alpha=0.5", "run_id"].iloc[0])
    assert run.info.run_name == "e_mixup__trial_0__alpha_0.5"
    assert run.data.params["alpha"] == "0.5" and run.data.tags["embaug.source"] == "alpha_search"
    report_runs = Store(home.duckdb_path).query("SELECT DISTINCT run_id FROM results")
    assert not set(runs["run_id"]) & set(report_runs["run_id"])


def test_label_sets_are_disjoint_never_hold_out_and_feed_the_label_methods(graph_run):
    home, _, _, _ = graph_run
    store = Store(home.duckdb_path)
    labels = store.query("SELECT * FROM label_sets")
    splits = store.query("SELECT * FROM splits")
    merged = labels.merge(splits, on=["trial", "product_id"])
    grown = merged[merged["source"] != "label_prop"]
    assert grown.groupby("trial")["product_id"].apply(lambda s: s.is_unique).all()
    assert (merged.loc[merged["source"] == "seed", "role"] == "train").all()
    assert set(merged.loc[merged["source"] != "seed", "role"]) <= {"pool"}
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    for method, source in (("knn_aug", "knn_aug"), ("label_prop", "label_prop")):
        run = client.search_runs([experiment.experiment_id], f"tags.`embaug.method` = '{method}'")[
            0
        ]
        trial = run.data.tags["embaug.trial"]
        extra = ((labels["trial"] == trial) & (labels["source"] == source)).sum()
        seeds = ((splits["trial"] == trial) & (splits["role"] == "train")).sum()
        assert int(run.data.params["n_train"]) == seeds + extra


def test_report_has_figures_and_the_champion_follows_the_rule(graph_run):
    home, _, results, _ = graph_run
    page = (home.reports / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    assert "Paired with the control" in page
    client = mlflow.MlflowClient(home.mlflow_uri, registry_uri=home.mlflow_uri)
    champion = client.get_model_version_by_alias("embaug-classifier", "champion")
    choice = choose_champion(results)
    assert champion.tags["embaug.method"] == choice.method
    assert choice.rule in page
    for method in METHODS:
        assert (
            client.get_model_version_by_alias("embaug-classifier", method).tags["embaug.method"]
            == method
        )
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, "figures")}
    assert "figures/threshold_sweep.png" in artifacts and "figures/roc.png" in artifacts
    stored = Store(home.duckdb_path).query("SELECT count(*) AS n FROM paired_differences")
    assert stored["n"][0] > 0


def test_every_unlabelled_product_is_predicted_once_per_model_version(graph_run):
    home, instance, _, _ = graph_run
    store = Store(home.duckdb_path)
    predicted = store.predictions()
    unlabelled = store.products().loc[lambda p: p["category"].isna(), "product_id"]
    assert sorted(predicted["product_id"]) == sorted(unlabelled)
    assert len(predicted) == 6 * UNLABELLED_PER_CLASS
    classes = set(store.products()["category"].dropna())
    assert set(predicted["category"].dropna()) <= classes
    assert (predicted["category"].isna() == predicted["none"]).all()
    assert (predicted["p_1"] >= predicted["p_2"]).all() and predicted[
        "model_version"
    ].nunique() == 1
    assert (home.reports / "predictions.parquet").is_file()
    page = (home.reports / "report.html").read_text()  # refreshed after the predictions ran
    assert "No predictions yet" not in page and "Predictions of the production model" in page
    again = dg.materialize(
        definitions.ASSETS,
        selection=["predictions"],
        instance=instance,
        resources=definitions.RESOURCES,
    )
    metadata = again.asset_materializations_for_node("predictions")[0].metadata
    assert metadata["newly_scored"].value == 0 and metadata["already_scored"].value == 18


def test_the_production_model_is_the_recommended_method_on_every_label(graph_run):
    home, instance, results, _ = graph_run
    client = mlflow.MlflowClient(home.mlflow_uri, registry_uri=home.mlflow_uri)
    production = client.get_model_version_by_alias("embaug-classifier", "production")
    champion = client.get_model_version_by_alias("embaug-classifier", "champion")
    assert production.tags["embaug.role"] == "production"
    assert champion.tags["embaug.role"] == "evidence"
    assert production.tags["embaug.method"] == choose_champion(results).method
    run = client.get_run(production.run_id)
    assert run.data.params["labelled_products"] == "54"
    assert run.data.tags["embaug.source"] == "production"
    assert "chosen because" in production.description
    rerun = dg.materialize(
        definitions.ASSETS,
        selection=["production_model"],
        instance=instance,
        resources=definitions.RESOURCES,
    )
    metadata = rerun.asset_materializations_for_node("production_model")[0].metadata
    assert metadata["reused"].value is True
    assert metadata["version"].value == int(production.version)


def test_labeling_queue_holds_only_none_predictions_most_uncertain_first(graph_run):
    home, _, _, _ = graph_run
    store = Store(home.duckdb_path)
    queue = store.query("SELECT * FROM labeling_queue ORDER BY rank")
    none = store.predictions().loc[lambda p: p["none"], "product_id"]
    assert sorted(queue["product_id"]) == sorted(none)
    assert queue["uncertainty"].is_monotonic_decreasing
    written = pd.read_csv(home.reports / "labeling_queue.csv", dtype=str)
    assert "category" in written.columns and len(written) == len(queue)


def test_checks_pass_and_a_champion_below_the_floor_blocks_production(graph_run):
    home, instance, _, _ = graph_run
    for asset, check in (
        ("raw_products", "rejected_share_below_limit"),
        ("text_embeddings", "vectors_complete_finite_and_of_expected_width"),
        ("image_embeddings", "vectors_complete_finite_and_of_expected_width"),
        ("label_sets", "classes_disjoint_and_holdout_never_labelled"),
        ("evaluation_report", "champion_weighted_auc_above_floor"),
    ):
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(asset), check)]
        )[dg.AssetCheckKey(dg.AssetKey(asset), check)]
        assert record.evaluation.passed, (asset, check)
    before = Store(home.duckdb_path).query("SELECT count(*) AS n FROM labeling_queue")["n"][0]
    result = dg.materialize(
        definitions.ASSETS,
        selection=["evaluation_report", "production_model", "predictions", "labeling_queue"],
        instance=instance,
        resources=definitions.RESOURCES,
        raise_on_error=False,
        run_config={"ops": {"evaluation_report": {"config": {"champion_auc_floor": 0.9999}}}},
    )
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    assert not result.asset_materializations_for_node("production_model")
    assert not result.asset_materializations_for_node("labeling_queue")
    after = Store(home.duckdb_path).query("SELECT count(*) AS n FROM labeling_queue")["n"][0]
    assert after == before


def test_the_report_does_not_depend_on_the_process_wide_mlflow_store(graph_run, tmp_path):
    """A run worker starts with MLflow's default store; registering models must still work."""
    _, instance, _, _ = graph_run
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    result = dg.materialize(
        definitions.ASSETS,
        selection=["evaluation_report"],
        instance=instance,
        resources=definitions.RESOURCES,
        run_config={"ops": {"evaluation_report": {"config": {"champion_auc_floor": 0.5}}}},
    )
    assert result.success


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_served_production_model_answers_like_the_predictions_asset(graph_run):
    """`mlflow models serve` on loopback, a real HTTP request: the same categories and
    probabilities as the predictions asset, and a per-row error for bad rows."""
    home, _, _, _ = graph_run
    store = Store(home.duckdb_path)
    predicted = store.predictions().set_index("product_id").head(3)
    products = store.products().set_index("product_id").loc[predicted.index]
    images = store.image_bytes(products["image_sha256"].tolist())
    records = [
        {
            "product_id": product_id,
            "title": row["title"],
            "description": row["description"],
            "image": base64.b64encode(images[row["image_sha256"]]).decode(),
        }
        for product_id, row in products.iterrows()
    ]
    records.append({"product_id": "bad", "title": "Shirt", "image": "not base64 at all!"})
    records.append({"product_id": "escape", "title": "Shirt", "image_path": "../../etc/passwd"})
    port = _free_port()
    command, env = serve_command("production", "127.0.0.1", port)  # what `embaug serve` runs
    server = subprocess.Popen(
        command,
        env={**env, "MLFLOW_TRACKING_URI": home.mlflow_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except OSError:
                time.sleep(2)
        status, answer = _post(
            f"http://127.0.0.1:{port}/invocations", {"dataframe_records": records}
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert status == 200, answer
    served = pd.DataFrame(answer["predictions"]).set_index("product_id")
    for product_id, row in predicted.iterrows():
        assert served.loc[product_id, "category"] == row["category"]
        assert served.loc[product_id, "probability"] == pytest.approx(row["probability"], abs=1e-4)
        assert bool(served.loc[product_id, "none"]) == bool(row["none"])
    assert "base64" in served.loc["bad", "error"]
    assert "leaves the catalogue folder" in served.loc["escape", "error"]


def test_embaug_predict_categorises_a_file_of_products_training_never_saw(
    graph_run, tmp_path: Path, capsys
):
    from tests.conftest import real_catalogue

    home, _, _, _ = graph_run
    source = real_catalogue()
    styles = pd.read_csv(source / "styles.csv", dtype=str)
    known = set(Store(home.duckdb_path).products()["product_id"])
    chosen = styles[~styles["id"].isin(known)].head(20)
    (tmp_path / "photos").mkdir()
    for product_id in chosen["id"]:
        shutil.copy(source / "images" / f"{product_id}.jpg", tmp_path / "photos")
    rows = pd.DataFrame(
        {
            "id": chosen["id"],
            "title": chosen["productDisplayName"],
            "description": "",
            "image": [f"photos/{i}.jpg" for i in chosen["id"]],
        }
    )
    rows.loc[len(rows)] = ["broken", "Broken Shirt", "", "photos/missing.jpg"]
    rows.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(tmp_path / "new.csv"), "-o", str(out)]) == 0
    table = pd.read_csv(out, dtype=str).set_index("product_id")
    assert len(table) == 21 and table["error"].notna().sum() == 1
    assert table.loc["broken", "error"].startswith("missing image")
    answered = table.drop(index="broken")
    assert (answered["category"].notna() | (answered["none"] == "True")).all()


def test_unchanged_inputs_reuse_runs_label_sets_and_the_report_changed_ones_retrain(graph_run):
    _, instance, _, options = graph_run

    def materialise(selection, partition=None, config=None):
        result = dg.materialize(
            definitions.ASSETS,
            selection=selection,
            partition_key=partition,
            instance=instance,
            resources=definitions.RESOURCES,
            run_config={"ops": config or {}},
        )
        return {
            name: result.asset_materializations_for_node(name)[0].metadata["reused"].value
            for name in selection
        }

    key = "control|trial_0"
    training = {"trained_models": {"config": {"epochs": options.epochs, **options.training}}}
    assert materialise(["trained_models"], key, training) == {"trained_models": True}
    longer = {"trained_models": {"config": {"epochs": options.epochs + 1}}}
    assert materialise(["trained_models"], key, longer) == {"trained_models": False}
    assert materialise(["label_sets"], "trial_0") == {"label_sets": True}
    report = {"evaluation_report": {"config": options.report}}
    materialise(["evaluation_report"], config=report)
    assert materialise(["evaluation_report"], config=report) == {"evaluation_report": True}


def test_peoples_labels_come_back_in_and_the_retraining_trains_on_them(
    graph_run, kaggle_slice: Path, tmp_path: Path, capsys
):
    """The loop: the queue's products labelled by a person (the hidden truth standing in),
    imported with bad rows among them, then a retraining that trains on them."""
    home, instance, _, options = graph_run
    store = Store(home.duckdb_path)
    truth = pd.read_csv(kaggle_slice / "styles.csv", dtype=str).set_index("id")["articleType"]
    unlabelled = sorted(store.predictions()["product_id"])[:9]
    rows = [{"product_id": p, "category": truth[p]} for p in unlabelled]
    rows += [
        {"product_id": "no_such_product", "category": "Watches"},
        {"product_id": unlabelled[0], "category": "Belts"},  # a second label in one file
        {"product_id": sorted(store.predictions()["product_id"])[9], "category": ""},
    ]
    filled = tmp_path / "queue_filled.csv"
    pd.DataFrame(rows).to_csv(filled, index=False)
    assert main(["labels", "import", str(filled)]) == 0
    out, err = capsys.readouterr()
    assert "9 labels stored, 1 rows left empty, 2 rejected" in out
    assert "unknown id: 'no_such_product'" in err and "duplicate id: first seen on line 2" in err
    record = store.label_imports().iloc[0]
    assert record["scored"] == 9 and 0 <= record["model_accuracy"] <= 1
    assert main(["labels", "import", str(filled)]) == 0  # the same file twice: nothing new
    assert len(store.human_labels()) == 9
    latin = tmp_path / "latin.csv"
    latin.write_bytes("product_id,category\n1,Caf\xe9\n".encode("latin-1"))
    assert main(["labels", "import", str(latin)]) == 1
    assert "not UTF-8 text" in capsys.readouterr().err

    outcome = materialize_graph(options, instance)
    splits = store.query("SELECT * FROM splits")
    mine = splits[splits["product_id"].isin(unlabelled)]
    assert set(mine["role"]) == {"train"}  # people's labels train, never enter the pool or H
    assert not set(unlabelled) & set(store.predictions()["product_id"])
    queue = store.query("SELECT product_id FROM labeling_queue")
    assert not set(unlabelled) & set(queue["product_id"])
    model = outcome.serving["production_model"]
    assert model["labelled_products"] == 63 and model["labelled_by_people"] == 9
    assert not model["reused"]


def test_a_changed_catalogue_with_fewer_trials_reports_only_its_own_trials(
    graph_run, kaggle_slice: Path, tmp_path: Path
):
    """Runs and splits of the earlier catalogue are stale: the report leaves them out and says
    which trials it used; images of removed products leave the store with them. (Last in this
    module: it replaces the catalogue the other tests look at.)"""
    home, instance, _, _ = graph_run
    smaller = tmp_path / "smaller"
    shutil.copytree(kaggle_slice, smaller)
    styles = pd.read_csv(smaller / "styles.csv", dtype=str)
    styles[styles["articleType"] != "Belts"].to_csv(smaller / "styles.csv", index=False)
    options = GraphOptions(
        data=str(smaller),
        sample_fraction=1.0,
        trials=1,
        methods=("control", "logreg"),
        epochs=2,
        splits={"train_fraction": 0.4},
        report={"champion_auc_floor": 0.0},
    )
    outcome = materialize_graph(options, instance)
    assert set(outcome.results["trial"]) == {"trial_0"}
    assert set(outcome.results["method"]) == {"control", "logreg"}
    page = (home.reports / "report.html").read_text()
    assert "trial_0" in page and "stale runs left out" in page
    store = Store(home.duckdb_path)
    assert store.query("SELECT count(*) AS n FROM images")["n"][0] == 60
    lineage = EncodersResource().lineage(store)
    assert list(lineage.splits) == ["trial_0"]  # trial_1 was split on the old catalogue
