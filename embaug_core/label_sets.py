"""A trial's label sets: seeds, similarity-augmented and propagated labels, and how good
they are against the truth (which this catalogue knows, unlike the papers' settings)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embaug_core.embeddings import ProductVectors
from embaug_core.labels import AugmentedLabels, augment_labels, propagate_labels


@dataclass(frozen=True)
class LabelSets:
    """One row per labelled product: product_id, label, source, step."""

    table: pd.DataFrame
    augmented: AugmentedLabels
    seconds: float


def build_label_sets(
    vectors: ProductVectors,
    split: pd.DataFrame,
    k: int = 10,
    stop: str = "per_class",
    stop_on: str = "shrink",
    seed: int = 0,
) -> LabelSets:
    """Grow the training products' classes over the universe (the hold-out H never labelled),
    then propagate labels over seeds and a seeded sample of the pool as large as the
    augmentation, for as many steps as the augmentation took."""
    train = split[split["role"] == "train"]
    seeds = {
        label: vectors.rows(group["product_id"]).tolist()
        for label, group in train.groupby("category")
    }
    holdout = vectors.rows(split.loc[split["role"] == "holdout", "product_id"])
    started = time.perf_counter()
    augmented = augment_labels(vectors.vectors, seeds, holdout, k, stop, stop_on)
    seconds = time.perf_counter() - started
    grown = augmented.table()
    pool = vectors.rows(split.loc[split["role"] == "pool", "product_id"])
    n_added = int((grown["step"] > 0).sum())
    sample = np.random.default_rng(seed).choice(pool, size=min(n_added, len(pool)), replace=False)
    spread = propagate_labels(vectors.vectors, seeds, sample, augmented.n_steps, k)
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
    """Per source and class: labels given, precision against the truth, and coverage (the
    share of the pool's products of that class that got it right); class "ALL" overall."""
    truth = split.set_index("product_id")["category"]
    pool_sizes = split[split["role"] == "pool"]["category"].value_counts()
    given = table[table["source"] != "seed"].assign(
        correct=lambda t: t["label"].to_numpy() == truth.loc[t["product_id"]].to_numpy()
    )
    per_class = given.groupby(["source", "label"]).agg(
        labels=("correct", "size"), correct=("correct", "sum")
    )
    overall = given.groupby("source").agg(labels=("correct", "size"), correct=("correct", "sum"))
    overall.index = pd.MultiIndex.from_product([overall.index, ["ALL"]], names=["source", "label"])
    quality = pd.concat([per_class, overall]).reset_index()
    quality["precision"] = quality["correct"] / quality["labels"]
    pool = quality["label"].map(pool_sizes).fillna(0)
    pool[quality["label"] == "ALL"] = pool_sizes.sum()
    quality["coverage"] = quality["correct"] / pool.where(pool > 0)
    return quality


def label_set_problems(table: pd.DataFrame, split: pd.DataFrame) -> dict[str, int]:
    """Counts of what must never happen: a product in two classes (seeds and augmented), a
    hold-out product labelled, a seed that is not a training product."""
    role = split.set_index("product_id")["role"]
    grown = table[table["source"] != "label_prop"]
    return {
        "products_in_two_classes": int(grown["product_id"].duplicated().sum()),
        "holdout_labelled": int((role.loc[table["product_id"]] == "holdout").sum()),
        "seeds_not_trained": int(
            (role.loc[table.loc[table["source"] == "seed", "product_id"]] != "train").sum()
        ),
    }


def label_quality_by_trial(labels: pd.DataFrame, splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`label_quality` of every trial's label sets (column `trial`); empty without label sets."""
    parts = [
        label_quality(table, splits[trial]).assign(trial=trial)
        for trial, table in labels.groupby("trial")
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
