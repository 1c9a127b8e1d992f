"""A plain CSV: an `id` column, a label column (default `category`) and any of `title`,
`description` and `image` (paths relative to the CSV's folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from embaug_core.catalog.files import FileAccess
from embaug_core.catalog.readers.base import (
    Candidate,
    CatalogError,
    Rejections,
    csv_rows,
    is_regular,
    open_csv,
)
from embaug_core.catalog.settings import FEATURES, CatalogSettings

DEFAULT_LABEL = "category"


class PlainCsvReader:
    layout = "plain_csv"

    def __init__(self, path: Path, settings: CatalogSettings, labels: bool = True):
        self.path = path
        self.folder = path.parent
        self.label_column = settings.label_column or DEFAULT_LABEL
        header = open_csv(path, ("id", *((self.label_column,) if labels else ())))
        self.has_labels = labels and self.label_column in header
        self.features = tuple(name for name in FEATURES if name in header)
        if not self.features:
            raise CatalogError(
                f"{path}: no feature column; expected at least one of {', '.join(FEATURES)} "
                f"(found {', '.join(header)})"
            )
        self.access = FileAccess.of(self.folder, settings.image_roots, settings.max_image_bytes)

    @staticmethod
    def matches(path: Path) -> bool:
        return path.suffix == ".csv" and is_regular(path)

    def rows(self, rejected: Rejections) -> Iterator[Candidate]:
        for line, row in csv_rows(self.path, rejected):
            yield Candidate(
                source=self.path.name,
                line=line,
                product_id=row["id"].strip(),
                title=row.get("title", ""),
                description_html=row.get("description", ""),
                category=row[self.label_column] if self.has_labels else None,
                read_image=self._image_reader(row["image"].strip())
                if "image" in self.features
                else None,
            )

    def _image_reader(self, relative: str) -> Callable[[], bytes]:
        return lambda: self.access.read(self.folder, relative)

    def files(self) -> Iterator[tuple[str, bool]]:
        yield self.path.name, False
        if "image" in self.features:
            for _, row in csv_rows(self.path, Rejections()):
                yield row["image"].strip(), True
