"""What a catalogue holds, as one hash: to tell new data from a file that was only touched.

A catalogue is a folder (every file under it that is not hidden) or a single file. The stat
signature (names, sizes, modification times) is cheap and changes whenever a file might have;
the content hash reads every byte and changes only when the data did. A watcher recomputes the
content hash only when the signature moved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def catalog_files(path: Path) -> list[Path]:
    """The catalogue's files in a stable order (hidden files and folders skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such catalogue folder or file")
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        files.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
    return files


def _relative(file: Path, root: Path) -> str:
    return file.name if root.is_file() else file.relative_to(root).as_posix()


def stat_signature(path: Path) -> str:
    """SHA-256 of every file's relative name, size and modification time (no content read)."""
    digest = hashlib.sha256()
    for file in catalog_files(path):
        stat = file.stat()
        digest.update(f"{_relative(file, path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """SHA-256 of every file's relative name and bytes: equal iff the data is equal."""
    digest = hashlib.sha256()
    for file in catalog_files(path):
        data = file.read_bytes()
        digest.update(f"{_relative(file, path)}\0{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()
