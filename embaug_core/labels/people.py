"""People's labels: imported from a CSV (the labeling queue filled in, or any file with an id
and a category), validated row by row, stored with their provenance, and merged with the
catalogue's labels for the next retraining (docs/METHODS.md section 7).

Rules, written down once:
- A person's label overrides the catalogue's for training; the disagreement is kept and
  counted as a conflict (the catalogue's value stays in the product table).
- A later label of the same product overrides an earlier one.
- A class that people introduce becomes a class once it has `min_class_products` products
  (catalogue and people together); until then its products stay unlabelled.
- An empty category is a row the person left blank, counted, not an error.
- A category is kept in Unicode's composed form (NFC), as the catalogue's are: "Café" typed
  either way is one class, with a warning when the file and the catalogue spell it apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from embaug_core.catalog.readers.base import CatalogError, Rejections, csv_rows, open_csv
from embaug_core.catalog.settings import MAX_FIELD_CHARS
from embaug_core.catalog.text import Spellings, is_blank
from embaug_core.common.spreadsheet import TRIGGERS, restore
from embaug_core.store import Store

ID_COLUMNS = ("product_id", "id")
#: Products a class that people introduce needs before it is trained on.
MIN_CLASS_PRODUCTS = 10


@dataclass(frozen=True)
class LabelFile:
    """A file of labels read and checked: what can be stored, and what was not."""

    path: Path
    sha256: str
    labels: pd.DataFrame
    rejected: pd.DataFrame
    left_empty: int
    conflicts: int


def read_label_file(path: str | Path, store: Store) -> LabelFile:
    """Read a label CSV; rows naming unknown products, repeating an id or holding an unusable
    category are rejected with their reason. A file that cannot be read is a CatalogError."""
    path = Path(path).expanduser().resolve()
    header = open_csv(path, ("category",))
    id_column = next((c for c in ID_COLUMNS if c in header), None)
    if id_column is None:
        raise CatalogError(f"{path}: no id column; expected product_id or id beside category")
    catalogue = store.products().set_index("product_id")["category"]
    classes = set(catalogue.dropna()) | set(store.human_labels()["category"])
    rejected = Rejections()
    rows, seen, empty = [], {}, 0
    spellings = Spellings()
    for name in catalogue.dropna().unique():
        spellings.add(name)
    for line, row in csv_rows(path, rejected):
        product_id = str(restore(row[id_column].strip()))
        category = str(restore(row["category"])).strip()
        reason = _problem(product_id, category, catalogue, seen)
        if reason is None:
            reason = _formula(category, classes)
        if reason == "":
            empty += 1
        elif reason:
            rejected.add(path.name, line, product_id, reason)
        else:
            seen[product_id] = line
            rows.append(
                {"product_id": product_id, "category": spellings.add(category), "line": line}
            )
    spellings.merged(path.name)
    labels = pd.DataFrame(rows, columns=["product_id", "category", "line"])
    known = catalogue.reindex(labels["product_id"]).to_numpy()
    conflicts = int((pd.notna(known) & (known != labels["category"].to_numpy())).sum())
    return LabelFile(path, _sha256(path), labels, pd.DataFrame(rejected.rows), empty, conflicts)


def _problem(
    product_id: str, category: str, catalogue: pd.Series, seen: dict[str, int]
) -> str | None:
    """Why a row cannot be used; "" for a category left blank; None when it is fine."""
    if is_blank(product_id):
        return "empty id"
    if product_id not in catalogue.index:
        return f"unknown id: {product_id[:80]!r} is not in the catalogue"
    if product_id in seen:
        return f"duplicate id: first seen on line {seen[product_id]}"
    if is_blank(category):
        return ""
    if len(category) > MAX_FIELD_CHARS["category"]:
        return (
            f"category too long: {len(category):,} characters (limit {MAX_FIELD_CHARS['category']})"
        )
    return None


def _formula(category: str, classes: set[str]) -> str | None:
    """A new class that starts like a spreadsheet formula (`=HYPERLINK(...)`, `@SUM(...)`) is
    refused: it would be served as a category and run in the next spreadsheet that opens it.
    A class the catalogue or people already use stays usable."""
    if category.startswith(TRIGGERS) and category not in classes:
        return (
            f"category {category[:60]!r} starts like a spreadsheet formula ({category[0]!r}); "
            "write the class without it"
        )
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_label_file(
    store: Store, read: LabelFile, scored: pd.DataFrame | None = None
) -> dict[str, object]:
    """Store the labels with their provenance; `scored` (product_id, category predicted by the
    production model before these labels existed) gives the model's accuracy on them. Returns
    the import's record (`new` False when the same file was imported before)."""
    now = datetime.now(UTC)
    accuracy, version, n_scored = _accuracy(read.labels, scored)
    record = {
        "file_sha256": read.sha256,
        "file_name": read.path.name,
        "imported_at": now,
        "labels": len(read.labels),
        "left_empty": read.left_empty,
        "rejected": len(read.rejected),
        "conflicts": read.conflicts,
        "model_version": version,
        "model_accuracy": accuracy,
        "scored": n_scored,
    }
    rows = read.labels.assign(file_sha256=read.sha256, imported_at=now)
    return {**record, "new": store.add_human_labels(rows, record)}


def _accuracy(labels: pd.DataFrame, scored: pd.DataFrame | None) -> tuple[float, str, int]:
    """The share of labelled products the model had put in the class people gave ("none"
    counts as wrong), measured before the model ever trains on them."""
    if scored is None or scored.empty or labels.empty:
        return float("nan"), "", 0
    merged = labels.merge(scored, on="product_id", suffixes=("", "_predicted"))
    if merged.empty:
        return float("nan"), str(scored["model_version"].iloc[0]), 0
    right = merged["category"] == merged["category_predicted"]
    return float(right.mean()), str(merged["model_version"].iloc[0]), len(merged)


def effective_labels(
    store: Store, min_class_products: int = MIN_CLASS_PRODUCTS
) -> tuple[pd.Series, list[str]]:
    """Every product's class for training (catalogue, overridden by people) and the products
    people labelled; a class people introduced that is still too small is left out."""
    products = store.products()
    labels = pd.Series(products["category"].to_numpy(), index=products["product_id"], dtype=object)
    human = store.human_labels().drop_duplicates("product_id", keep="last")
    human = human[human["product_id"].isin(labels.index)]
    catalogue_classes = set(labels.dropna())
    labels.loc[human["product_id"]] = human["category"].to_numpy()
    sizes = labels.value_counts()
    small = [c for c in sizes.index if c not in catalogue_classes and sizes[c] < min_class_products]
    labels[labels.isin(small)] = None
    people = human.loc[~human["category"].isin(small), "product_id"].tolist()
    return labels, people


def import_label_file(store: Store, path: str | Path) -> tuple[LabelFile, dict[str, object]]:
    """Read, check and store one file of labels; the production model's accuracy on them is
    taken from its predictions, made before it could train on them."""
    read = read_label_file(path, store)
    scored = store.predictions()[["product_id", "category", "model_version"]]
    return read, store_label_file(store, read, scored)
