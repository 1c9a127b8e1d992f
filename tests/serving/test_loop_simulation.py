"""The labeling-loop simulation's parts by hand: each strategy's choice, the paired summary
against random, and the labels a strategy needs to reach random's last figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embaug_core.serving.loop_simulation import CHOOSERS, labels_to_match, loop_summary


def unit(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows, np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # sure
        [0.4, 0.35, 0.25],  # unsure, small margin
        [0.2, 0.1, 0.7],  # fairly sure
        [0.34, 0.33, 0.33],  # least sure: "none" first in the queue
    ]
)


def test_the_queue_takes_the_least_confident_products_first():
    assert list(CHOOSERS["queue"](PROBS, None, None, 2, None)) == [3, 1]


def test_margin_takes_the_smallest_gap_between_the_top_two_first():
    # gaps: 0.85, 0.05, 0.5, 0.01
    assert list(CHOOSERS["margin"](PROBS, None, None, 3, None)) == [3, 1, 2]


def test_kcenter_takes_the_product_farthest_from_everything_labelled_then_the_next():
    labelled = unit([[1, 0, 0]])
    pool = unit([[1, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1]])
    # cosine distance to [1,0,0]: ~0, 1, 1, 1 -> the first of the farthest (row 1), then
    # the one farthest from both [1,0,0] and row 1: row 3 ([0,0,1]), not row 2 (near row 1)
    assert list(CHOOSERS["kcenter"](None, pool, labelled, 2, None)) == [1, 3]


def test_random_is_seeded_and_never_picks_twice():
    first = CHOOSERS["random"](PROBS, None, None, 3, np.random.default_rng(0))
    again = CHOOSERS["random"](PROBS, None, None, 3, np.random.default_rng(0))
    assert list(first) == list(again) and len(set(first)) == 3


def results() -> pd.DataFrame:
    """Two trials; queue ahead of random by 0.1 and 0.2 at round 1, random gains 0.1 a
    round from 0.5."""
    rows = []
    for trial, gain in (("t0", 0.1), ("t1", 0.2)):
        for round_ in (0, 1, 2):
            random = 0.5 + 0.1 * round_
            queue = random + (gain if round_ else 0.0)
            rows += [
                (trial, "random", round_, 100 * round_, "catalogue_acc_tuned", random),
                (trial, "queue", round_, 100 * round_, "catalogue_acc_tuned", queue),
            ]
    columns = ["trial", "strategy", "round", "labels", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def test_the_summary_pairs_each_strategy_with_random_at_the_same_round():
    summary = loop_summary(results()).set_index(["strategy", "round"])
    queue = summary.loc[("queue", 1)]
    assert queue["mean"] == pytest.approx(0.75) and queue["mean_diff"] == pytest.approx(0.15)
    assert queue["wins"] == 2 and queue["trials"] == 2
    # t interval with 1 degree of freedom: 0.15 +- 12.706 * 0.0707 / sqrt(2)
    assert queue["ci_low"] == pytest.approx(0.15 - 12.7062 * 0.05, abs=1e-3)
    assert np.isnan(summary.loc[("random", 1), "mean_diff"])


def test_labels_to_match_interpolates_where_a_strategy_reaches_randoms_last_figure():
    # random ends at 0.7 with 200 labels; queue's means are 0.5, 0.75, 0.85: it passes 0.7
    # between 0 and 100 labels, at 100 * (0.7 - 0.5) / (0.75 - 0.5) = 80.
    needed = labels_to_match(loop_summary(results()), "catalogue_acc_tuned")
    assert needed["queue"] == pytest.approx(80.0)
    assert needed["random"] == pytest.approx(200.0)
