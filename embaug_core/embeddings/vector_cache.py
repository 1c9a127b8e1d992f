"""The product matrix read once: kept in memory for the process and, on disk, as a
memory-mapped float32 file named by the vectors' fingerprint, so every partition of a process
and every worker process on the machine (or on a shared folder) share one copy instead of
re-reading 44k x 2,816 values from DuckDB each time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from embaug_core.embeddings.vectors import ProductVectors

logger = logging.getLogger(__name__)
_MEMORY: dict[str, ProductVectors] = {}


def cached_vectors(
    folder: Path, fingerprint: str, build: Callable[[], ProductVectors], categories: np.ndarray
) -> ProductVectors:
    """The vectors of `fingerprint`: from this process's memory, else the memory-mapped file,
    else built (from DuckDB) and written for the next reader. `categories` are the products'
    current classes (they are not part of the fingerprint's file)."""
    if fingerprint in _MEMORY:
        found = _MEMORY[fingerprint]
        return ProductVectors(found.product_ids, categories, found.vectors)
    matrix, ids = folder / f"{fingerprint}.npy", folder / f"{fingerprint}.ids.npy"
    if matrix.is_file() and ids.is_file():
        vectors = ProductVectors(
            np.load(ids, allow_pickle=False).astype(object),
            categories,
            np.load(matrix, mmap_mode="r", allow_pickle=False),
        )
    else:
        vectors = build()
        _write(folder, fingerprint, vectors)
    _MEMORY.clear()  # one fingerprint at a time: a new catalogue replaces the old matrix
    _MEMORY[fingerprint] = vectors
    return vectors


def _write(folder: Path, fingerprint: str, vectors: ProductVectors) -> None:
    """Write atomically (a reader never sees half a file); other fingerprints' files go."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.npy"):
        if not stale.name.startswith(fingerprint):
            stale.unlink(missing_ok=True)
    for suffix, array in ((".ids.npy", vectors.product_ids.astype(str)), (".npy", vectors.vectors)):
        temporary = folder / f".{fingerprint}{suffix}.{os.getpid()}"
        with temporary.open("wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        temporary.replace(folder / f"{fingerprint}{suffix}")
    logger.info("product matrix %s cached in %s", vectors.vectors.shape, folder)
