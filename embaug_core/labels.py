"""Similarity label augmentation and the label-propagation baseline (METHODS.md section 6).

Classes grow from their seeds through k nearest neighbours in the universe of all product
vectors (L2-normalised, so inner product is cosine; exact search by default, or one of faiss's
approximate indexes, `NeighbourIndex`). Each step is one batched search over the frontier of
every still-growing class:

    C'_i = U_{x in C_{i-1}} n_k(x)  minus every set of every class from steps 0..i-1
    C_i  = C'_i minus (union of C'_i of all other classes) minus H

so classes stay disjoint by construction and the hold-out H is never added.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd
from scipy import sparse

logger = logging.getLogger(__name__)

STOPS = ("per_class", "any")
STOP_ONS = ("shrink", "grow")
UNASSIGNED = -1
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


@dataclass(frozen=True)
class AugmentedLabels:
    """Per class, the rows added at each step (step 0: the seeds), and the steps taken."""

    steps: dict[str, list[np.ndarray]]
    n_steps: int

    def table(self) -> pd.DataFrame:
        """One row per labelled row: row, label, step."""
        frames = [
            pd.DataFrame({"row": rows, "label": label, "step": step})
            for label, per_step in self.steps.items()
            for step, rows in enumerate(per_step)
        ]
        if not frames:
            return pd.DataFrame({"row": [], "label": [], "step": []})
        return pd.concat(frames, ignore_index=True)

    def sizes(self) -> pd.DataFrame:
        """Seeds and augmented count per class, largest augmented first."""
        rows = [
            {
                "label": label,
                "seeds": len(steps[0]),
                "augmented": sum(len(s) for s in steps[1:]),
                "steps": len(steps) - 1,
            }
            for label, steps in self.steps.items()
        ]
        return pd.DataFrame(rows).sort_values("augmented", ascending=False, ignore_index=True)


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


def _check(k: int, stop: str, stop_on: str) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if stop not in STOPS:
        raise ValueError(f"stop must be one of {', '.join(STOPS)}, got {stop!r}")
    if stop_on not in STOP_ONS:
        raise ValueError(f"stop_on must be one of {', '.join(STOP_ONS)}, got {stop_on!r}")


def augment_labels(
    vectors: np.ndarray,
    seeds: Mapping[str, Sequence[int]],
    holdout: Sequence[int],
    k: int = 10,
    stop: str = "per_class",
    stop_on: str = "shrink",
    max_steps: int = 1000,
    index: str | NeighbourIndex = "exact",
) -> AugmentedLabels:
    """Grow every class from its seeds through nearest neighbours (see the module docstring).

    `stop_on="shrink"`: a class is done after its first step smaller than the one before (an
    empty step included); `"grow"`: after its first step larger than the one before (the
    paper's literal text). The step that meets the condition is kept. `stop="per_class"`: each
    class stops on its own and then claims no more neighbours; `"any"`: all stop when one class
    meets the condition. An empty step always ends its own class, and only that class unless it
    meets the condition (METHODS.md section 7: an empty step is never "larger").
    `index`: how neighbours are found (`NeighbourIndex`, or just its kind).
    """
    _check(k, stop, stop_on)  # before a build that may take minutes
    index = build_index(vectors, index_settings(index))
    return grow_classes(index, vectors, seeds, holdout, k, stop, stop_on, max_steps)


def grow_classes(
    index: Searcher,
    vectors: np.ndarray,
    seeds: Mapping[str, Sequence[int]],
    holdout: Sequence[int],
    k: int,
    stop: str,
    stop_on: str,
    max_steps: int,
) -> AugmentedLabels:
    """`augment_labels` with an index already built over `vectors`, so that building and
    growing can be timed apart and one index serve several runs."""
    _check(k, stop, stop_on)
    labels = list(seeds)
    owner = np.full(len(vectors), UNASSIGNED, dtype=np.int64)
    in_holdout = np.zeros(len(vectors), dtype=bool)
    in_holdout[np.asarray(holdout, dtype=np.int64)] = True
    steps = {label: [np.unique(np.asarray(seeds[label], dtype=np.int64))] for label in labels}
    for c, label in enumerate(labels):
        rows = steps[label][0]
        if (owner[rows] != UNASSIGNED).any() or in_holdout[rows].any():
            raise ValueError(f"seeds of {label!r} overlap another class's seeds or the hold-out")
        owner[rows] = c
    active = np.array([len(steps[label][0]) > 0 for label in labels])
    taken = 0
    while active.any() and taken < max_steps:
        taken += 1
        frontier = [(c, steps[labels[c]][-1]) for c in np.flatnonzero(active)]
        queries = np.concatenate([rows for _, rows in frontier])
        query_class = np.concatenate([np.full(len(rows), c) for c, rows in frontier])
        found = neighbours(index, vectors, queries, k)
        pairs = np.unique(
            np.column_stack([np.repeat(query_class, k), found.ravel()]), axis=0
        )  # (class, row) of every C'_i, unique
        pairs = pairs[(pairs[:, 1] >= 0) & (owner[np.maximum(pairs[:, 1], 0)] == UNASSIGNED)]
        claims = np.bincount(pairs[:, 1], minlength=len(vectors))
        kept = pairs[(claims[pairs[:, 1]] == 1) & ~in_holdout[pairs[:, 1]]]
        owner[kept[:, 1]] = kept[:, 0]
        met, empty = [], []
        for c, _ in frontier:
            previous = len(steps[labels[c]][-1])
            added = np.sort(kept[kept[:, 0] == c, 1])
            steps[labels[c]].append(added)
            if len(added) < previous if stop_on == "shrink" else len(added) > previous:
                met.append(c)
            elif not len(added):
                empty.append(c)
        active[met + empty] = False
        if met and stop == "any":
            active[:] = False
    logger.info("label augmentation: %d steps, %d rows labelled", taken, int((owner >= 0).sum()))
    return AugmentedLabels(steps, taken)


def propagate_labels(
    vectors: np.ndarray,
    seeds: Mapping[str, Sequence[int]],
    unlabeled: Sequence[int],
    steps: int,
    k: int = 10,
    index: str | NeighbourIndex = "exact",
) -> pd.DataFrame:
    """The label-propagation baseline on the kNN graph of seeds + `unlabeled`.

    A[u, v] = 1 iff v is among u's k nearest neighbours (within those rows, other than u,
    found as `index` says); for `steps` steps, every row takes the row-normalised sum of its
    neighbours' label distributions, seeds clamped to their own label (Zhu & Ghahramani).
    Returns one row per unlabeled row that received any mass: row, label (argmax), confidence
    (its share).
    """
    if k < 1 or steps < 0:
        raise ValueError(f"need k >= 1 and steps >= 0, got k={k}, steps={steps}")
    settings = index_settings(index)
    labels = list(seeds)
    seed_rows = [np.asarray(seeds[label], dtype=np.int64) for label in labels]
    rows = np.concatenate([*seed_rows, np.asarray(unlabeled, dtype=np.int64)])
    n_seeds = sum(len(r) for r in seed_rows)
    subset = vectors[rows]
    found = neighbours(build_index(subset, settings), subset, np.arange(len(rows)), k)
    source = np.repeat(np.arange(len(rows)), k)
    valid = found.ravel() >= 0
    adjacency = sparse.csr_matrix(
        (np.ones(valid.sum(), np.float32), (source[valid], found.ravel()[valid])),
        shape=(len(rows), len(rows)),
    )
    clamp = np.zeros((len(rows), len(labels)), dtype=np.float32)
    clamp[np.arange(n_seeds), np.repeat(np.arange(len(labels)), [len(r) for r in seed_rows])] = 1
    spread = clamp.copy()
    for _ in range(steps):
        spread = adjacency @ spread
        spread /= np.maximum(spread.sum(axis=1, keepdims=True), 1e-12)
        spread[:n_seeds] = clamp[:n_seeds]
    reached = np.flatnonzero(spread[n_seeds:].sum(axis=1) > 0) + n_seeds
    best = spread[reached].argmax(axis=1)
    return pd.DataFrame(
        {
            "row": rows[reached],
            "label": np.asarray(labels, dtype=object)[best],
            "confidence": spread[reached, best],
        }
    )
