"""`embaug budget` and `embaug loop` on the graph's store: results stored, a summary printed,
and the report's studies section filled in (it said "Not run yet" before)."""

from __future__ import annotations

import pandas as pd

from embaug_core.store import Store
from embaug_pipeline.cli import main


def test_the_label_budget_study_stores_results_and_fills_the_report(graph_run, capsys):
    home, _, _, _ = graph_run
    page = home.reports / "report.html"
    assert "<code>embaug budget</code> compares every method" in page.read_text()
    arguments = ["budget", "--labels-per-class", "1,2", "--trials", "2", "--epochs", "2"]
    assert main([*arguments, "--methods", "control,logreg,logreg__knn_distance"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert "recommended" in lines[0] and len(lines) == 2 + 2  # header, rule, one row a budget
    stored = Store(home.duckdb_path).query("SELECT * FROM budget_results")
    assert set(stored["budget"]) == {1, 2} and stored["trial"].nunique() == 2
    assert set(stored["method"]) == {"control", "logreg", "logreg__knn_distance"}
    text = page.read_text()
    assert "Which configuration at which label budget" in text
    assert "<code>embaug budget</code> compares every method" not in text


def test_the_loop_simulation_reveals_pool_labels_round_by_round(graph_run, capsys):
    home, _, _, _ = graph_run
    arguments = ["loop", "--rounds", "2", "--batch", "3", "--trials", "1", "--epochs", "2"]
    assert main([*arguments, "--strategies", "queue,random", "--method", "logreg"]) == 0
    out = capsys.readouterr().out
    assert "logreg on 1 trials, 2 rounds of 3" in out
    stored = Store(home.duckdb_path).query("SELECT * FROM loop_results")
    assert set(stored["strategy"]) == {"queue", "random"}
    assert sorted(stored["labels"].unique()) == [0, 3, 6]
    start = stored[stored["round"] == 0].pivot(index="metric", columns="strategy", values="value")
    # round 0 is the trial's own labels (NaN figures too: this hold-out has no "none" product)
    pd.testing.assert_series_equal(start["queue"], start["random"], check_names=False)
    known = stored[stored["metric"] == "classes_known"].sort_values("round")
    for _, rows in known.groupby("strategy"):
        assert rows["value"].is_monotonic_increasing
    assert "The labeling loop, simulated" in (home.reports / "report.html").read_text()
