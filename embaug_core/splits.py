"""Trial splits and the "none" category (METHODS.md section 5).

A trial holds out whole classes (so "none" is large enough to measure), sends a random share
of the remaining products to training, and splits the rest into an unlabeled pool (for label
augmentation) and the validation hold-out H every method of the trial is scored on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

ROLES = ("train", "pool", "holdout")


@dataclass(frozen=True)
class SplitConfig:
    """How a trial divides the catalogue; the defaults are METHODS.md's."""

    train_fraction: float = 0.1
    pool_fraction: float = 0.5
    holdout_class_fraction: float = 0.1
    min_holdout_class_size: int = 10

    def __post_init__(self) -> None:
        for name in ("train_fraction", "pool_fraction", "holdout_class_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1 or (name == "train_fraction" and value == 0):
                raise ValueError(f"{name} must be in [0, 1) (train_fraction > 0), got {value}")


def trial_names(count: int | None = None) -> list[str]:
    """`trial_0` .. `trial_{count-1}`; `count` defaults to EMBAUG_TRIALS, else 5 (METHODS.md
    asks for 10 before a report recommends a method)."""
    count = int(os.environ.get("EMBAUG_TRIALS", "5")) if count is None else count
    if count < 1:
        raise ValueError(f"the number of trials (EMBAUG_TRIALS) must be at least 1, got {count}")
    return [f"trial_{i}" for i in range(count)]


def trial_seed(trial: str, base_seed: int = 0) -> int:
    """`trial_3` with base seed 100 is seed 103: each trial its own, reproducible."""
    try:
        return base_seed + int(trial.rsplit("_", 1)[1])
    except (IndexError, ValueError) as error:
        raise ValueError(f"trial names look like 'trial_0', got {trial!r}") from error


def make_split(
    categories: pd.Series, seed: int, config: SplitConfig = SplitConfig()
) -> pd.DataFrame:
    """Assign each product (index of `categories`) a role; `known` marks classes seen in training.

    Returns columns product_id, category, role ('train', 'pool', 'holdout'), known.
    """
    if categories.empty:
        raise ValueError("cannot split an empty catalogue")
    rng = np.random.default_rng(seed)
    sizes = categories.value_counts()
    eligible = np.sort(sizes[sizes >= config.min_holdout_class_size].index.to_numpy())
    n_held = round(config.holdout_class_fraction * len(eligible))
    held_classes = set(rng.choice(eligible, size=n_held, replace=False)) if n_held else set()

    candidates = np.flatnonzero(~categories.isin(held_classes).to_numpy())
    n_train = max(1, round(config.train_fraction * len(candidates)))
    train = rng.choice(candidates, size=n_train, replace=False)
    role = np.full(len(categories), "holdout", dtype=object)
    role[train] = "train"
    rest = np.flatnonzero(role != "train")
    pool = rng.choice(rest, size=round(config.pool_fraction * len(rest)), replace=False)
    role[pool] = "pool"

    known_classes = set(categories.iloc[train])
    return pd.DataFrame(
        {
            "product_id": categories.index.to_numpy(),
            "category": categories.to_numpy(),
            "role": role,
            "known": categories.isin(known_classes).to_numpy(),
        }
    )


def split_summary(split: pd.DataFrame) -> dict[str, int]:
    """Counts that tell whether a split is usable: roles, known classes, none products in H."""
    holdout = split[split["role"] == "holdout"]
    return {
        **{f"n_{role}": int((split["role"] == role).sum()) for role in ROLES},
        "n_known_classes": int(split.loc[split["role"] == "train", "category"].nunique()),
        "n_none_classes": int(split.loc[~split["known"], "category"].nunique()),
        "n_holdout_none": int((~holdout["known"]).sum()),
    }


def split_fingerprint(split: pd.DataFrame) -> str:
    """A hash of who is where, so results can be matched to the split they came from."""
    import hashlib

    rows = split.sort_values("product_id")[["product_id", "role"]].astype(str)
    text = "\n".join(rows["product_id"] + "\t" + rows["role"])
    return hashlib.sha256(text.encode()).hexdigest()
