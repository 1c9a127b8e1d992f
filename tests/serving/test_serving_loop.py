"""The serving loop on the graph's state: predictions, the production model, the queue, the
served model, `embaug predict`, people's labels back in, then a changed catalogue (last: it
replaces the catalogue the other tests look at)."""

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

import mlflow
import pandas as pd
import pytest

from embaug_core.evaluation.verdicts import choose_champion
from embaug_core.store import Store
from embaug_pipeline import definitions
from embaug_pipeline.cli import main
from embaug_pipeline.cli.serve import serve_command
from embaug_pipeline.resources import EncodersResource
from embaug_pipeline.run.graph import GraphOptions, materialize_graph
from tests.conftest import UNLABELLED_PER_CLASS


def _unseen_products(home, photos: Path, count: int) -> pd.DataFrame:
    """`count` real products the store never saw (their styles.csv rows), photos in `photos`."""
    from tests.conftest import real_catalogue

    source = real_catalogue()
    styles = pd.read_csv(source / "styles.csv", dtype=str)
    known = set(Store(home.duckdb_path).products()["product_id"])
    chosen = styles[~styles["id"].isin(known)].head(count)
    photos.mkdir()
    for product_id in chosen["id"]:
        shutil.copy(source / "images" / f"{product_id}.jpg", photos)
    return chosen


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
    again = definitions.materialize(
        selection=["predictions"],
        instance=instance,
    )
    metadata = again.asset_materializations_for_node("predictions")[0].metadata
    assert metadata["newly_scored"].value == 0 and metadata["already_scored"].value == 18


def test_the_production_model_is_the_recommended_method_on_every_label(graph_run):
    home, instance, results, _ = graph_run
    client = mlflow.MlflowClient(home.mlflow_uri, registry_uri=home.mlflow_uri)
    production = client.get_model_version_by_alias("embaug-classifier", "production")
    champion = client.get_model_version_by_alias("embaug-evidence", "champion")
    assert production.tags["embaug.role"] == "production"
    assert champion.tags["embaug.role"] == "evidence"
    served = client.search_model_versions("name = 'embaug-classifier'")
    assert {v.tags["embaug.role"] for v in served} == {"production"}  # no evidence among them
    assert production.tags["embaug.method"] == choose_champion(results).method
    run = client.get_run(production.run_id)
    assert run.data.params["labelled_products"] == "54"
    assert run.data.tags["embaug.source"] == "production"
    assert "chosen because" in production.description
    rerun = definitions.materialize(
        selection=["production_model"],
        instance=instance,
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _strict(constant: str):
    raise ValueError(f"not JSON: a bare {constant} in the answer")


def _post(url: str, body: dict) -> tuple[int, dict]:
    """POST JSON; the answer is parsed as strict JSON (a bare NaN fails, as it does in
    browsers and most languages' parsers)."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read(), parse_constant=_strict)
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
    bad = next(row for row in answer["predictions"] if row["product_id"] == "bad")
    assert bad["category"] is None and bad["probability"] is None and bad["none"] is None


def test_embaug_predict_categorises_a_file_of_products_training_never_saw(
    graph_run, tmp_path: Path, capsys
):
    home, _, _, _ = graph_run
    chosen = _unseen_products(home, tmp_path / "photos", 20)
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


def test_an_open_set_production_model_returns_its_score_in_predict_and_serving(
    graph_run, tmp_path: Path
):
    """With an open-set method recommended, the production model, `embaug predict` and the
    served pyfunc return each product's open-set score; a plain model leaves it empty. (The
    next test's retraining rewrites the recommendation.)"""
    from embaug_core.tracking.registry import MODEL_NAME

    home, instance, _, _ = graph_run
    store = Store(home.duckdb_path)
    products = store.products().dropna(subset=["category"]).head(5).reset_index(drop=True)
    images = store.image_bytes(products["image_sha256"].tolist())
    (tmp_path / "photos").mkdir()
    for product in products.itertuples():
        (tmp_path / "photos" / f"{product.product_id}.jpg").write_bytes(
            images[product.image_sha256]
        )
    rows = products[["product_id", "title", "description"]].rename(columns={"product_id": "id"})
    rows["image"] = [f"photos/{i}.jpg" for i in products["product_id"]]
    rows.to_csv(tmp_path / "known.csv", index=False)
    plain = tmp_path / "plain.csv"
    assert main(["predict", str(tmp_path / "known.csv"), "-o", str(plain)]) == 0
    assert pd.read_csv(plain)["open_set_score"].isna().all()

    recommendation = store.recommendation()
    store.replace_tables(
        {"recommendation": pd.DataFrame([{**recommendation, "method": "logreg__knn_distance"}])}
    )
    serving = ["production_model", "predictions", "labeling_queue"]  # as a run serves it
    result = definitions.materialize(selection=serving, instance=instance)
    assert (
        result.asset_materializations_for_node("production_model")[0].metadata["method"].value
        == "logreg__knn_distance"
    )
    scored = tmp_path / "scored.csv"
    assert main(["predict", str(tmp_path / "known.csv"), "-o", str(scored)]) == 0
    table = pd.read_csv(scored)
    # a cosine similarity (training vectors kept at half precision: within 1e-3)
    assert table["open_set_score"].between(-1.001, 1.001).all()
    mlflow.set_tracking_uri(home.mlflow_uri)
    served = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@production")
    served_rows = products[["title", "description"]].assign(
        image=[base64.b64encode(images[h]).decode() for h in products["image_sha256"]]
    )
    answer = served.predict(served_rows)
    assert answer["open_set_score"].to_numpy() == pytest.approx(table["open_set_score"], abs=1e-5)


def test_image_root_finds_relative_paths_and_a_file_of_bad_rows_answers_each_row(
    graph_run, tmp_path: Path, capsys
):
    """`--image-root DIR` ignored DIR for relative paths; a file whose every row was bad
    exited 1 without writing the output. Rows keep their place in the file."""
    home, _, _, _ = graph_run
    chosen = _unseen_products(home, tmp_path / "photos", 3)
    (tmp_path / "files").mkdir()
    rows = pd.DataFrame(
        {
            "id": [*chosen["id"], "gone"],
            "title": [*chosen["productDisplayName"], "Gone Shirt"],
            "image": [*(f"{i}.jpg" for i in chosen["id"]), "gone.jpg"],
        }
    )
    rows.to_csv(tmp_path / "files" / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    arguments = ["predict", str(tmp_path / "files" / "new.csv"), "-o", str(out)]
    assert main([*arguments, "--image-root", str(tmp_path / "photos")]) == 0
    table = pd.read_csv(out, dtype=str)
    assert table["product_id"].tolist() == [*chosen["id"], "gone"]
    assert table["error"].iloc[:3].isna().all() and table["probability"].iloc[:3].notna().all()
    assert table["error"].iloc[3].startswith("missing image")

    bad = tmp_path / "files" / "bad.csv"
    pd.DataFrame(
        {"id": ["a", "b", "c"], "title": ["Shirt", "", "Belt"], "image": ["x.jpg"] * 3}
    ).to_csv(bad, index=False)
    assert main(["predict", str(bad), "-o", str(out)]) == 0
    answered = pd.read_csv(out, dtype=str)
    assert answered["product_id"].tolist() == ["a", "b", "c"]
    assert answered["error"].str.startswith(("missing image", "empty title")).all()
    assert answered.loc[1, "error"] == "empty title"
    assert "0 products predicted, 3 with an error" in capsys.readouterr().err


def test_peoples_labels_come_back_in_and_the_retraining_trains_on_them(
    graph_run, kaggle_slice: Path, tmp_path: Path, capsys
):
    """The loop: the queue's products labelled by a person (the hidden truth standing in),
    imported with bad rows among them: the production model is trained on them and registered
    by the import itself, before any trial's evidence (which here waits for the schedule);
    then a retraining that trains every trial on them."""
    home, instance, _, options = graph_run
    store = Store(home.duckdb_path)
    client = mlflow.MlflowClient(home.mlflow_uri, registry_uri=home.mlflow_uri)
    served = client.get_model_version_by_alias("embaug-classifier", "production")
    runs_before = set(store.query("SELECT DISTINCT run_id FROM results")["run_id"])
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
    assert main(["labels", "import", str(filled), "--evidence", "schedule"]) == 0
    out, err = capsys.readouterr()
    assert "9 labels stored, 1 rows left empty, 2 rejected" in out
    assert "unknown id: 'no_such_product'" in err and "duplicate id: first seen on line 2" in err
    record = store.label_imports().iloc[0]
    assert record["scored"] == 9 and 0 <= record["model_accuracy"] <= 1
    assert record["model_version"] == str(served.version)  # measured before it trained on them
    now = client.get_model_version_by_alias("embaug-classifier", "production")
    assert int(now.version) > int(served.version)
    assert client.get_run(now.run_id).data.params["labelled_by_people"] == "9"
    assert f"Production model v{now.version} (" in out and "waits for the weekly schedule" in out
    assert set(store.query("SELECT DISTINCT run_id FROM results")["run_id"]) == runs_before
    assert not set(unlabelled) & set(store.predictions()["product_id"])  # predicted anew
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
