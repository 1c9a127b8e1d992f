"""Trial splits: roles partition the labelled products, held-out classes never train and
rotate over trials, every known class trains, S is a stratified part of H, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embaug_core.labels.splits import (
    ROLES,
    SplitConfig,
    held_out_classes,
    make_split,
    split_fingerprint,
    split_summary,
    supported_trials,
    trial_index,
)


def catalogue(sizes: list[int]) -> pd.Series:
    labels = np.repeat([f"class_{i}" for i in range(len(sizes))], sizes)
    return pd.Series(labels, index=[f"p{i}" for i in range(len(labels))])


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 60), min_size=3, max_size=25),
    trial=st.integers(0, 20),
    held=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_split_properties(sizes: list[int], trial: int, held: float):
    categories = catalogue(sizes)
    config = SplitConfig(holdout_class_fraction=held)
    try:
        split = make_split(categories, trial, config)
    except ValueError as error:  # too few classes left to train: said, not silently wrong
        assert "needs at least two" in str(error)
        return
    assert list(split["product_id"]) == list(categories.index)
    assert set(split["role"]) <= set(ROLES)
    trained = set(split.loc[split["role"] == "train", "category"])
    assert split["known"].equals(split["category"].isin(trained))
    held_classes = set(held_out_classes(categories, trial, config))
    assert not trained & held_classes
    # Every class that is not held out trains: none silently becomes "none".
    assert trained == set(categories) - held_classes
    pd.testing.assert_frame_equal(split, make_split(categories, trial, config))


def test_paper_fractions_and_whole_classes_held_out():
    categories = catalogue([200] * 20 + [5] * 5)
    split = make_split(categories, 7)
    summary = split_summary(split)
    candidates = 18 * 200 + 5 * 5  # two of the twenty large classes are held out
    # 10% at random, plus one product of each small class the draw missed
    assert round(0.1 * candidates) <= summary["n_train"] <= round(0.1 * candidates) + 5
    evaluated = summary["n_select"] + summary["n_holdout"]
    assert abs(summary["n_pool"] - evaluated) <= 1
    assert summary["n_select"] == pytest.approx(0.2 * evaluated, abs=12)
    assert len(summary["held_out_classes"]) == 2 and summary["fewest_training_products"] >= 1
    assert summary["n_holdout_none"] > 150
    assert split_fingerprint(split) != split_fingerprint(make_split(categories, 8))


@pytest.mark.parametrize("budget", [1, 2, 5, 20])
def test_a_label_budget_trains_that_many_per_class_and_keeps_products_for_pool_and_h(budget):
    """min(budget, max(1, half of the class)) training products per known class, by hand:
    classes of 200, 9, 3 and 1 products (the 200s partly held out)."""
    categories = catalogue([200] * 10 + [9, 3, 1])
    split = make_split(categories, 0, SplitConfig(labels_per_class=budget))
    held = set(held_out_classes(categories, 0, SplitConfig()))
    trained = split[split["role"] == "train"].groupby("category").size()
    sizes = dict(zip([f"class_{i}" for i in range(13)], [200] * 10 + [9, 3, 1], strict=True))
    expected = {c: min(budget, max(1, n // 2)) for c, n in sizes.items() if c not in held}
    assert trained.to_dict() == expected
    rest = split[(split["role"] != "train") & split["known"]].groupby("category").size()
    assert all(rest.get(c, 0) >= 1 for c, n in sizes.items() if c not in held and n > 1)
    assert set(split.loc[split["category"].isin(held), "role"]) <= {"pool", "select", "holdout"}


def test_trials_hold_out_different_classes_while_the_catalogue_allows():
    categories = catalogue([30] * 7 + [3])  # 7 eligible classes, 10% rounds to one per trial
    config = SplitConfig()
    held = [tuple(held_out_classes(categories, t, config)) for t in range(7)]
    assert len(set(held)) == 7 and supported_trials(categories, config) == 7
    assert supported_trials(categories, SplitConfig(holdout_class_fraction=0)) == float("inf")


def test_selection_part_is_stratified_with_none_as_one_stratum():
    split = make_split(catalogue([100] * 10), 0, SplitConfig(holdout_class_fraction=0.2))
    evaluated = split[split["role"].isin(["select", "holdout"])]
    strata = np.where(evaluated["known"], evaluated["category"], "none")
    shares = (evaluated["role"] == "select").groupby(strata).mean()
    assert shares.between(0.15, 0.25).all() and "none" in shares.index


def test_peoples_labels_train_unless_their_class_is_held_out():
    categories = catalogue([50] * 10)
    held = held_out_classes(categories, 0, SplitConfig())[0]
    mine = ["p0", "p1", categories[categories == held].index[0]]
    split = make_split(categories, 0, train_only=mine).set_index("product_id")
    assert (split.loc[["p0", "p1"], "role"] == "train").all()
    assert mine[2] not in split.index  # its class is held out: it stays out of the trial


def test_unlabelled_products_are_left_out_and_one_class_is_one_clear_error():
    categories = catalogue([20, 20]).astype(object)
    categories.iloc[:5] = None
    assert set(make_split(categories, 0)["product_id"]).isdisjoint(categories.index[:5])
    with pytest.raises(ValueError, match=r"at least two classes.*has 1: 'class_0' \(20 products\)"):
        make_split(catalogue([20]), 0)
    with pytest.raises(ValueError, match="at least two classes"):
        make_split(pd.Series([], dtype=str), 0)


def test_trial_names_and_bad_settings():
    assert trial_index("trial_3") == 3
    with pytest.raises(ValueError, match="trial_0"):
        trial_index("third")
    with pytest.raises(ValueError, match="train_fraction"):
        SplitConfig(train_fraction=0)
