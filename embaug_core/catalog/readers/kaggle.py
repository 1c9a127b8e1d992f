"""The Kaggle Fashion Product Images layout: `styles.csv` and `images/<id>.jpg`, with
descriptions from the full dataset's `styles/<id>.json` documents or the same documents one
per line in `styles.jsonl.gz`, when present."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from embaug_core.catalog.files import FileAccess
from embaug_core.catalog.readers.base import (
    Candidate,
    Rejections,
    check_table_file,
    csv_rows,
    is_regular,
    open_csv,
)
from embaug_core.catalog.settings import MAX_CSV_FIELD, CatalogSettings

logger = logging.getLogger(__name__)
TITLE = "productDisplayName"
DEFAULT_LABEL = "articleType"


class KaggleReader:
    layout = "kaggle"

    def __init__(self, path: Path, settings: CatalogSettings, labels: bool = True):
        self.path = path
        self.folder = path if path.is_dir() else path.parent
        self.styles = self.folder / "styles.csv" if path.is_dir() else path
        self.label_column = settings.label_column or DEFAULT_LABEL
        header = open_csv(self.styles, ("id", TITLE, *((self.label_column,) if labels else ())))
        self.has_labels = labels and self.label_column in header
        self.features = ("title", "description", "image")
        self.access = FileAccess.of(self.folder, settings.image_roots, settings.max_image_bytes)

    @staticmethod
    def matches(path: Path) -> bool:
        if path.is_dir():
            return (path / "styles.csv").is_file()
        if path.suffix != ".csv" or not is_regular(path):
            return False
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            return TITLE in handle.readline(65_536)

    def rows(self, rejected: Rejections) -> Iterator[Candidate]:
        descriptions = _descriptions(self.folder)
        for line, row in csv_rows(self.styles, rejected):
            product_id = row["id"].strip()
            yield Candidate(
                source=self.styles.name,
                line=line,
                product_id=product_id,
                title=row[TITLE],
                description_html=descriptions(product_id),
                category=row[self.label_column] if self.has_labels else None,
                read_image=self._image_reader(product_id),
            )

    def _image_reader(self, product_id: str) -> Callable[[], bytes]:
        return lambda: self.access.read(self.folder, f"images/{product_id}.jpg")

    def files(self) -> Iterator[tuple[str, bool]]:
        yield self.styles.name, False
        if (self.folder / "styles.jsonl.gz").exists():
            yield "styles.jsonl.gz", False
        documents = self.folder / "styles"
        if documents.is_dir():
            for document in sorted(documents.glob("*.json")):
                yield f"styles/{document.name}", False
        for _, row in csv_rows(self.styles, Rejections()):
            yield f"images/{row['id'].strip()}.jpg", True


def _descriptions(folder: Path) -> Callable[[str], str]:
    """Look up a product's description HTML from styles.jsonl.gz or styles/<id>.json."""
    bundle = folder / "styles.jsonl.gz"
    if bundle.exists():
        check_table_file(bundle)
        table: dict[str, str] = {}
        with gzip.open(bundle, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(iter(lambda: lines.readline(MAX_CSV_FIELD), ""), 1):
                try:
                    data = json.loads(line)["data"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s line %d: not a style document, skipped", bundle, number)
                    continue
                table[str(data.get("id", ""))] = _description_html(data)
        return lambda product_id: table.get(product_id, "")
    documents = folder / "styles"
    if documents.is_dir():
        return lambda product_id: _description_from_file(documents / f"{product_id}.json")
    return lambda product_id: ""


def _description_html(data: dict) -> str:
    descriptors = data.get("productDescriptors") or {}
    value = (descriptors.get("description") or {}).get("value") or ""
    return value if isinstance(value, str) else ""


def _description_from_file(document: Path) -> str:
    if not is_regular(document) or document.stat().st_size > MAX_CSV_FIELD:
        return ""
    try:
        return _description_html(json.loads(document.read_text("utf-8"))["data"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        logger.warning("%s: not a style document, description left empty", document)
        return ""
