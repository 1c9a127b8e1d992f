"""The labeling queue: products called "none", most uncertain first."""

import pandas as pd
import pytest

from embaug_core.serving.queue import queue_table


def test_labeling_queue_by_hand():
    predictions = pd.DataFrame(
        {
            "product_id": ["a", "b", "c", "d"],
            "probability": [0.9, 0.5, 0.2, 0.6],
            "none": [False, True, True, True],
            "top_1": ["x", "x", "y", "x"],
            "p_1": [0.9, 0.5, 0.2, 0.6],
            "top_2": ["y", "y", "x", "z"],
            "p_2": [0.1, 0.4, 0.1, 0.1],
            "top_3": ["z", "z", "z", "y"],
            "p_3": [0.0, 0.3, 0.05, 0.0],
            "model_version": "3",
        }
    )
    queue = queue_table(predictions, pd.Series({"c": "Odd item"}))
    assert list(queue["product_id"]) == ["c", "b", "d"]  # "a" is confidently "x"
    assert list(queue.loc[0, ["guess_1", "guess_2", "guess_3"]]) == ["y", "x", "z"]
    assert queue.loc[0, "uncertainty"] == pytest.approx(0.8)
    assert queue.loc[0, "title"] == "Odd item" and list(queue["rank"]) == [1, 2, 3]
