"""Files for the commands `embaug demo` prints last, so that each works as printed: a few
products of the catalogue the store has never seen (to `embaug predict`), a request for the
served model (to `curl`), and the labeling queue filled in with the labels the demo withheld
(to `embaug labels import`; only products whose label the catalogue holds)."""

from __future__ import annotations

import base64
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from embaug_core.catalog import CatalogSettings, html_to_text, open_catalog
from embaug_core.catalog.readers.base import Candidate, Rejections
from embaug_core.catalog.text import category_name
from embaug_core.common.spreadsheet import write_csv
from embaug_core.store import Store

logger = logging.getLogger(__name__)
#: New products written for `embaug predict`, and how many of them the request holds.
NEW_PRODUCTS, IN_REQUEST = 20, 2


@dataclass(frozen=True)
class DemoFiles:
    new_products: Path | None
    request: Path | None
    filled_queue: Path | None
    filled: int


def write_demo_files(store: Store, folder: Path, settings: CatalogSettings) -> DemoFiles:
    """Read the catalogue once more (labels included) and write the three files to `folder`;
    a file with nothing to hold is not written (its path is None)."""
    catalogue = store.catalogue()
    reader = open_catalog(Path(catalogue["path"]), settings)
    features = catalogue["features"]
    known = set(store.products()["product_id"])
    queued = set(store.query("SELECT product_id FROM labeling_queue")["product_id"])
    chosen: list[Candidate] = []
    truth: dict[str, str] = {}
    seen = 0
    rng = random.Random(0)
    for row in reader.rows(Rejections()):
        if row.product_id in queued and category_name(row.category):
            truth[row.product_id] = category_name(row.category)
        elif row.product_id not in known and (row.title.strip() or "title" not in features):
            seen += 1  # a seeded reservoir: NEW_PRODUCTS spread over the whole catalogue
            if len(chosen) < 2 * NEW_PRODUCTS:
                chosen.append(row)
            elif (slot := rng.randrange(seen)) < len(chosen):
                chosen[slot] = row
    folder.mkdir(parents=True, exist_ok=True)
    products = _new_products(chosen, features, folder / "new_products")
    return DemoFiles(
        folder / "new_products" / "products.csv" if products else None,
        _request(products, folder / "request.json"),
        _filled_queue(store, truth, folder / "labeling_queue_filled.csv"),
        len(truth),
    )


def _new_products(
    rows: list[Candidate], features: tuple[str, ...], folder: Path
) -> list[dict[str, object]]:
    """Up to NEW_PRODUCTS rows whose image reads, as a plain CSV with the images beside it."""
    kept: list[dict[str, object]] = []
    for row in rows:
        record: dict[str, object] = {"id": row.product_id, "title": row.title.strip()}
        record["description"] = html_to_text(row.description_html)
        if "image" in features and row.read_image is not None:
            try:
                record["image_bytes"] = row.read_image()
            except OSError as error:
                logger.info("%s: image not readable (%s), not offered", row.product_id, error)
                continue
            record["image"] = f"images/{len(kept):03d}.jpg"
        kept.append(record)
        if len(kept) == NEW_PRODUCTS:
            break
    if not kept:
        return []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for record in kept:
        if "image" in record:
            (folder / str(record["image"])).write_bytes(bytes(record["image_bytes"]))
    table = pd.DataFrame(kept).drop(columns="image_bytes", errors="ignore")
    table.to_csv(folder / "products.csv", index=False)  # read by embaug, not a spreadsheet
    return kept


def _request(products: list[dict[str, object]], path: Path) -> Path | None:
    """A body for the served model's /invocations: products with their image as base64."""
    if not products:
        return None
    records = []
    for product in products[:IN_REQUEST]:
        record = {k: product[k] for k in ("id", "title", "description")}
        record["product_id"] = record.pop("id")
        if "image_bytes" in product:
            record["image"] = base64.b64encode(bytes(product["image_bytes"])).decode()
        records.append(record)
    path.write_text(json.dumps({"dataframe_records": records}))
    return path


def _filled_queue(store: Store, truth: dict[str, str], path: Path) -> Path | None:
    """The queue's products whose label the demo withheld, with that label filled in."""
    queue = store.query("SELECT * FROM labeling_queue ORDER BY rank")
    filled = queue[queue["product_id"].isin(truth)]
    if filled.empty:
        return None
    return write_csv(filled.assign(category=filled["product_id"].map(truth)), path)
