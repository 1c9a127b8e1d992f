"""Shared fixtures: small catalogues in the real file layouts, cut from the real dataset."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

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
    from embaug_core.encoders import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def image_encoder():
    from embaug_core.encoders import ImageEncoder

    return ImageEncoder()
