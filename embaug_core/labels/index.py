"""Nearest neighbours for label augmentation: exact search over the caller's array (a block
at a time, no copy), or one of faiss's approximate indexes (IVF, HNSW) trained on the data.
Vectors are L2-normalised, so inner product is cosine."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import faiss
import numpy as np

logger = logging.getLogger(__name__)

KINDS = ("exact", "ivf", "hnsw")
#: How an approximate index holds the vectors (faiss factory names): 4, 2 or 1 byte a value.
STORAGES = {"flat": "Flat", "fp16": "SQfp16", "sq8": "SQ8"}
#: faiss's k-means wants at least 39 training points per IVF list.
MIN_PER_LIST = 39
#: An index is trained on a seeded sample of max(64 per IVF list, 65,536) rows (or all).
TRAIN_PER_LIST = 64
TRAIN_ROWS = 65_536
#: Rows normalised at a time when adding or searching exactly (740 MB of float32 at 2,816-d).
BLOCK_ROWS = 65_536


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Float32 rows of unit length (zero rows stay zero), in one new array."""
    vectors = np.array(vectors, dtype=np.float32, order="C")
    faiss.normalize_L2(vectors)
    return vectors


@dataclass(frozen=True)
class NeighbourIndex:
    """How neighbours are found: exactly, or with one of faiss's approximate indexes, which
    trade a few of the true neighbours for speed on large universes.

    `ivf`: `nlist` lists (default sqrt(n), and at most n / 39: IVF on fewer than 39 vectors
    falls back to exact search with a warning), k-means on a sample drawn with `seed`; a search
    scans the `nprobe` lists nearest the query. `hnsw`: a graph of `m` links a vector, built
    with `ef_construction` candidates, searched with `ef_search`. `storage`: how an approximate
    index holds the vectors, float32 (`flat`), float16 (`fp16`) or 8-bit (`sq8`, a quarter of
    the memory, slightly approximate similarities). Exact search reads the caller's vectors and
    copies none of them whole. HNSW inserts vectors in parallel, so its graph, and what it
    finds, can differ a little from one build to the next.
    """

    kind: str = "exact"
    nlist: int | None = None
    nprobe: int = 16
    ef_search: int = 64
    ef_construction: int = 40
    m: int = 32
    storage: str = "flat"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {self.storage!r}")
        if self.kind == "exact" and self.storage != "flat":
            raise ValueError(f"exact search reads the vectors as given: storage {self.storage!r}")
        if self.nlist is not None and self.nlist < 1:
            raise ValueError(f"nlist must be at least 1 (or None: sqrt(n)), got {self.nlist}")
        for name in ("nprobe", "ef_search", "ef_construction"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.m < 2:
            raise ValueError(f"m (HNSW links a vector) must be at least 2, got {self.m}")


def index_settings(index: str | NeighbourIndex) -> NeighbourIndex:
    """Settings from a kind ("exact", "ivf", "hnsw", with default settings) or settings."""
    if isinstance(index, NeighbourIndex):
        return index
    if isinstance(index, str):
        return NeighbourIndex(kind=index)
    raise TypeError(f"index must be one of {', '.join(KINDS)} or a NeighbourIndex, got {index!r}")


class ExactSearch:
    """Exact inner-product search straight over the caller's rows (any float dtype). Up to
    BLOCK_ROWS rows are normalised once, like an IndexFlatIP's copy; more are normalised a
    block at a time on every search, since a copy of them all would be too large (11 GB of
    float32 at 1M x 2,816). Searches like a faiss index (`search`, `ntotal`)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.ntotal = len(vectors)
        self.unit = normalised(vectors) if len(vectors) <= BLOCK_ROWS else None

    def block(self, start: int) -> np.ndarray:
        """Unit rows start to start + BLOCK_ROWS."""
        if self.unit is not None:
            return self.unit
        return normalised(self.vectors[start : start + BLOCK_ROWS])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similarities and rows of the k nearest rows of each query, best first (-1: none)."""
        similarities, rows = [], []
        for start in range(0, self.ntotal, BLOCK_ROWS):
            block = self.block(start)
            found_s, found = faiss.knn(queries, block, k, metric=faiss.METRIC_INNER_PRODUCT)
            similarities.append(found_s)
            rows.append(np.where(found >= 0, found + start, -1))
        similarity, row = np.hstack(similarities), np.hstack(rows)
        # Stable: a single block keeps faiss's order, ties included.
        best = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(similarity, best, 1), np.take_along_axis(row, best, 1)


Searcher = faiss.Index | ExactSearch


def ivf_lists(n: int, nlist: int | None) -> int:
    """IVF lists for n vectors: `nlist` (default sqrt(n)), at most n / 39; 0: too few vectors."""
    wanted = nlist or max(1, round(math.sqrt(n)))
    lists = min(wanted, n // MIN_PER_LIST)
    if nlist and lists < nlist:
        logger.warning(
            "IVF wants %d vectors per list: %d lists asked for, %d vectors allow %d%s",
            MIN_PER_LIST,
            nlist,
            n,
            lists,
            " (exact search instead)" if not lists else "",
        )
    elif not lists:
        logger.warning("%d vectors are too few for IVF lists: exact search instead", n)
    return lists


def training_rows(n: int, lists: int, seed: int) -> np.ndarray:
    """The seeded sample an approximate index is trained on (k-means lists, 8-bit ranges)."""
    size = min(n, max(TRAIN_PER_LIST * lists, TRAIN_ROWS))
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def build_index(vectors: np.ndarray, settings: NeighbourIndex) -> Searcher:
    """The search `settings` asks for over these rows (any float dtype; normalised a block at
    a time on the way in, so no float32 copy of them all is made)."""
    lists = ivf_lists(len(vectors), settings.nlist) if settings.kind == "ivf" else 0
    if settings.kind == "exact" or (settings.kind == "ivf" and not lists):
        return ExactSearch(vectors)
    storage = STORAGES[settings.storage]
    described = f"IVF{lists},{storage}" if lists else f"HNSW{settings.m},{storage}"
    index = faiss.index_factory(vectors.shape[1], described, faiss.METRIC_INNER_PRODUCT)
    if lists:
        index.cp.seed = settings.seed
        index.nprobe = settings.nprobe
    else:
        index.hnsw.efConstruction = settings.ef_construction
        index.hnsw.efSearch = settings.ef_search
    if not index.is_trained:
        index.train(normalised(vectors[training_rows(len(vectors), lists, settings.seed)]))
    for start in range(0, len(vectors), BLOCK_ROWS):
        index.add(normalised(vectors[start : start + BLOCK_ROWS]))
    logger.info("built a faiss %s index over %d vectors", described, len(vectors))
    return index


def neighbours(index: Searcher, vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The k nearest rows of each query row other than itself, one batched search.

    Asks for k + 1 and drops the query row wherever it appears (with exact duplicates it need
    not come first, and an approximate index may miss it); missing neighbours (k beyond the
    data, or lists an IVF search did not reach) are -1.
    """
    if not len(rows):
        return np.zeros((0, k), dtype=np.int64)
    _, found = index.search(normalised(vectors[rows]), min(k + 1, index.ntotal))
    valid = (found != rows[:, None]) & (found >= 0)
    # Stable sort moves valid entries first, in their order of similarity.
    order = np.argsort(~valid, axis=1, kind="stable")
    found = np.take_along_axis(np.where(valid, found, -1), order, axis=1)[:, :k]
    if found.shape[1] < k:
        found = np.hstack([found, np.full((len(rows), k - found.shape[1]), -1)])
    return found
