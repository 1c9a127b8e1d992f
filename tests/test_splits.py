"""Trial splits: roles partition the catalogue, held-out classes never train, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embaug_core.splits import SplitConfig, make_split, split_fingerprint, split_summary, trial_seed


def catalogue(sizes: list[int]) -> pd.Series:
    labels = np.repeat([f"class_{i}" for i in range(len(sizes))], sizes)
    return pd.Series(labels, index=[f"p{i}" for i in range(len(labels))])


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 60), min_size=2, max_size=25),
    seed=st.integers(0, 10_000),
    held=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_split_properties(sizes: list[int], seed: int, held: float):
    categories = catalogue(sizes)
    split = make_split(categories, seed, SplitConfig(holdout_class_fraction=held))
    assert list(split["product_id"]) == list(categories.index)
    assert set(split["role"]) <= {"train", "pool", "holdout"}
    trained = set(split.loc[split["role"] == "train", "category"])
    assert split["known"].equals(split["category"].isin(trained))
    eligible = int((pd.Series(sizes) >= 10).sum())
    unseen_big = {c for c, n in categories.value_counts().items() if n >= 10 and c not in trained}
    assert len(unseen_big) >= round(held * eligible)
    pd.testing.assert_frame_equal(
        split, make_split(categories, seed, SplitConfig(holdout_class_fraction=held))
    )


def test_paper_fractions_and_whole_classes_held_out():
    categories = catalogue([200] * 20 + [5] * 5)
    split = make_split(categories, seed=7)
    summary = split_summary(split)
    candidates = 18 * 200 + 5 * 5  # two of the twenty large classes are held out
    assert summary["n_train"] == round(0.1 * candidates)
    assert abs(summary["n_pool"] - summary["n_holdout"]) <= 1
    held = set(categories) - set(split.loc[split["role"] == "train", "category"])
    assert len(held & {f"class_{i}" for i in range(20)}) == 2
    assert summary["n_holdout_none"] > 150
    assert split_fingerprint(split) != split_fingerprint(make_split(categories, seed=8))


def test_trial_names_and_bad_settings():
    assert trial_seed("trial_3", base_seed=100) == 103
    with pytest.raises(ValueError, match="trial_0"):
        trial_seed("third")
    with pytest.raises(ValueError, match="train_fraction"):
        SplitConfig(train_fraction=0)
    with pytest.raises(ValueError, match="empty"):
        make_split(pd.Series([], dtype=str), 0)
