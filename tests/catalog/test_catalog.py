"""Catalogue ingestion: every layout, and bad rows rejected with a reason, never fatal."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from embaug_core.catalog import (
    CatalogError,
    CatalogSettings,
    html_to_text,
    load_catalog,
    locate_catalog,
)


@pytest.fixture
def broken_slice(kaggle_slice: Path, tmp_path: Path) -> Path:
    """The slice with a truncated image, a malformed line, a duplicate id and an empty title."""
    folder = tmp_path / "broken"
    shutil.copytree(kaggle_slice, folder)
    lines = (folder / "styles.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    first_id = rows[0].split(",")[0]
    truncated_id = rows[1].split(",")[0]
    image = folder / "images" / f"{truncated_id}.jpg"
    image.write_bytes(image.read_bytes()[:300])
    rows.append(rows[2])  # duplicate id
    rows.append("99999991,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Nike, Men, Blue Tee")
    rows.append("99999992,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,")
    rows.append("99999993,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,No Image Tee")
    (folder / "styles.csv").write_text("\n".join([header, *rows]) + "\n")
    assert first_id
    return folder


def test_kaggle_layout_loads_real_products_with_plain_text_descriptions(kaggle_slice: Path):
    catalog = load_catalog(kaggle_slice)
    assert catalog.layout == "kaggle"
    assert len(catalog.products) == 72 and catalog.rejected.empty
    assert catalog.products["category"].value_counts().eq(12).all()
    descriptions = catalog.products["description"]
    assert (descriptions.str.len() > 20).mean() > 0.9
    assert not descriptions.str.contains("<p>|<br", regex=True).any()
    assert set(catalog.products["image_sha256"]) == set(catalog.images)


def test_bad_rows_are_rejected_with_reasons_and_the_rest_loads(broken_slice: Path):
    catalog = load_catalog(broken_slice)
    reasons = catalog.rejected.set_index("product_id")["reason"]
    assert len(catalog.products) == 71  # 72 minus the truncated image
    assert reasons["99999991"].startswith("malformed line: 12 fields, expected 10")
    assert reasons["99999992"] == "empty title"
    assert reasons["99999993"].startswith("missing image")
    assert any(r.startswith("duplicate id: first seen on line 4") for r in reasons)
    assert any(r.startswith("unreadable image") for r in reasons)
    assert catalog.rejection_counts()["malformed line"] == 1


def test_malformed_lines_of_the_real_full_styles_csv_are_rejected():
    from tests.conftest import real_catalogue

    catalog = load_catalog(
        real_catalogue() / "styles_full.csv", CatalogSettings(sample_fraction=0.02)
    )
    counts = catalog.rejection_counts()
    assert counts["malformed line"] == 22
    assert len(catalog.products) > 800


def test_parquet_layout_with_image_bytes(kaggle_slice: Path, tmp_path: Path):
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str)
    images = [
        {"bytes": (kaggle_slice / "images" / f"{i}.jpg").read_bytes(), "path": None}
        for i in styles["id"]
    ]
    table = pa.Table.from_pandas(styles.assign(id=styles["id"].astype(int)), preserve_index=False)
    table = table.append_column("image", pa.array(images))
    pq.write_table(table, tmp_path / "fashion.parquet")
    catalog = load_catalog(tmp_path / "fashion.parquet")
    reference = load_catalog(kaggle_slice)
    assert catalog.layout == "parquet"
    assert sorted(catalog.products["image_sha256"]) == sorted(reference.products["image_sha256"])
    assert (catalog.products["description"] == "").all()


def test_plain_csv_layout_and_paths_that_leave_the_folder(kaggle_slice: Path, tmp_path: Path):
    folder = tmp_path / "plain"
    shutil.copytree(kaggle_slice / "images", folder / "photos")
    ids = sorted(p.stem for p in (folder / "photos").glob("*.jpg"))[:3]
    rows = [
        {
            "id": i,
            "title": f"Product {i}",
            "description": "<p>Soft &amp; warm</p>",
            "category": "Tops",
            "image": f"photos/{i}.jpg",
        }
        for i in ids
    ]
    rows.append(
        {
            "id": "x1",
            "title": "Escape",
            "description": "",
            "category": "Tops",
            "image": "../../etc/passwd",
        }
    )
    rows.append(
        {
            "id": "x2",
            "title": "Absolute",
            "description": "",
            "category": "Tops",
            "image": "/etc/passwd",
        }
    )
    pd.DataFrame(rows).to_csv(folder / "products.csv", index=False)
    catalog = load_catalog(folder / "products.csv")
    assert catalog.layout == "plain_csv"
    assert list(catalog.products["product_id"]) == ids
    assert catalog.products["description"].iloc[0] == "Soft & warm"
    reasons = catalog.rejected.set_index("product_id")["reason"]
    assert "leaves the catalogue folder" in reasons["x1"]
    assert "leaves the catalogue folder" in reasons["x2"]


def test_unreadable_catalogues_raise_clear_errors(tmp_path: Path):
    (tmp_path / "styles.csv").write_text("id,title\n1,Shirt\n")
    with pytest.raises(CatalogError, match=r"styles.csv: missing column\(s\) productDisplayName"):
        load_catalog(tmp_path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "id,title,description,category,image\n1,Caf\xe9,,Tops,a.jpg\n".encode("latin-1")
    )
    with pytest.raises(CatalogError, match=r"latin\.csv: not UTF-8"):
        load_catalog(latin)
    (tmp_path / "folder").mkdir()
    with pytest.raises(CatalogError, match=r"no styles\.csv"):
        load_catalog(tmp_path / "folder")
    with pytest.raises(CatalogError, match="no such file"):
        load_catalog(tmp_path / "missing.parquet.gz")


def test_locate_catalog_explains_where_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMBAUG_DATA", raising=False)
    with pytest.raises(CatalogError, match=r"EMBAUG_DATA.*fashion-product-images-small"):
        locate_catalog()


def test_stratified_sample_keeps_every_class_share(kaggle_slice: Path):
    catalog = load_catalog(kaggle_slice, CatalogSettings(sample_fraction=0.5, sample_seed=3))
    assert catalog.products["category"].value_counts().eq(6).all()
    again = load_catalog(kaggle_slice, CatalogSettings(sample_fraction=0.5, sample_seed=3))
    assert list(again.products["product_id"]) == list(catalog.products["product_id"])


def test_html_to_text_and_images_with_alpha_or_grey(tmp_path: Path):
    assert html_to_text("<p>A&nbsp;shirt<br>100% cotton</p>") == "A shirt 100% cotton"
    assert html_to_text("") == ""
    from embaug_core.catalog import image_problem

    for mode in ("RGBA", "L"):
        buffer = io.BytesIO()
        Image.new(mode, (20, 30)).save(buffer, format="PNG")
        assert image_problem(buffer.getvalue()) is None
    assert image_problem(b"") == "unreadable image: empty file"
    huge = io.BytesIO()
    Image.new("L", (5000, 5000)).save(huge, format="PNG")
    assert image_problem(huge.getvalue(), max_pixels=1_000_000).startswith("image too large")


def test_a_catalogue_where_every_row_is_bad_is_one_clear_error(kaggle_slice: Path, tmp_path: Path):
    folder = tmp_path / "all_bad"
    shutil.copytree(kaggle_slice, folder)
    for image in (folder / "images").glob("*.jpg"):
        image.write_bytes(b"")
    with pytest.raises(
        CatalogError, match=r"no usable product: 72 rows read, 72 rejected \(72 unreadable image\)"
    ):
        load_catalog(folder)


def test_bom_one_product_classes_and_empty_descriptions_load(kaggle_slice: Path, tmp_path: Path):
    folder = tmp_path / "bom"
    shutil.copytree(kaggle_slice, folder)
    styles = (folder / "styles.csv").read_text()
    lines = styles.splitlines()
    lone = lines[1].split(",")
    lone[0], lone[4] = "77777777", "Lone Class"
    shutil.copy(
        folder / "images" / f"{lines[1].split(',')[0]}.jpg", folder / "images" / "77777777.jpg"
    )
    (folder / "styles.csv").write_bytes(
        ("\ufeff" + "\n".join([*lines, ",".join(lone)]) + "\n").encode()
    )
    (folder / "styles.jsonl.gz").unlink()
    catalog = load_catalog(folder)
    assert len(catalog.products) == 73 and catalog.rejected.empty
    assert (catalog.products["description"] == "").all()
    assert (catalog.products["category"] == "Lone Class").sum() == 1


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG of 74 bytes whose header claims width x height (it would decode to GBs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_rejected_by_default_before_decoding(
    kaggle_slice: Path, tmp_path: Path
):
    folder = tmp_path / "bomb"
    shutil.copytree(kaggle_slice, folder)
    first, second = sorted((folder / "images").glob("*.jpg"))[:2]
    first.write_bytes(_png_bomb(10_000, 10_000))  # over embaug's limit
    second.write_bytes(_png_bomb(40_000, 40_000))  # over Pillow's own, too
    catalog = load_catalog(folder)
    assert len(catalog.products) == 70
    reasons = dict(zip(catalog.rejected["product_id"], catalog.rejected["reason"], strict=True))
    assert reasons[first.stem] == "image too large: 10000x10000 pixels (limit 40,000,000)"
    assert reasons[second.stem].startswith("image too large: Image size (1600000000 pixels)")


def test_a_failed_load_keeps_what_was_stored(kaggle_slice: Path, tmp_path: Path, monkeypatch):
    import dagster as dg

    from embaug_core.store import Store
    from embaug_pipeline import definitions

    monkeypatch.setenv("EMBAUG_HOME", str(tmp_path / "home"))
    bad = tmp_path / "all_bad"
    shutil.copytree(kaggle_slice, bad)
    for image in (bad / "images").glob("*.jpg"):
        image.write_bytes(b"")

    def load(path: Path) -> dg.ExecuteInProcessResult:
        return definitions.materialize(
            selection=["raw_products"],
            run_config={"ops": {"raw_products": {"config": {"path": str(path)}}}},
            raise_on_error=False,
        )

    assert load(kaggle_slice).success
    store = Store(tmp_path / "home" / "embaug.duckdb")
    before = store.products()
    failed = load(bad)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "no usable product: 72 rows read, 72 rejected" in str(failure.step_failure_data.error)
    pd.testing.assert_frame_equal(store.products(), before)
    assert store.query("SELECT count(*) AS n FROM images")["n"][0] == 72
