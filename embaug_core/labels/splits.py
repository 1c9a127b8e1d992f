"""Trial splits and the "none" category (docs/METHODS.md sections 5 and 7).

A trial holds out whole classes (so "none" is large enough to measure), sends a random share
of the remaining labelled products to training (every known class at least one), and splits
the rest into an unlabelled pool (for label augmentation) and the validation hold-out H. H is
cut once more: the selection part S (a stratified share, "none" as one stratum) is where
anything tuned is chosen, and every reported figure is computed on the rest, role "holdout".

Held-out classes rotate over trials: trial i takes the next classes of one seeded order of
the eligible classes, so trials hold out different classes while the catalogue has enough.
Products labelled by people always train (unless their class is held out, in which case they
stay out of the trial): they never enter the pool or H.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROLES = ("train", "pool", "select", "holdout")


@dataclass(frozen=True)
class SplitConfig:
    """How a trial divides the labelled products; the defaults are docs/METHODS.md's."""

    train_fraction: float = field(
        default=0.1, metadata={"doc": "Share of the known classes' products trained on"}
    )
    pool_fraction: float = field(
        default=0.5, metadata={"doc": "Share of the untrained products left unlabelled (pool)"}
    )
    holdout_class_fraction: float = field(
        default=0.1,
        metadata={"doc": "Share of classes (>= min_holdout_class_size) never trained on; 0: paper"},
    )
    min_holdout_class_size: int = 10
    select_fraction: float = field(
        default=0.2,
        metadata={"doc": "Share of H (stratified) where thresholds and alpha are chosen"},
    )
    labels_per_class: int = field(
        default=0,
        metadata={
            "doc": "A label budget: this many training products per known class (at most half "
            "of the class's products); 0: train_fraction of all of them"
        },
    )

    def __post_init__(self) -> None:
        for name in ("train_fraction", "pool_fraction", "holdout_class_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1 or (name == "train_fraction" and value == 0):
                raise ValueError(f"{name} must be in [0, 1) (train_fraction > 0), got {value}")
        if not 0 <= self.select_fraction < 1:
            raise ValueError(f"select_fraction must be in [0, 1), got {self.select_fraction}")
        if self.labels_per_class < 0:
            raise ValueError(f"labels_per_class must be 0 or more, got {self.labels_per_class}")


#: Trials of a comparison unless asked for more (docs/METHODS.md asks for 10 before a report
#: recommends).
DEFAULT_TRIALS = 5


def trial_names(count: int = DEFAULT_TRIALS) -> list[str]:
    """`trial_0` .. `trial_{count-1}`."""
    if count < 1:
        raise ValueError(f"the number of trials must be at least 1, got {count}")
    return [f"trial_{i}" for i in range(count)]


def trial_index(trial: str) -> int:
    """`trial_3` is 3."""
    try:
        return int(trial.rsplit("_", 1)[1])
    except (IndexError, ValueError) as error:
        raise ValueError(f"trial names look like 'trial_0', got {trial!r}") from error


def held_out_classes(
    categories: pd.Series, trial: int, config: SplitConfig, base_seed: int = 0
) -> list[str]:
    """The classes trial `trial` holds out: the next ones of a seeded order of the eligible
    classes (those with at least min_holdout_class_size products)."""
    sizes = categories.value_counts()
    eligible = np.sort(sizes[sizes >= config.min_holdout_class_size].index.to_numpy())
    n_held = round(config.holdout_class_fraction * len(eligible))
    if not n_held:
        return []
    order = np.random.default_rng(base_seed).permutation(eligible)
    return [str(order[(trial * n_held + j) % len(order)]) for j in range(n_held)]


def supported_trials(categories: pd.Series, config: SplitConfig) -> float:
    """How many trials hold out classes no other trial holds out (inf: none are held out)."""
    sizes = categories.dropna().value_counts()
    eligible = int((sizes >= config.min_holdout_class_size).sum())
    n_held = round(config.holdout_class_fraction * eligible)
    return eligible // n_held if n_held else math.inf


def make_split(
    categories: pd.Series,
    trial: int,
    config: SplitConfig = SplitConfig(),
    base_seed: int = 0,
    train_only: Collection[str] = (),
) -> pd.DataFrame:
    """Assign each labelled product (index of `categories`; unlabelled ones, None, are left
    out) a role; `known` marks classes seen in training. `train_only`: products labelled by
    people, which train when their class is known and are left out otherwise.

    Returns columns product_id, category, role (ROLES), known.
    """
    categories = categories.dropna()
    _check_classes(categories)
    held = set(held_out_classes(categories, trial, config, base_seed))
    rng = np.random.default_rng(base_seed + trial)
    people = categories.index.isin(list(train_only))
    in_held = categories.isin(held).to_numpy()
    role = np.full(len(categories), "holdout", dtype=object)
    role[people & ~in_held] = "train"
    role[people & in_held] = "out"
    candidates = np.flatnonzero(~in_held & ~people)
    if config.labels_per_class:
        role[_per_class(categories, candidates, config.labels_per_class, rng)] = "train"
    else:
        n_train = max(1, round(config.train_fraction * len(candidates)))
        role[rng.choice(candidates, size=min(n_train, len(candidates)), replace=False)] = "train"
        role[_one_per_class(categories, role, candidates, rng)] = "train"
    rest = np.flatnonzero(role == "holdout")
    role[rng.choice(rest, size=round(config.pool_fraction * len(rest)), replace=False)] = "pool"
    known_classes = set(categories[role == "train"])
    if len(known_classes) < 2:
        raise ValueError(
            f"only {len(known_classes)} class keeps training products once {len(held)} of "
            f"{categories.nunique()} are held out; a trial needs at least two (lower "
            "holdout_class_fraction, or label more products)"
        )
    known = categories.isin(known_classes).to_numpy()
    role[_selection(categories, role, known, config.select_fraction, rng)] = "select"
    split = pd.DataFrame(
        {
            "product_id": categories.index.to_numpy(),
            "category": categories.to_numpy(),
            "role": role,
            "known": known,
        }
    )
    return split[split["role"] != "out"].reset_index(drop=True)


def _per_class(
    categories: pd.Series, candidates: np.ndarray, budget: int, rng: np.random.Generator
) -> list[int]:
    """A label budget (docs/METHODS.md section 8): min(budget, max(1, half of its products))
    random products of each candidate class, so every class keeps products for the pool and H."""
    pick: list[int] = []
    for _, rows in pd.Series(candidates).groupby(categories.iloc[candidates].to_numpy()):
        take = min(budget, max(1, len(rows) // 2))
        pick += rng.choice(rows.to_numpy(), size=take, replace=False).tolist()
    return pick


def _one_per_class(
    categories: pd.Series, role: np.ndarray, candidates: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """One random product of each candidate class that drew no training product, so that no
    class silently becomes "none"."""
    trained = set(categories[role == "train"])
    pick = []
    for name, rows in pd.Series(candidates).groupby(categories.iloc[candidates].to_numpy()):
        if name not in trained:
            pick.append(int(rng.choice(rows.to_numpy())))
    return pick


def _selection(
    categories: pd.Series,
    role: np.ndarray,
    known: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
) -> list[int]:
    """A stratified share of H: per known class, and "none" as one stratum."""
    holdout = np.flatnonzero(role == "holdout")
    strata = np.where(known[holdout], categories.iloc[holdout].to_numpy(), "\x00none")
    pick: list[int] = []
    for _, rows in pd.Series(holdout).groupby(strata):
        size = round(fraction * len(rows))
        pick.extend(rng.choice(rows.to_numpy(), size=size, replace=False).tolist())
    return pick


def _check_classes(categories: pd.Series) -> None:
    """A classifier needs at least two classes: say what was found, before any work."""
    sizes = categories.value_counts()
    if len(sizes) < 2:
        found = ", ".join(f"{name!r} ({n} products)" for name, n in sizes.items()) or "none"
        raise ValueError(
            "a trial needs at least two classes with labelled products; the catalogue has "
            f"{len(sizes)}: {found}"
        )


def split_summary(split: pd.DataFrame) -> dict[str, object]:
    """Counts that tell whether a split is usable: roles, known classes, none products in H,
    the classes held out and each known class's training products."""
    evaluated = split[split["role"] == "holdout"]
    train = split[split["role"] == "train"]
    return {
        **{f"n_{role}": int((split["role"] == role).sum()) for role in ROLES},
        "n_known_classes": int(train["category"].nunique()),
        "n_none_classes": int(split.loc[~split["known"], "category"].nunique()),
        "n_holdout_none": int((~evaluated["known"]).sum()),
        "held_out_classes": sorted(split.loc[~split["known"], "category"].unique().tolist()),
        "fewest_training_products": int(train["category"].value_counts().min()),
    }


def split_fingerprint(split: pd.DataFrame) -> str:
    """A hash of who is where with which label, so results can be matched to the split they
    came from (a label a person changed makes a new split)."""
    rows = split.sort_values("product_id")[["product_id", "role", "category"]].astype(str)
    text = "\n".join(rows["product_id"] + "\t" + rows["role"] + "\t" + rows["category"])
    return hashlib.sha256(text.encode()).hexdigest()
