"""A Parquet file (the Hugging Face copy of the small set): `id`, a title column
(`productDisplayName` or `title`), a label column, an optional `description`, and `image` as a
struct holding the file's `bytes` (or a `path` relative to the Parquet file). Read in batches,
so memory does not grow with the file; image cells are sized from the file's metadata and
their lengths before any is decompressed whole or becomes a Python object."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from embaug_core.catalog.files import FileAccess, ImageTooLarge
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
#: Bytes a Parquet writer may add to each value (length prefix, levels) beyond the image itself.
VALUE_OVERHEAD = 64


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
        repeated = sorted(name for name, n in Counter(columns).items() if n > 1)
        if repeated:
            raise CatalogError(
                f"{path}: the schema names a column twice ({', '.join(map(repr, repeated))}); "
                "rename or remove one, so that it is clear which holds the data"
            )
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
        cursor = _ImageCursor(self.file, self.max_image_bytes) if "image" in self.features else None
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
        """The image bytes of a row: inline (sized by the cursor), or a file next to the
        Parquet file."""
        if isinstance(image, ImageTooLarge):  # one refusal may stand for a whole row group:
            raise ImageTooLarge(str(image))  # a fresh one, so no traceback grows with reraises
        if not isinstance(image, dict):
            return b""
        if image.get("bytes"):
            return image["bytes"]
        if image.get("path"):
            return self.access.read(self.path.parent, str(image["path"]))
        return b""

    def files(self) -> Iterator[tuple[str, bool]]:
        yield self.path.name, False


class _ImageCursor:
    """The image column read forward: rows must be asked for in increasing order (the loader
    keeps source order), so memory holds one batch. Each row's cell, or an ImageTooLarge."""

    def __init__(self, file, max_bytes: int):
        self.values = _image_cells(file, max_bytes)
        self.next_row = 0

    def at(self, row: int) -> object:
        if row < self.next_row:
            raise ValueError(f"image of row {row} asked for after row {self.next_row}")
        while self.next_row <= row:
            value = next(self.values)
            self.next_row += 1
        return value


def _image_cells(file, max_bytes: int) -> Iterator[object]:
    """Every row's image cell, one row group at a time. A group whose image column the file's
    metadata says takes more bytes uncompressed than its rows may hold at `max_bytes` each is
    never read (a 111 KB file may hold a 1.5 GB zstd cell): each of its rows is refused. In a
    group that is read, a cell over `max_bytes` is refused by its length, before it becomes a
    Python object."""
    metadata = file.metadata
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        size = _uncompressed(metadata.row_group(group), "image")
        if size > rows * (max_bytes + VALUE_OVERHEAD):
            what = f"{size:,} bytes" if rows == 1 else f"{size:,} bytes for its {rows:,} rows"
            refusal = ImageTooLarge(
                f"image too large: row group {group} of the Parquet file holds {what} of "
                f"images uncompressed (limit {max_bytes:,} per image, setting max_image_bytes); "
                "none of its images was read"
            )
            yield from itertools.repeat(refusal, rows)
            continue
        for batch in file.iter_batches(
            batch_size=BATCH_ROWS, row_groups=[group], columns=["image"]
        ):
            yield from _batch_cells(batch.column("image"), max_bytes)


def _uncompressed(group, column: str) -> int:
    """Bytes the column (every leaf of a struct) takes uncompressed in a row group."""
    return sum(
        group.column(i).total_uncompressed_size
        for i in range(group.num_columns)
        if group.column(i).path_in_schema.split(".")[0] == column
    )


def _batch_cells(column, max_bytes: int) -> Iterator[object]:
    """A batch's cells as Python values; an inline image over `max_bytes` as an
    ImageTooLarge, measured on the Arrow array (no copy of it is made)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_struct(column.type) and column.type.get_field_index("bytes") >= 0):
        yield from column.to_pylist()
        return
    lengths = pc.binary_length(pc.struct_field(column, "bytes")).to_pylist()
    if not any(n is not None and n > max_bytes for n in lengths):
        yield from column.to_pylist()
        return
    for row, length in enumerate(lengths):
        if length is not None and length > max_bytes:
            yield ImageTooLarge(
                f"image too large: {length:,} bytes (limit {max_bytes:,}, setting max_image_bytes)"
            )
        else:
            yield column[row].as_py()


def _text(value: object) -> str:
    return "" if value is None else str(value)
