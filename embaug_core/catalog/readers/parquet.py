"""A Parquet file (the Hugging Face copy of the small set): `id`, a title column
(`productDisplayName` or `title`), a label column, an optional `description`, and `image` as a
struct holding the file's `bytes` (or a `path` relative to the Parquet file). Read in batches,
so memory does not grow with the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from embaug_core.catalog.files import FileAccess, FileRefused
from embaug_core.catalog.readers.base import (
    Candidate,
    CatalogError,
    Rejections,
    check_table_file,
)
from embaug_core.catalog.settings import CatalogSettings

DEFAULT_LABEL = "articleType"
TITLES = ("productDisplayName", "title")
BATCH_ROWS = 256


class ParquetReader:
    layout = "parquet"

    def __init__(self, path: Path, settings: CatalogSettings, labels: bool = True):
        import pyarrow.parquet as pq

        check_table_file(path)
        self.path = path
        self.folder = path.parent
        try:
            self.file = pq.ParquetFile(path)
        except Exception as error:
            raise CatalogError(f"{path}: cannot read as Parquet ({error})") from error
        columns = self.file.schema_arrow.names
        self.label_column = settings.label_column or DEFAULT_LABEL
        self.title = next((name for name in TITLES if name in columns), None)
        required = ["id", *((self.label_column,) if labels else ())]
        missing = [name for name in required if name not in columns]
        if missing or not (self.title or "image" in columns):
            raise CatalogError(
                f"{path}: missing column(s) {', '.join(missing) or 'title or image'}; expected "
                f"id, {self.label_column}, a title ({' or '.join(TITLES)}), an optional "
                "description and image (a struct with 'bytes')"
            )
        self.has_labels = labels and self.label_column in columns
        present = {"title": self.title, "description": "description", "image": "image"}
        self.features = tuple(
            name for name, column in present.items() if column and column in columns
        )
        self.max_image_bytes = settings.max_image_bytes
        self.access = FileAccess.of(path.parent, settings.image_roots, settings.max_image_bytes)

    @staticmethod
    def matches(path: Path) -> bool:
        return path.suffix == ".parquet"

    def rows(self, rejected: Rejections) -> Iterator[Candidate]:
        """Rows without their images; each row's image is read when asked for, in row order,
        through one cursor over the image column (one batch in memory at a time)."""
        columns = [c for c in self.file.schema_arrow.names if c != "image"]
        cursor = _ImageCursor(self.file) if "image" in self.features else None
        line = 0
        for batch in self.file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            for row in batch.to_pylist():
                line += 1
                yield Candidate(
                    source=self.path.name,
                    line=line,
                    product_id=_text(row.get("id")).strip(),
                    title=_text(row.get(self.title)) if self.title else "",
                    description_html=_text(row.get("description")),
                    category=_text(row.get(self.label_column)) if self.has_labels else None,
                    read_image=self._reader(cursor, line - 1) if cursor else None,
                )

    def _reader(self, cursor: _ImageCursor, row: int) -> Callable[[], bytes]:
        return lambda: self._image(cursor.at(row))

    def _image(self, image: object) -> bytes:
        """The image bytes of a row: inline, or a file next to the Parquet file."""
        if not isinstance(image, dict):
            return b""
        if image.get("bytes"):
            data = image["bytes"]
            if len(data) > self.max_image_bytes:
                raise FileRefused(
                    f"image too large: {len(data):,} bytes (limit {self.max_image_bytes:,}, "
                    "setting max_image_bytes)"
                )
            return data
        if image.get("path"):
            return self.access.read(self.path.parent, str(image["path"]))
        return b""

    def files(self) -> Iterator[tuple[str, bool]]:
        yield self.path.name, False


class _ImageCursor:
    """The image column read forward in batches: rows must be asked for in increasing order
    (the loader keeps source order), so memory holds one batch."""

    def __init__(self, file):
        self.batches = file.iter_batches(batch_size=BATCH_ROWS, columns=["image"])
        self.start, self.values = 0, []

    def at(self, row: int) -> object:
        if row < self.start:
            raise ValueError(f"image of row {row} asked for after row {self.start}")
        while row >= self.start + len(self.values):
            self.start += len(self.values)
            self.values = next(self.batches).column("image").to_pylist()
        return self.values[row - self.start]


def _text(value: object) -> str:
    return "" if value is None else str(value)
