"""What the comparison cost: how long each method's trial runs took (MLflow's start and end
times), the embedding steps' times when the pipeline passes them, the wall time from the
first training run to the last, and the machine, so that a team lead can weigh a
recommendation against the cost of running it again (more trials, the whole catalogue)."""

from __future__ import annotations

import os
import platform

import mlflow
import pandas as pd


def run_times(run_ids: list[str], tracking_uri: str) -> pd.DataFrame:
    """Start, end and seconds of each run."""
    client = mlflow.MlflowClient(tracking_uri)
    rows = []
    for run_id in run_ids:
        info = client.get_run(run_id).info
        end = info.end_time or info.start_time
        rows.append({"run_id": run_id, "start": info.start_time, "end": end})
    table = pd.DataFrame(rows, columns=["run_id", "start", "end"])
    return table.assign(seconds=(table["end"] - table["start"]) / 1000)


def cost_by_method(runs: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    """Per method: its trial runs, their mean and total minutes (slowest first)."""
    pairs = runs[["method", "run_id"]].drop_duplicates().merge(times, on="run_id")
    table = pairs.groupby("method").agg(runs=("run_id", "size"), seconds=("seconds", "sum"))
    table["minutes per run"] = (table["seconds"] / table["runs"] / 60).round(2)
    table["minutes in all"] = (table["seconds"] / 60).round(1)
    return table.drop(columns="seconds").sort_values("minutes in all", ascending=False)


def machine() -> str:
    """Cores, processor and accelerator, as a line."""
    cpu = platform.processor() or platform.machine()
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no GPU"
    return f"{os.cpu_count()} cores ({cpu}), {gpu}"


def cost_facts(times: pd.DataFrame, stage_seconds: dict[str, float]) -> dict[str, str]:
    """Totals in words: training compute and wall time, other stages, core-hours."""
    training = float(times["seconds"].sum())
    wall = (times["end"].max() - times["start"].min()) / 1000 if len(times) else 0.0
    facts = {
        "training, every run one after another": f"{training / 60:.1f} min ({len(times)} runs)",
        "training, first run started to last ended": f"{wall / 60:.1f} min",
    }
    for stage, seconds in stage_seconds.items():
        facts[stage] = f"{seconds:.0f} s"
    spent = training + sum(stage_seconds.values())
    facts["core-hours"] = f"{spent * (os.cpu_count() or 1) / 3600:.2f} (all cores busy)"
    facts["machine"] = machine()
    return facts
