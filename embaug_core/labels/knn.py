"""Similarity label augmentation and the label-propagation baseline (docs/METHODS.md section 6).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from embaug_core.labels.index import (
    NeighbourIndex,
    Searcher,
    build_index,
    index_settings,
    neighbours,
)

logger = logging.getLogger(__name__)

STOPS = ("per_class", "any")
STOP_ONS = ("shrink", "grow")
UNASSIGNED = -1


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
    meets the condition (docs/METHODS.md section 7: an empty step is never "larger").
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
