"""What a catalogue's files hold, as one hash: to tell new data from a file only touched.

The files are the ones the catalogue refers to (its table, descriptions and every image a row
names), so an image replaced in place changes the hash in every layout. The stat signature
(names, sizes, modification times) is cheap and changes whenever a file might have; the
content hash reads the bytes, in chunks, and changes only when the data did. Files that may
not be read (links out of the allowed roots, pipes, devices, files over the size cap) enter
both by name and by why they were refused, never by content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from embaug_core.catalog import CatalogSettings, open_catalog
from embaug_core.catalog.files import FileAccess, FileRefused, sha256_file
from embaug_core.catalog.settings import MAX_TABLE_BYTES


def _fingerprint(path: Path, settings: CatalogSettings, describe: Callable[[Path], str]) -> str:
    reader = open_catalog(Path(path), settings, labels=False)
    images = FileAccess.of(reader.folder, settings.image_roots, settings.max_image_bytes)
    tables = FileAccess.of(reader.folder, (), MAX_TABLE_BYTES)
    digest = hashlib.sha256()
    for name, is_image in reader.files():
        access = images if is_image else tables
        try:
            target = access.resolve(reader.folder, name)
            access.check(target)
            entry = describe(target)
        except FileRefused as error:
            entry = f"refused: {error}"
        digest.update(f"{name}\0{entry}\n".encode())
    return digest.hexdigest()


def stat_signature(path: Path, settings: CatalogSettings | None = None) -> str:
    """SHA-256 of every referenced file's name, size and modification time (no content read)."""

    def describe(file: Path) -> str:
        status = file.stat()
        return f"{status.st_size}\0{status.st_mtime_ns}"

    return _fingerprint(path, settings or CatalogSettings(), describe)


def content_sha256(path: Path, settings: CatalogSettings | None = None) -> str:
    """SHA-256 of every referenced file's name and bytes: equal iff the data is equal."""
    return _fingerprint(path, settings or CatalogSettings(), sha256_file)
