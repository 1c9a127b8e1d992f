"""A trial's label sets: seeds, similarity-augmented and propagated labels, and how good
they are against the truth (which this catalogue knows, unlike the papers' settings)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from embaug_core.embeddings.vectors import ProductVectors
from embaug_core.labels.index import KINDS, STORAGES, NeighbourIndex
from embaug_core.labels.knn import AugmentedLabels, augment_labels, propagate_labels

#: H: the roles never labelled by augmentation (the selection part S and the rest).
EVALUATED = ("select", "holdout")


@dataclass(frozen=True)
class LabelSettings:
    """How labelled sets grow (docs/METHODS.md section 6); every field is config of label_sets."""

    k: int = field(default=10, metadata={"doc": "Neighbours per point"})
    stop: str = field(default="per_class", metadata={"doc": "per_class, or any (the paper's 'or')"})
    stop_on: str = field(
        default="shrink", metadata={"doc": "shrink (docs/METHODS.md default) or grow (literal)"}
    )
    seed: int = field(
        default=0,
        metadata={"doc": "Seed of the pool sample of label propagation and of the IVF training"},
    )
    index: str = field(
        default=NeighbourIndex.kind,
        metadata={"doc": f"How neighbours are found: {', '.join(KINDS)} (approximate, faiss)"},
    )
    nlist: int | None = field(
        default=NeighbourIndex.nlist, metadata={"doc": "IVF lists (None: sqrt of the vectors)"}
    )
    nprobe: int = field(default=NeighbourIndex.nprobe, metadata={"doc": "IVF lists a search scans"})
    ef_search: int = field(
        default=NeighbourIndex.ef_search, metadata={"doc": "HNSW candidates a search keeps"}
    )
    ef_construction: int = field(
        default=NeighbourIndex.ef_construction,
        metadata={"doc": "HNSW candidates kept while the graph is built"},
    )
    m: int = field(default=NeighbourIndex.m, metadata={"doc": "HNSW links a vector"})
    storage: str = field(
        default=NeighbourIndex.storage,
        metadata={"doc": f"How an approximate index holds the vectors: {', '.join(STORAGES)}"},
    )

    def __post_init__(self) -> None:
        self.neighbour_index()  # a bad index setting fails here, before any vector is read

    def neighbour_index(self) -> NeighbourIndex:
        """The neighbour search these settings ask for (its k-means sample drawn with `seed`)."""
        return NeighbourIndex(
            kind=self.index,
            nlist=self.nlist,
            nprobe=self.nprobe,
            ef_search=self.ef_search,
            ef_construction=self.ef_construction,
            m=self.m,
            storage=self.storage,
            seed=self.seed,
        )


@dataclass(frozen=True)
class LabelSets:
    """One row per labelled product: product_id, label, source, step."""

    table: pd.DataFrame
    augmented: AugmentedLabels
    seconds: float


def build_label_sets(
    vectors: ProductVectors, split: pd.DataFrame, settings: LabelSettings = LabelSettings()
) -> LabelSets:
    """Grow the training products' classes over the universe (the hold-out H never labelled),
    then propagate labels over seeds and a seeded sample of the pool as large as the
    augmentation, for as many steps as the augmentation took."""
    train = split[split["role"] == "train"]
    seeds = {
        label: vectors.rows(group["product_id"]).tolist()
        for label, group in train.groupby("category")
    }
    holdout = vectors.rows(split.loc[split["role"].isin(EVALUATED), "product_id"])
    started = time.perf_counter()
    k, index = settings.k, settings.neighbour_index()
    augmented = augment_labels(
        vectors.vectors, seeds, holdout, k, settings.stop, settings.stop_on, index=index
    )
    seconds = time.perf_counter() - started
    grown = augmented.table()
    pool = vectors.rows(split.loc[split["role"] == "pool", "product_id"])
    n_added = int((grown["step"] > 0).sum())
    rng = np.random.default_rng(settings.seed)
    sample = rng.choice(pool, size=min(n_added, len(pool)), replace=False)
    spread = propagate_labels(vectors.vectors, seeds, sample, augmented.n_steps, k, index)
    ids = vectors.product_ids
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "product_id": ids[grown["row"].astype(int)],
                    "label": grown["label"],
                    "source": np.where(grown["step"] == 0, "seed", "knn_aug"),
                    "step": grown["step"],
                }
            ),
            pd.DataFrame(
                {
                    "product_id": ids[spread["row"]],
                    "label": spread["label"],
                    "source": "label_prop",
                    "step": augmented.n_steps,
                }
            ),
        ],
        ignore_index=True,
    )
    return LabelSets(table.astype({"step": int}), augmented, seconds)


def label_quality(table: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """Per source and class: labels given, how many of them can be checked (products of the
    split; unlabelled products of the catalogue cannot), precision against the truth among
    those, and coverage (the share of the pool's products of that class that got it right);
    class "ALL" overall."""
    truth = split.set_index("product_id")["category"]
    pool_sizes = split[split["role"] == "pool"]["category"].value_counts()
    given = table[table["source"] != "seed"]
    # Plain objects with None for a product outside the split: Arrow's NA has no truth value.
    known = truth.reindex(given["product_id"]).to_numpy(dtype=object, na_value=None)
    labels = given["label"].to_numpy(dtype=object)
    given = given.assign(checkable=pd.notna(known), correct=labels == known)
    columns = {
        "labels": ("correct", "size"),
        "checkable": ("checkable", "sum"),
        "correct": ("correct", "sum"),
    }
    per_class = given.groupby(["source", "label"]).agg(**columns)
    overall = given.groupby("source").agg(**columns)
    overall.index = pd.MultiIndex.from_product([overall.index, ["ALL"]], names=["source", "label"])
    quality = pd.concat([per_class, overall]).reset_index()
    quality["precision"] = quality["correct"] / quality["checkable"].where(quality["checkable"] > 0)
    # Counts by reindexing, not map: an empty pool maps to a string-typed column in pandas 3.
    pool = pd.Series(pool_sizes.reindex(quality["label"]).to_numpy(float), quality.index)
    pool = pool.fillna(0)
    pool[quality["label"] == "ALL"] = pool_sizes.sum()
    quality["coverage"] = quality["correct"] / pool.where(pool > 0)
    return quality


def label_set_problems(table: pd.DataFrame, split: pd.DataFrame) -> dict[str, int]:
    """Counts of what must never happen: a product in two classes (seeds and augmented), a
    hold-out product labelled, a seed that is not a training product."""
    role = split.set_index("product_id")["role"]
    grown = table[table["source"] != "label_prop"]
    seeds = table.loc[table["source"] == "seed", "product_id"]
    return {
        "products_in_two_classes": int(grown["product_id"].duplicated().sum()),
        "holdout_labelled": int(role.reindex(table["product_id"]).isin(EVALUATED).sum()),
        "seeds_not_trained": int((role.reindex(seeds) != "train").sum()),
    }


def label_quality_by_trial(labels: pd.DataFrame, splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`label_quality` of every trial's label sets (column `trial`); empty without label sets."""
    parts = [
        label_quality(table, splits[trial]).assign(trial=trial)
        for trial, table in labels.groupby("trial")
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
