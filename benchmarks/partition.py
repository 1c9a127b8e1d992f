"""Where one `trained_models` partition spends its time.

One in-process Dagster run of one trial x method partition (what `embaug demo` runs twenty
times), under cProfile, on the benchmarks' store; its wall time is split into the asset's
stages by the cumulative time of the functions that do them, and the rest (Dagster's run and
event log, resources, MLflow's run itself) is what is left of the run's wall time.

    python -m benchmarks.partition [--trial trial_0] [--method e_stitchup] [--epochs 48] [--full]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import time

from benchmarks.common import add_full_flag, ensure_store, main, require_whole_catalogue
from embaug_core.store import Store

logger = logging.getLogger(__name__)

#: What each measured function does -> (file name, function name). The per-epoch evaluation
#: runs inside training and calls the per-epoch MLflow logging: `stages` takes them apart.
FUNCTIONS = {
    "read": ("training.py", "_load_trial"),
    "train": ("experiment.py", "run_method"),
    "epoch": ("experiment.py", "log_epoch"),
    "epoch_mlflow": ("tracking.py", "log_epoch"),
    "tables": ("tracking.py", "log_evaluation"),
    "model": ("tracking.py", "log_classifier"),
    "asset": ("training.py", "trained_models"),
}


def cumulative(stats: pstats.Stats, file: str, function: str) -> float:
    """Cumulative seconds of the functions named `function` in files ending with `file`."""
    return sum(
        row[3]
        for (path, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
        if name == function and path.endswith(file)
    )


def stages(stats: pstats.Stats, wall: float) -> dict[str, float]:
    """Seconds per stage of the run; they add up to its wall time."""
    t = {what: cumulative(stats, *where) for what, where in FUNCTIONS.items()}
    named = t["read"] + t["train"] + t["tables"] + t["model"]
    return {
        "read the trial's vectors (DuckDB)": t["read"],
        "fit (the training loop)": t["train"] - t["epoch"],
        "per-epoch evaluation on H": t["epoch"] - t["epoch_mlflow"],
        "per-epoch MLflow metrics": t["epoch_mlflow"],
        "evaluation tables and figures": t["tables"],
        "model logging (pyfunc)": t["model"],
        "rest of the asset (MLflow run, params)": t["asset"] - named,
        "outside the asset (Dagster run, resources)": wall - t["asset"],
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trial", default="trial_0")
    parser.add_argument("--method", default="e_stitchup")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--lines", type=int, default=25, help="of the cProfile listing")
    add_full_flag(parser, "partition")
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    import dagster as dg

    from embaug_pipeline.partitions import trial_method_key
    from embaug_pipeline.run.runner import prepare_home, run_assets

    home = ensure_store(fallback=not args.full)
    if args.full:
        require_whole_catalogue(len(Store(home.duckdb_path).products()))
    prepare_home()
    instance = dg.DagsterInstance.get()
    key = str(trial_method_key(args.trial, args.method))
    config = {"trained_models": {"epochs": args.epochs}}
    run_assets(["trained_models"], instance, config, key)  # warm: imports, first MLflow run
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run_assets, ["trained_models"], instance, config, key)
    wall = time.perf_counter() - started
    listing = io.StringIO()
    stats = pstats.Stats(profiler, stream=listing)
    stats.strip_dirs().sort_stats("cumulative").print_stats(args.lines)
    stats = pstats.Stats(profiler)  # paths intact for matching stages
    return {
        "partition": key,
        "epochs": args.epochs,
        "store": str(home.root),
        "wall_s": wall,
        "stages_s": stages(stats, wall),
        "profile": listing.getvalue(),
        "targets": [],
    }


def render(result: dict) -> str:
    wall = result["wall_s"]
    lines = [
        f"One run of partition `{result['partition']}` ({result['epochs']} epochs), in process, "
        f"under cProfile (which slows Python-heavy parts more than numeric ones): "
        f"{wall:.1f} s.",
        "",
        "| stage | s | share |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {stage} | {seconds:.2f} | {seconds / wall:.0%} |"
        for stage, seconds in result["stages_s"].items()
    ]
    lines += ["", "```", result["profile"].strip(), "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main("partition", parser, run, render)
