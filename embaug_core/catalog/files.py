"""Reading the files a catalogue refers to, within bounds: only regular files, only under the
allowed roots, never more than a size cap. A link to /dev/zero, a named pipe or a 2 GB sparse
file costs nothing but a rejected row."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 2**20


class FileRefused(OSError):
    """A referenced file that may not be read; the message says why and what to change."""


class ImageTooLarge(FileRefused):
    """An image over the size cap, found before its bytes were read (a Parquet cell): the
    message is the row's whole reason, since the image is there, only too large."""


def real_path(path: Path) -> Path:
    """`path` with every link followed; a link loop (which Python reports as RuntimeError
    before 3.13) or a path the system cannot resolve is refused, as one row's reason."""
    try:
        return path.resolve()
    except RuntimeError as error:  # "Symlink loop from ..."
        raise FileRefused(f"{path.name} is a symbolic link loop") from error
    except OSError as error:
        raise FileRefused(f"{path.name} cannot be resolved ({error.strerror})") from error


@dataclass(frozen=True)
class FileAccess:
    """The folders files may resolve into (after following links) and the size cap."""

    roots: tuple[Path, ...]
    max_bytes: int

    @classmethod
    def of(cls, folder: Path, roots: tuple[str, ...], max_bytes: int) -> FileAccess:
        """Access for a catalogue in `folder`; no roots given means the folder itself."""
        chosen = roots or (str(folder),)
        return cls(tuple(Path(r).expanduser().resolve() for r in chosen), max_bytes)

    def resolve(self, folder: Path, relative: str) -> Path:
        """The real path of `relative` (to `folder`), if it lies under an allowed root. A
        relative path missing (or not allowed) under `folder` is looked up under each root in
        turn, so that `--image-root DIR` finds `DIR/<relative>` as a person expects."""
        target = real_path(folder / relative)
        if not target.exists() or not self.allows(target):
            target = next(self._under_roots(relative), target)
        if not self.allows(target):
            where = (
                "leaves the catalogue folder"
                if relative.startswith(("/", ".."))
                else (f"resolves to {target}, outside the allowed image roots")
            )
            raise FileRefused(
                f"image path {relative!r} {where} ({', '.join(map(str, self.roots))}); "
                "allow more folders with the image_roots setting (--image-root)"
            )
        return target

    def allows(self, target: Path) -> bool:
        return any(target.is_relative_to(root) for root in self.roots)

    def _under_roots(self, relative: str) -> Iterator[Path]:
        """Existing files `root/relative` that stay under an allowed root (a loop or a
        path that leaves its root is skipped: the folder's own reading is refused instead)."""
        for root in self.roots:
            try:
                target = real_path(root / relative)
            except FileRefused:
                continue
            if target.exists() and self.allows(target):
                yield target

    def check(self, path: Path) -> os.stat_result:
        """The file's status if it is a regular file within the size cap; else FileRefused."""
        try:
            status = path.stat()
        except FileNotFoundError as error:
            raise FileRefused(f"no such file {path.name}") from error
        except OSError as error:  # a link loop (ELOOP), a permission, a path too long
            raise FileRefused(f"cannot read {path.name} ({error.strerror})") from error
        if not stat.S_ISREG(status.st_mode):
            raise FileRefused(f"{path.name} is not a regular file ({_kind(status.st_mode)})")
        if status.st_size > self.max_bytes:
            raise FileRefused(
                f"file too large: {path.name} has {status.st_size:,} bytes "
                f"(limit {self.max_bytes:,}, setting max_image_bytes)"
            )
        return status

    def read(self, folder: Path, relative: str) -> bytes:
        """The bytes of a referenced file, checked before it is opened."""
        path = self.resolve(folder, relative)
        self.check(path)
        with path.open("rb") as handle:
            data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise FileRefused(f"file too large: {path.name} grew past {self.max_bytes:,} bytes")
        return data


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def sha256_file(path: Path) -> str:
    """SHA-256 of a regular file, read in chunks (bounded memory whatever its size)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
