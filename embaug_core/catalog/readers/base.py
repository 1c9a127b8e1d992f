"""What every catalogue layout offers: its rows as candidates, and the files it refers to.

A reader opens a catalogue (checking what must be there: one clear `CatalogError` otherwise),
then streams its rows; a row it cannot parse is rejected with a reason, never fatal.
"""

from __future__ import annotations

import codecs
import csv
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from embaug_core.catalog.files import CHUNK, FileAccess, FileRefused, real_path
from embaug_core.catalog.settings import MAX_CSV_FIELD, MAX_FIELD_CHARS, MAX_TABLE_BYTES

REJECTED_COLUMNS = ("source", "line", "product_id", "reason")


class CatalogError(ValueError):
    """The catalogue as a whole cannot be read; the message names the file and what was expected."""


@dataclass(frozen=True)
class Candidate:
    """One row as read from the source, before validation. `category` None: unlabelled;
    `read_image` None: the catalogue has no images."""

    source: str
    line: int
    product_id: str
    title: str
    description_html: str
    category: str | None
    read_image: Callable[[], bytes] | None


@dataclass
class Rejections:
    """Rows set aside, each with where it came from and why."""

    rows: list[dict] = field(default_factory=list)

    def add(self, source: str, line: int, product_id: str, reason: str) -> None:
        """Keep a rejected row; its id is cut to the longest accepted id (a 1 MB id is a
        reason, not something to store)."""
        product_id = product_id[: MAX_FIELD_CHARS["id"]]
        self.rows.append(
            {"source": source, "line": line, "product_id": product_id, "reason": reason}
        )

    def reject(self, row: Candidate, reason: str) -> None:
        self.add(row.source, row.line, row.product_id, reason)


class Reader(Protocol):
    """An opened catalogue of one layout."""

    layout: str
    path: Path
    #: The folder relative file names (images, descriptions) start from.
    folder: Path
    #: The features its rows can provide (a subset of title, description, image).
    features: tuple[str, ...]
    label_column: str

    def rows(self, rejected: Rejections) -> Iterator[Candidate]: ...

    def files(self) -> Iterator[tuple[str, bool]]:
        """Every file the catalogue refers to, relative to `folder`, and whether it is an
        image (read under the image roots and size cap) rather than a table: its fingerprint."""
        ...


def check_table_file(path: Path) -> None:
    """A table file must be a regular file of bounded size (not a pipe, device or folder)."""
    try:
        FileAccess((real_path(path.parent),), MAX_TABLE_BYTES).check(real_path(path))
    except FileRefused as error:
        raise CatalogError(f"{path}: cannot be read as a catalogue table ({error})") from error


def check_utf8(path: Path) -> None:
    """Decode the whole file incrementally (bounded memory) and name the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                at, bad = offset + error.start, chunk[error.start : error.start + 4]
                raise CatalogError(
                    f"{path}: not UTF-8 text (byte {at}: {bad!r}); re-save the file as UTF-8"
                ) from error
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise CatalogError(f"{path}: not UTF-8 text (ends mid-character)") from error


def open_csv(path: Path, required: tuple[str, ...]) -> list[str]:
    """Check the file and read its header; a missing or repeated column is one clear error
    (with a name twice, which one holds the data is a guess: csv_rows would take the last)."""
    check_table_file(path)
    check_utf8(path)
    csv.field_size_limit(MAX_CSV_FIELD)  # before the header too: one long name is no reason
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            header = next(csv.reader(handle), None)
        except csv.Error as error:
            raise CatalogError(f"{path}: line 1 (the header) cannot be read: {error}") from error
    if header is None:
        raise CatalogError(f"{path}: empty file; expected a header with {', '.join(required)}")
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(missing)}; expected at least "
            f"{', '.join(required)} (found {', '.join(header)})"
        )
    repeated = sorted(name for name, n in Counter(header).items() if name and n > 1)
    if repeated:
        where = "; ".join(
            f"{name!r} is columns "
            + " and ".join(str(i + 1) for i, found in enumerate(header) if found == name)
            for name in repeated[:3]
        )
        raise CatalogError(
            f"{path}: the header names a column twice ({where}); rename or remove one, so "
            "that it is clear which holds the data"
        )
    return header


def csv_rows(path: Path, rejected: Rejections) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of each well-formed data row, streamed; a malformed line (wrong field
    count, a field over MAX_CSV_FIELD) is rejected and reading goes on."""
    csv.field_size_limit(MAX_CSV_FIELD)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader)]
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                rejected.add(path.name, reader.line_num, "", f"malformed line: {error}")
                continue
            if not fields:
                continue
            if len(fields) != len(header):
                reason = f"malformed line: {len(fields)} fields, expected {len(header)}"
                rejected.add(path.name, reader.line_num, fields[0].strip(), reason)
            else:
                yield reader.line_num, dict(zip(header, fields, strict=True))


def is_regular(path: Path) -> bool:
    """A regular file (following links), without opening it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
