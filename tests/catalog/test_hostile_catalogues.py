"""Catalogues a hostile or careless user might hand over: each ends in a per-row rejection with
a readable reason or one clear error, in bounded memory and time, and never hangs."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from embaug_core.catalog import CatalogError, CatalogSettings, case_variants, load_catalog
from embaug_core.catalog.fingerprint import content_sha256, stat_signature
from embaug_core.common.spreadsheet import restore, write_csv


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO read blocks forever)."""

    def expire(*_):
        raise TimeoutError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def plain(kaggle_slice: Path, tmp_path: Path) -> Path:
    """A plain-CSV catalogue of 12 real products (two classes) with its photos."""
    folder = tmp_path / "plain"
    (folder / "photos").mkdir(parents=True)
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str)
    chosen = pd.concat([styles[styles["articleType"] == c].head(6) for c in ("Watches", "Belts")])
    for product_id in chosen["id"]:
        shutil.copy(kaggle_slice / "images" / f"{product_id}.jpg", folder / "photos")
    pd.DataFrame(
        {
            "id": chosen["id"],
            "title": chosen["productDisplayName"],
            "description": "",
            "category": chosen["articleType"],
            "image": [f"photos/{i}.jpg" for i in chosen["id"]],
        }
    ).to_csv(folder / "products.csv", index=False)
    return folder


def add_rows(folder: Path, rows: list[dict]) -> Path:
    path = folder / "products.csv"
    frame = pd.concat([pd.read_csv(path, dtype=str, keep_default_na=False), pd.DataFrame(rows)])
    frame.to_csv(path, index=False)
    return path


def row(product_id: str, image: str, **fields: str) -> dict:
    return {
        "id": product_id,
        "title": "Steel Watch",
        "description": "",
        "category": "Watches",
        "image": image,
    } | fields


def reasons(catalog) -> dict[str, str]:
    return dict(zip(catalog.rejected["product_id"], catalog.rejected["reason"], strict=True))


def test_thin_images_are_rejected_before_any_canvas_is_drawn(plain: Path):
    (plain / "photos" / "thin.png").write_bytes(png(100_000, 1))
    (plain / "photos" / "tall.png").write_bytes(png(1, 20_000))
    path = add_rows(plain, [row("thin", "photos/thin.png"), row("tall", "photos/tall.png")])
    started = time.perf_counter()
    catalog = load_catalog(path)
    assert time.perf_counter() - started < 10
    assert reasons(catalog)["thin"] == (
        "image too thin: 100000x1 pixels (aspect ratio limit 20:1, setting max_aspect_ratio)"
    )
    assert reasons(catalog)["tall"].startswith("image too thin: 1x20000")
    assert len(catalog.products) == 12


def test_devices_pipes_sparse_files_and_links_out_are_rejected_per_row(plain: Path):
    photos = plain / "photos"
    (photos / "zero.jpg").symlink_to("/dev/zero")
    os.mkfifo(photos / "pipe.jpg")
    with (photos / "sparse.jpg").open("wb") as handle:
        handle.truncate(2 * 2**30)  # 2 GB that occupy no disk
    outside = plain.parent / "elsewhere.jpg"
    shutil.copy(next(photos.glob("*.jpg")), outside)
    (photos / "out.jpg").symlink_to(outside)
    path = add_rows(
        plain,
        [row(name, f"photos/{name}.jpg") for name in ("zero", "pipe", "sparse", "out")],
    )
    with deadline(60):
        catalog = load_catalog(path)
        fingerprint = content_sha256(path)
        stat_signature(path)
    found = reasons(catalog)
    assert "outside the allowed image roots" in found["zero"] and "--image-root" in found["zero"]
    assert found["pipe"] == "missing image: pipe.jpg is not a regular file (a named pipe)"
    assert found["sparse"] == (
        "missing image: file too large: sparse.jpg has 2,147,483,648 bytes "
        "(limit 20,971,520, setting max_image_bytes)"
    )
    assert "outside the allowed image roots" in found["out"]
    assert len(catalog.products) == 12 and len(fingerprint) == 64


def test_a_linked_image_folder_loads_once_its_root_is_allowed(kaggle_slice: Path, tmp_path: Path):
    folder, disk = tmp_path / "catalogue", tmp_path / "other_disk"
    folder.mkdir()
    shutil.copy(kaggle_slice / "styles.csv", folder)
    shutil.copytree(kaggle_slice / "images", disk / "images")
    (folder / "images").symlink_to(disk / "images")
    with pytest.raises(CatalogError, match=r"72 missing image\).*outside the allowed image roots"):
        load_catalog(folder)
    allowed = load_catalog(folder, CatalogSettings(image_roots=(str(folder), str(disk))))
    assert len(allowed.products) == 72 and allowed.rejected.empty


def test_huge_fields_reject_their_row_and_huge_descriptions_are_bounded(plain: Path):
    path = add_rows(
        plain,
        [
            row("long_title", "photos/x.jpg", title="T" * 1_000_000),
            row("i" * 300, "photos/x.jpg"),
            row("huge_field", "photos/x.jpg", description="<p>" + "d" * 9_000_000),
            row(
                "big_html",
                next((plain / "photos").glob("*.jpg")).relative_to(plain).as_posix(),
                description="<p>shirt <b>bold</b></p>" * 200_000,
            ),
        ],
    )
    started = time.perf_counter()
    catalog = load_catalog(path)
    assert time.perf_counter() - started < 20
    found = reasons(catalog)
    assert found["long_title"] == "title too long: 1,000,000 characters (limit 2,000)"
    assert found["i" * 200].startswith("id too long: 300 characters")
    assert any("field larger than field limit" in r for r in found.values())
    described = catalog.products.set_index("product_id").loc["big_html", "description"]
    assert described.startswith("shirt bold shirt") and len(described) < 70_000


def test_empty_categories_are_unlabelled_and_odd_names_stay_classes(plain: Path):
    image = next((plain / "photos").glob("*.jpg")).relative_to(plain).as_posix()
    path = add_rows(
        plain,
        [
            row("blank", image, category="  "),
            row("zero_width", image, category="\u200b"),
            row("na", image, category="NA"),
            row("none", image, category="none"),
            row("lower", image, category="watches"),
            row("invisible_title", image, title="\u200b\u200b "),
        ],
    )
    catalog = load_catalog(path)
    categories = catalog.products.set_index("product_id")["category"]
    assert categories[["blank", "zero_width"]].isna().all()
    assert (categories["na"], categories["none"]) == ("NA", "none")
    assert catalog.labelled == len(catalog.products) - 2
    assert reasons(catalog)["invisible_title"] == "empty title"
    assert case_variants(catalog.products["category"]) == [["Watches", "watches"]]


def test_unreadable_image_reasons_name_no_memory_address(plain: Path):
    (plain / "photos" / "text.jpg").write_text("not a picture")
    catalog = load_catalog(add_rows(plain, [row("text", "photos/text.jpg")]))
    reason = reasons(catalog)["text"]
    assert reason.startswith("unreadable image: not a known image format")
    assert "0x" not in reason and "BytesIO" not in reason


def test_an_image_replaced_in_place_changes_the_plain_csv_fingerprint(plain: Path):
    path = plain / "products.csv"
    before, stats = content_sha256(path), stat_signature(path)
    photo = next((plain / "photos").glob("*.jpg"))
    with Image.open(photo) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photo)
    after = content_sha256(path)
    assert after != before and stat_signature(path) != stats
    (plain / "README.txt").write_text("unrelated")  # a file no row names changes nothing
    assert content_sha256(path) == after


def test_formula_cells_are_neutralised_in_spreadsheets_and_restored_on_import(tmp_path: Path):
    frame = pd.DataFrame(
        {"product_id": ["=1+1", "+SUM(A1)", "-2", "@cmd", "'quoted", "plain"], "p": [0.1] * 6}
    )
    path = write_csv(frame, tmp_path / "queue.csv")
    written = pd.read_csv(path, dtype=str)
    assert list(written["product_id"]) == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2",
        "'@cmd",
        "''quoted",
        "plain",
    ]
    assert [restore(v) for v in written["product_id"]] == list(frame["product_id"])
    assert written["p"].tolist() == ["0.1"] * 6


def test_a_symlink_loop_rejects_its_row_not_the_catalogue(plain: Path):
    """Path.resolve() raises RuntimeError on a loop (Python 3.11): it refused the whole load."""
    photos = plain / "photos"
    (photos / "loopA.jpg").symlink_to("loopB.jpg")
    (photos / "loopB.jpg").symlink_to("loopA.jpg")
    path = add_rows(plain, [row("loop", "photos/loopA.jpg")])
    with deadline(60):
        catalog = load_catalog(path)
        fingerprint = content_sha256(path)
        stat_signature(path)
    assert reasons(catalog)["loop"] == "missing image: loopA.jpg is a symbolic link loop"
    assert len(catalog.products) == 12 and len(fingerprint) == 64


def test_a_repeated_column_is_one_clear_error_naming_it(plain: Path, tmp_path: Path):
    """With `category` twice, the last (here empty) one silently won: every row unlabelled."""
    path = plain / "products.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",category", *(line + "," for line in lines[1:])]))
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert str(raised.value) == (
        f"{path}: the header names a column twice ('category' is columns 4 and 6); rename or "
        "remove one, so that it is clear which holds the data"
    )
    table = pa.table(
        [pa.array(["1"]), pa.array(["Tee"]), pa.array(["Tops"]), pa.array([""])],
        names=["id", "title", "articleType", "articleType"],
    )
    pq.write_table(table, tmp_path / "twice.parquet")
    with pytest.raises(CatalogError, match=r"the schema names a column twice \('articleType'\)"):
        load_catalog(tmp_path / "twice.parquet")


def test_unicode_forms_of_a_class_are_one_class_with_a_warning(plain: Path, caplog):
    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    assert composed != decomposed  # they print alike
    image = next((plain / "photos").glob("*.jpg")).relative_to(plain).as_posix()
    rows = [row(f"nfc{i}", image, category=composed) for i in range(3)]
    rows += [row(f"nfd{i}", image, category=decomposed) for i in range(2)]
    with caplog.at_level("WARNING"):
        catalog = load_catalog(add_rows(plain, rows))
    categories = catalog.products.set_index("product_id")["category"]
    assert (categories[[f"nfc{i}" for i in range(3)] + ["nfd0", "nfd1"]] == composed).all()
    assert catalog.unicode_variants == [[decomposed, composed]]
    assert "different Unicode forms are one class (NFC): 'Cafe\\u0301', 'Caf\\xe9'" in caplog.text


def test_rows_naming_one_image_decode_it_once(plain: Path, monkeypatch):
    """30,000 rows naming one photo decoded it 30,000 times (99 s): once per content now."""
    photos = sorted((plain / "photos").glob("*.jpg"))
    shared = photos[0].relative_to(plain).as_posix()
    path = add_rows(plain, [row(f"same{i}", shared) for i in range(300)])
    opened = []
    original = Image.open

    def counting_open(*args, **kwargs):
        opened.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    catalog = load_catalog(path)
    assert len(catalog.products) == 12 + 300 and catalog.rejected.empty
    assert len(opened) == len(photos)  # each distinct photo once, however many rows name it
    assert len(catalog.images) == len(photos)


#: Loads a catalogue in a fresh process and prints how much its peak resident memory grew
#: during the load (MB), then the rejection reasons as JSON. The peak is the process's own
#: (VmHWM): getrusage would count what pytest held when it forked the child.
MEASURED_LOAD = """
import json, sys
import pyarrow.parquet
from embaug_core.catalog import CatalogSettings, load_catalog
def peak_kb():
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0])
before = peak_kb()
catalog = load_catalog(sys.argv[1], CatalogSettings(max_image_bytes=int(sys.argv[2])))
print((peak_kb() - before) // 1024)
print(json.dumps(dict(zip(catalog.rejected["product_id"], catalog.rejected["reason"]))))
"""


@pytest.mark.slow  # measures the load's memory in a subprocess
def test_a_compressed_parquet_image_bomb_is_refused_from_the_metadata(
    kaggle_slice: Path, tmp_path: Path
):
    """A cell of zeros shrinks a thousandfold under zstd: before, it was decompressed and
    copied into Python (6 GB for a 1.5 GB cell) before its size was looked at, and the reason
    said "missing image"."""
    styles = pd.read_csv(kaggle_slice / "styles.csv", dtype=str).head(12)

    def table(ids, titles, images) -> pa.Table:
        return pa.table(
            {
                "id": ids,
                "productDisplayName": titles,
                "articleType": ["Watches"] * len(ids),
                "image": pa.array([{"bytes": b, "path": None} for b in images]),
            }
        )

    real = [(kaggle_slice / "images" / f"{i}.jpg").read_bytes() for i in styles["id"]]
    over_cap = real[0] + bytes(2 * 2**20)  # an image 2 MiB long, over a 1 MiB cap
    path = tmp_path / "bomb.parquet"
    first = table(
        [*styles["id"], "over"], [*styles["productDisplayName"], "Over"], [*real, over_cap]
    )
    with pq.ParquetWriter(path, first.schema, compression="zstd") as writer:
        writer.write_table(first)  # one row group: 12 real photos and one over the cap
        writer.write_table(table(["bomb"], ["Bomb"], [bytes(128 * 2**20)]))  # a row group
    assert path.stat().st_size < 2**20 < 128 * 2**20
    done = subprocess.run(
        [sys.executable, "-c", MEASURED_LOAD, str(path), str(2**20)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown_mb, found = done.stdout.splitlines()[-2:]
    found = json.loads(found)
    group = pq.ParquetFile(path).metadata.row_group(1)
    columns = [group.column(i) for i in range(group.num_columns)]
    size = sum(c.total_uncompressed_size for c in columns if c.path_in_schema.startswith("image"))
    assert size > 128 * 2**20
    assert found["bomb"] == (
        f"image too large: row group 1 of the Parquet file holds {size:,} bytes of images "
        "uncompressed (limit 1,048,576 per image, setting max_image_bytes); none of its images "
        "was read"
    )
    assert found["over"] == (
        f"image too large: {len(over_cap):,} bytes (limit 1,048,576, setting max_image_bytes)"
    )
    assert set(found) == {"bomb", "over"}
    assert int(grown_mb) < 64  # the 128 MB cell never became memory
