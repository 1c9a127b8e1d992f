"""The whole asset graph, materialised in-process with temporary DuckDB, MLflow and Dagster."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest

from embaug_core.comparison import choose_champion
from embaug_core.home import Home
from embaug_core.store import Store
from embaug_pipeline import definitions
from embaug_pipeline.resources import EncodersResource
from embaug_pipeline.runner import GraphOptions, materialize_alpha_search, materialize_graph

METHODS = (
    "control",
    "soft_e_stitchup",
    "logreg",
    "knn_aug",
    "label_prop",
    "knn_aug__soft_e_stitchup",
)


@pytest.fixture(scope="module")
def graph_run(kaggle_slice: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("embaug_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBAUG_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.instance_for_test() as instance:
            options = GraphOptions(
                data=str(kaggle_slice),
                sample_fraction=1.0,
                trials=2,
                methods=METHODS,
                epochs=3,
                splits={"train_fraction": 0.4},
                report={"champion_auc_floor": 0.5},
            )
            outcome = materialize_graph(options, instance)
            assert outcome.embeddings["image_embeddings"]["computed"] == 72
            yield Home(home), instance, outcome.results


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
        "labeling_queue",
    }


def test_every_trial_and_method_lands_in_results_and_report(graph_run):
    home, _, results = graph_run
    assert set(results["method"]) == set(METHODS)
    assert set(results["trial"]) == {"trial_0", "trial_1"}
    assert results.groupby(["trial", "method"])["run_id"].nunique().eq(1).all()
    report = (home.reports / "report.html").read_text()
    assert all(method in report for method in METHODS) and "weighted_auc" in report


def test_one_mlflow_run_per_partition_with_per_epoch_metrics(graph_run):
    home, _, _ = graph_run
    client = mlflow.MlflowClient(home.mlflow_uri)
    experiment = client.get_experiment_by_name("embaug")
    runs = client.search_runs([experiment.experiment_id], "tags.`embaug.source` = 'grid'")
    assert len(runs) == 2 * len(METHODS)
    for run in runs:
        tags = run.data.tags
        assert run.info.run_name == f"{tags['embaug.method']}__{tags['embaug.trial']}"
        assert tags["dagster.run_id"]
        assert 0 <= run.data.metrics["weighted_auc"] <= 1
        history = client.get_metric_history(run.info.run_id, "epoch_overall_acc")
        expected_steps = [] if tags["embaug.method"] == "logreg" else [1, 2, 3]
        assert [m.step for m in history] == expected_steps
        assert run.data.params["epochs"] == "3"


def test_rematerialising_embeddings_computes_nothing(graph_run):
    home, instance, _ = graph_run
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
    home, _, _ = graph_run
    splits = Store(home.duckdb_path).query("SELECT * FROM splits")
    assert splits.groupby("trial")["product_id"].apply(lambda s: s.is_unique).all()
    for _, split in splits.groupby("trial"):
        trained = set(split.loc[split["role"] == "train", "category"])
        assert split["known"].equals(split["category"].isin(trained))


def test_alpha_grid_is_one_run_per_point_named_after_it(graph_run):
    home, instance, _ = graph_run
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
    home, _, _ = graph_run
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
    home, _, results = graph_run
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


def test_labeling_queue_holds_only_none_predictions_most_uncertain_first(graph_run):
    home, _, _ = graph_run
    queue = Store(home.duckdb_path).query("SELECT * FROM labeling_queue ORDER BY rank")
    assert len(queue) > 0
    assert (queue["p_1"] <= 0.6).all() and queue["uncertainty"].is_monotonic_decreasing
    assert (queue["p_1"] >= queue["p_2"]).all() and (queue["p_2"] >= queue["p_3"]).all()
    splits = Store(home.duckdb_path).query("SELECT * FROM splits")
    champion = mlflow.MlflowClient(
        home.mlflow_uri, registry_uri=home.mlflow_uri
    ).get_model_version_by_alias("embaug-classifier", "champion")
    trained = splits[
        (splits["trial"] == champion.tags["embaug.trial"]) & (splits["role"] == "train")
    ]
    assert not set(queue["product_id"]) & set(trained["product_id"])
    assert (home.reports / "labeling_queue.csv").is_file()


def test_checks_pass_and_a_champion_below_the_floor_blocks_the_queue(graph_run):
    home, instance, _ = graph_run
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
        selection=["evaluation_report", "labeling_queue"],
        instance=instance,
        resources=definitions.RESOURCES,
        raise_on_error=False,
        run_config={"ops": {"evaluation_report": {"config": {"champion_auc_floor": 0.9999}}}},
    )
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    assert not result.asset_materializations_for_node("labeling_queue")
    after = Store(home.duckdb_path).query("SELECT count(*) AS n FROM labeling_queue")["n"][0]
    assert after == before


def test_the_report_does_not_depend_on_the_process_wide_mlflow_store(graph_run, tmp_path):
    """A run worker starts with MLflow's default store; registering models must still work."""
    _, instance, _ = graph_run
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


def test_a_changed_catalogue_with_fewer_trials_reports_only_its_own_trials(
    graph_run, kaggle_slice: Path, tmp_path: Path
):
    """Runs and splits of the earlier catalogue are stale: the report leaves them out and says
    which trials it used; images of removed products leave the store with them. (Last in this
    module: it replaces the catalogue the other tests look at.)"""
    home, instance, _ = graph_run
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
