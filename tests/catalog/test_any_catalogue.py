"""Any catalogue as its owner has it: another label column, only images or only texts."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from embaug_core.catalog import load_catalog
from embaug_core.store import Store
from embaug_pipeline.cli import main


def _plain(kaggle_slice: Path, folder: Path, columns: list[str]) -> Path:
    """The slice as a plain CSV with only `columns` (the class in a column called `kind`)."""
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str)
    (folder / "photos").mkdir(parents=True)
    for product_id in styles["id"]:
        shutil.copy(kaggle_slice / "images" / f"{product_id}.jpg", folder / "photos")
    table = pd.DataFrame(
        {
            "id": styles["id"],
            "title": styles["productDisplayName"],
            "kind": styles["articleType"],
            "image": [f"photos/{i}.jpg" for i in styles["id"]],
        }
    )
    path = folder / "products.csv"
    table[columns].to_csv(path, index=False)
    return path


@pytest.mark.slow  # the whole graph
def test_an_image_only_catalogue_with_its_own_label_column_runs_end_to_end(
    kaggle_slice: Path, tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    path = _plain(kaggle_slice, tmp_path / "images_only", ["id", "kind", "image"])
    status = main(
        [
            "demo",
            "--data",
            str(path),
            "--label-column",
            "kind",
            "--sample-fraction",
            "1",
            "--trials",
            "1",
            "--methods",
            "control,logreg",
            "--epochs",
            "2",
            "--auc-floor",
            "0",
        ]
    )
    assert status == 0, capsys.readouterr().err[-2000:]
    store = Store(tmp_path / "home" / "embaug.duckdb")
    catalogue = store.catalogue()
    assert catalogue["features"] == ("image",) and catalogue["label_column"] == "kind"
    assert store.query("SELECT count(DISTINCT encoder) AS n FROM embeddings")["n"][0] == 1
    assert "Production model:" in capsys.readouterr().out


def test_a_text_only_catalogue_loads_without_images(kaggle_slice: Path, tmp_path: Path):
    path = _plain(kaggle_slice, tmp_path / "texts_only", ["id", "title", "kind"])
    from embaug_core.catalog import CatalogSettings

    catalog = load_catalog(path, CatalogSettings(label_column="kind"))
    assert catalog.features == ("title",) and catalog.products["image_sha256"].isna().all()
    assert len(catalog.products) == 72 and catalog.images == {}


@pytest.mark.slow  # the whole graph
def test_a_catalogue_with_five_percent_labelled_is_categorised_end_to_end(
    tmp_path: Path, monkeypatch, capsys
):
    """A slice of the real catalogue with the category of 95% of its rows blanked, stratified
    by class: it loads, trains on the few labels, and the production model predicts the rest."""
    from tests.conftest import write_kaggle_slice

    folder = tmp_path / "few_labels"
    styles = write_kaggle_slice(folder, per_class=40)
    blank = styles.groupby("articleType").cumcount() >= 2  # 2 of 40 per class keep their label
    styles.loc[blank.to_numpy(), "articleType"] = ""
    styles.to_csv(folder / "styles.csv", index=False)
    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    arguments = ["demo", "--data", str(folder), "--sample-fraction", "1", "--trials", "1"]
    arguments += ["--methods", "control,logreg,knn_aug", "--epochs", "2", "--auc-floor", "0"]
    assert main(arguments) == 0, capsys.readouterr().err[-2000:]
    store = Store(tmp_path / "home" / "embaug.duckdb")
    catalogue = store.catalogue()
    assert (catalogue["products"], catalogue["labelled"]) == (240, 12)
    predicted = store.predictions()
    assert len(predicted) == 228  # every unlabelled product, nothing else
    assert set(predicted["category"].dropna()) <= set(styles["articleType"]) - {""}


def test_a_folder_holding_one_plain_csv_or_parquet_is_that_catalogue(
    kaggle_slice: Path, tmp_path: Path
):
    """A folder holding a plain CSV was refused ("no styles.csv in this folder"), though the
    README says a folder works; two tables in it are a choice the person makes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embaug_core.catalog import CatalogError, CatalogSettings

    folder = tmp_path / "shop"
    _plain(kaggle_slice, folder, ["id", "title", "kind", "image"])
    settings = CatalogSettings(label_column="kind")
    catalog = load_catalog(folder, settings)
    assert catalog.layout == "plain_csv" and catalog.count == 72 and not len(catalog.rejected)
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str).head(5)
    parquet = tmp_path / "parquet_shop"
    parquet.mkdir()
    table = {"id": styles["id"], "productDisplayName": styles["productDisplayName"]}
    pq.write_table(pa.table(table | {"articleType": styles["articleType"]}), parquet / "p.parquet")
    assert load_catalog(parquet, CatalogSettings(features=("title",))).count == 5
    (folder / "other.csv").write_text("id,title,kind\n1,Shirt,Tops\n")
    with pytest.raises(CatalogError, match=r"2 tables in this folder \(other.csv, products.csv\)"):
        load_catalog(folder, settings)


def test_a_withheld_slice_leaves_the_labelled_sample_as_it_was(kaggle_slice: Path):
    """The demo's unlabelled products come from outside its sample, per class, so that the
    labelled sample (and every figure made on it) is the one without them."""
    from embaug_core.catalog import CatalogSettings

    sample = CatalogSettings(sample_fraction=0.5, sample_seed=1)
    plain = load_catalog(kaggle_slice, sample).products
    loop = load_catalog(kaggle_slice, replace(sample, unlabelled_fraction=0.25)).products
    labelled = loop[loop["category"].notna()]
    assert sorted(labelled["product_id"]) == sorted(plain["product_id"])
    withheld = loop[loop["category"].isna()]
    assert len(withheld) == 18  # a quarter of 72: half of each class's 6 left out of the sample
    assert not set(withheld["product_id"]) & set(plain["product_id"])
    truth = pd.read_csv(kaggle_slice / "styles.csv", dtype=str).set_index("id")["articleType"]
    assert truth[withheld["product_id"]].value_counts().eq(3).all()
    with pytest.raises(ValueError, match="unlabelled_fraction"):
        CatalogSettings(sample_fraction=0.8, unlabelled_fraction=0.3)
