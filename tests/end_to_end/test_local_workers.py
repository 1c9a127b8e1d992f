"""Partitions side by side in local worker processes: what `embaug demo` does by itself for a
grid big enough to repay starting them."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from embaug_pipeline.run.abandoned import PID_TAG
from embaug_pipeline.run.graph import materialise_grid
from embaug_pipeline.run.parallel import AUTO_MIN_PARTITIONS, auto_workers


def test_automatic_workers_start_a_second_process_only_for_a_big_grid(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert auto_workers(0, 65) == 2  # the demo's grid
    assert auto_workers(0, AUTO_MIN_PARTITIONS - 1) == 1  # a small grid: the start costs more
    assert auto_workers(3, 4) == 3  # asked for: given
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert auto_workers(0, 65) == 1


@pytest.mark.slow  # two spawned worker processes
def test_a_grid_on_two_local_workers_trains_every_partition_in_the_workers(graph_run):
    _, instance, _, _ = graph_run
    config = {"trained_models": {"epochs": 2}}  # new inputs: trained again, not reused
    before = {run.run_id for run in instance.get_runs()}
    materialise_grid(instance, ["trial_0", "trial_1"], ["control", "logreg"], config, workers=2)
    runs = [run for run in instance.get_runs() if run.run_id not in before]
    assert len(runs) == 4 and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    pids = {run.tags[PID_TAG] for run in runs}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
