"""Shared fixtures: small catalogues in the real file layouts, cut from the real dataset."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from embaug_core.common.home import Home
from embaug_pipeline.run.graph import GraphOptions, materialize_graph

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-products"
CLASSES = ("Tshirts", "Watches", "Casual Shoes", "Handbags", "Sunglasses", "Belts")


def real_catalogue() -> Path:
    if not (SHARED / "styles.csv").is_file():
        pytest.skip(f"the real catalogue is not at {SHARED}")
    return SHARED


def write_kaggle_slice(
    target: Path, per_class: int = 12, classes: tuple[str, ...] = CLASSES
) -> pd.DataFrame:
    """Copy `per_class` real products of each class (rows, images, descriptions) to `target`."""
    source = real_catalogue()
    styles = pd.read_csv(source / "styles.csv", dtype=str)
    chosen = pd.concat(
        [styles[styles["articleType"] == c].sort_values("id").head(per_class) for c in classes]
    )
    (target / "images").mkdir(parents=True, exist_ok=True)
    chosen.to_csv(target / "styles.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    for product_id in chosen["id"]:
        shutil.copy(
            source / "images" / f"{product_id}.jpg", target / "images" / f"{product_id}.jpg"
        )
    wanted = set(chosen["id"])
    with (
        gzip.open(source / "styles.jsonl.gz", "rt", encoding="utf-8") as lines,
        gzip.open(target / "styles.jsonl.gz", "wt", encoding="utf-8") as out,
    ):
        for line in lines:
            if str(json.loads(line)["data"]["id"]) in wanted:
                out.write(line)
    return chosen


@pytest.fixture(scope="session")
def kaggle_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """72 real products of 6 classes in the Kaggle layout (read-only: copy before changing)."""
    folder = tmp_path_factory.mktemp("kaggle_slice")
    write_kaggle_slice(folder)
    return folder


@pytest.fixture(scope="session")
def text_encoder():
    from embaug_core.embeddings.encoders import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def image_encoder():
    from embaug_core.embeddings.encoders import ImageEncoder

    return ImageEncoder()


# -- the whole graph, materialised once for the end-to-end and serving tests --------------

METHODS = (
    "control",
    "soft_e_stitchup",
    "logreg",
    "knn_aug",
    "label_prop",
    "knn_aug__soft_e_stitchup",
    "logreg__knn_distance",
)


UNLABELLED_PER_CLASS = 3


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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
