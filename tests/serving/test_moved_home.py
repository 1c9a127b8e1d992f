"""A home moved to another folder keeps working: MLflow stores absolute artifact locations,
which followed the old folder (`EMBAUG_HOME` could not move)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd

from embaug_core.common.home import Home
from embaug_core.store import Store
from embaug_core.tracking.registry import load_product_model
from embaug_core.tracking.results import evaluation_tables
from embaug_pipeline.cli import main
from embaug_pipeline.run.runner import prepare_home


def _locations(home: Path) -> list[str]:
    with sqlite3.connect(home / "mlflow.db") as connection:
        rows = connection.execute(
            "SELECT artifact_uri FROM runs UNION ALL SELECT storage_location FROM model_versions "
            "UNION ALL SELECT artifact_location FROM experiments WHERE name != 'Default'"
        ).fetchall()
    return [location for (location,) in rows if location]


def test_a_moved_home_serves_predicts_and_reads_its_runs(graph_run, tmp_path, monkeypatch):
    home, _, results, _ = graph_run
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(home.root, first)
    monkeypatch.setenv("EMBAUG_HOME", str(first))
    monkeypatch.setenv("DAGSTER_HOME", str(first / "dagster"))
    prepare_home()  # opened once where it was copied to
    first.rename(second)  # then moved: nothing is left at `first`
    monkeypatch.setenv("EMBAUG_HOME", str(second))
    monkeypatch.setenv("DAGSTER_HOME", str(second / "dagster"))
    moved = prepare_home()
    locations = _locations(second)
    assert locations and all(
        loc.startswith((second / "mlartifacts").as_uri()) for loc in locations
    ), [loc for loc in locations if "second" not in loc][:3]

    run_id = results["run_id"].iloc[0]
    tables = evaluation_tables(run_id, moved.mlflow_uri)
    assert {"sweep", "roc", "per_class"} <= set(tables)
    product, version = load_product_model(moved.mlflow_uri)
    store = Store(Home.from_env().duckdb_path)
    row = store.products().dropna(subset=["title"]).iloc[[0]]
    images = store.image_bytes(row["image_sha256"].tolist())
    answered = product.predict(row.assign(image=row["image_sha256"].map(images)))
    assert answered["error"].isna().all() and answered["probability"].notna().all()
    out = tmp_path / "predictions.csv"
    new = tmp_path / "new.csv"
    pd.DataFrame({"id": ["x"], "title": ["Shirt"], "image": ["missing.jpg"]}).to_csv(
        new, index=False
    )
    assert main(["predict", str(new), "-o", str(out)]) == 0  # loads the model by its alias
    assert int(pd.read_csv(out)["model_version"].iloc[0]) == int(version.version)
