"""A trial's split logged as an MLflow dataset while another run on the same trial logs it
too (team mode: two workers, one database)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from embaug_core.tracking import runs
from embaug_core.tracking.runs import SplitDataset, log_dataset

SPLIT = pd.DataFrame(
    {"product_id": ["1", "2"], "category": ["Belts", "Watches"], "role": ["train", "holdout"]}
)
COLLISION = 'duplicate key value violates unique constraint "dataset_pk"'


def _log_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: list[str]) -> str:
    """Log the split in a real run on a SQLite store, `log_input` first failing with each of
    `failures` in turn (what the database says when another run inserted the dataset
    between MLflow's lookup and its insert). Returns the run id."""
    real = mlflow.log_input
    pending = list(failures)

    def colliding(*args, **kwargs):
        if pending:
            raise MlflowException(pending.pop(0))
        return real(*args, **kwargs)

    monkeypatch.setattr(runs.mlflow, "log_input", colliding)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        log_dataset(SplitDataset(SPLIT, "trial_0 split", str(tmp_path), "ab" * 16))
    return run.info.run_id


def test_a_split_another_run_just_logged_is_logged_again(tmp_path, monkeypatch):
    run_id = _log_with(tmp_path, monkeypatch, [COLLISION])
    inputs = mlflow.get_run(run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["trial_0 split"]


def test_any_other_error_is_raised_at_once(tmp_path, monkeypatch):
    with pytest.raises(MlflowException, match="disk full"):
        _log_with(tmp_path, monkeypatch, ["disk full", COLLISION])
