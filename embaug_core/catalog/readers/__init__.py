"""Catalogue layouts, one module each, behind one small interface (`base.Reader`). Adding a
layout is a class with `matches`, `rows` and `files`, added to `READERS`."""

from __future__ import annotations

from pathlib import Path

from embaug_core.catalog.readers.base import CatalogError, Reader
from embaug_core.catalog.readers.kaggle import KaggleReader
from embaug_core.catalog.readers.parquet import ParquetReader
from embaug_core.catalog.readers.plain_csv import PlainCsvReader
from embaug_core.catalog.settings import CatalogSettings

#: In the order they are tried: a CSV with Kaggle's columns is Kaggle, any other CSV plain.
READERS = (KaggleReader, ParquetReader, PlainCsvReader)


def open_catalog(path: Path, settings: CatalogSettings, labels: bool = True) -> Reader:
    """The reader for a catalogue path, or a CatalogError saying what was expected."""
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    path = _the_table_in(path)
    for reader in READERS:
        if reader.matches(path):
            return reader(path, settings, labels)
    if path.is_dir():
        raise CatalogError(
            f"{path}: no styles.csv in this folder, nor one .csv or .parquet file; expected the "
            "Kaggle Fashion Product Images layout (styles.csv + images/<id>.jpg), a .parquet "
            "file or a plain .csv file"
        )
    raise CatalogError(f"{path}: unknown catalogue format; expected a folder, .csv or .parquet")


def _the_table_in(path: Path) -> Path:
    """A folder without styles.csv that holds exactly one .csv or .parquet file stands for that
    file; with several, which one to read is the person's choice."""
    if not path.is_dir() or (path / "styles.csv").is_file():
        return path
    tables = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".parquet") and p.is_file())
    if len(tables) > 1:
        names = ", ".join(p.name for p in tables[:5])
        raise CatalogError(f"{path}: {len(tables)} tables in this folder ({names}); name one")
    return tables[0] if tables else path


__all__ = ["READERS", "CatalogError", "Reader", "open_catalog"]
