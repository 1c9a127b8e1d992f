"""The whole asset graph, cold (fresh EMBAUG_HOME) then warm (the same home again): wall time
and peak memory of `embaug demo`, and per asset.

Runs `embaug demo` as a child process, samples its resident memory every --interval seconds,
then reads each Dagster run's step statistics (start and end of every asset's step) from the
instance under EMBAUG_HOME; an asset's peak memory is the largest sample inside its steps
(the process is one: memory an earlier asset kept counts too). Time outside any step is
Python start-up, imports and Dagster's own work between runs.

    python -m benchmarks.end_to_end [--sample-fraction 0.1] [--trials 2] [--methods all]
    python -m benchmarks.end_to_end --full --home benchmarks/.home-full
        # the whole catalogue, kept for `neighbours --full`; writes end_to_end_full.json
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import check, main, target

logger = logging.getLogger(__name__)


def sample_memory(process, interval: float) -> list[tuple[float, float]]:
    """(epoch seconds, resident MB of the process and its children) until it exits."""
    import psutil

    watched = psutil.Process(process.pid)
    samples = []
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(
                child.memory_info().rss for child in watched.children(recursive=True)
            )
        except psutil.Error:  # exited between poll and read
            break
        samples.append((time.time(), rss / 2**20))
        time.sleep(interval)
    return samples


def step_stats(dagster_home: Path, since: float) -> tuple[pd.DataFrame, dict[str, dict]]:
    """One row per step of every Dagster run created after `since` (run, asset, partition,
    start and end in epoch seconds), and what each embedding asset's cache did in its latest
    run, from its materialisation metadata (runs come newest first)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    rows, cache = [], {}
    for record in instance.get_run_records():
        if record.create_timestamp.timestamp() < since:
            continue
        partition = record.dagster_run.tags.get("dagster/partition", "")
        for step in instance.get_run_step_stats(record.dagster_run.run_id):
            if step.start_time and step.end_time:
                rows.append(
                    {
                        "run_id": step.run_id,
                        "asset": step.step_key,
                        "partition": partition,
                        "start": step.start_time,
                        "end": step.end_time,
                    }
                )
            for event in step.materialization_events:
                metadata = event.asset_materialization.metadata
                if "computed" in metadata:
                    cache.setdefault(
                        step.step_key,
                        {
                            "wanted": metadata["requested"].value,
                            "cached": metadata["from_cache"].value,
                            "computed": metadata["computed"].value,
                        },
                    )
    columns = ["run_id", "asset", "partition", "start", "end"]
    return pd.DataFrame(rows, columns=columns), cache


def per_asset(steps: pd.DataFrame, samples: list[tuple[float, float]]) -> pd.DataFrame:
    """Steps, total and median seconds, and peak resident MB of each asset."""
    memory = pd.DataFrame(samples, columns=["time", "mb"])

    def peak(row: pd.Series) -> float:
        inside = memory[(memory["time"] >= row["start"]) & (memory["time"] <= row["end"])]
        return float(inside["mb"].max()) if len(inside) else float("nan")

    steps = steps.assign(seconds=steps["end"] - steps["start"], peak_mb=steps.apply(peak, axis=1))
    order = steps.groupby("asset")["start"].min().sort_values().index
    table = steps.groupby("asset").agg(
        steps=("seconds", "size"),
        total_s=("seconds", "sum"),
        median_s=("seconds", "median"),
        peak_mb=("peak_mb", "max"),
    )
    return table.loc[order].reset_index()


def run_demo(home: Path, demo_args: list[str], interval: float, log: Path) -> dict[str, object]:
    """One `embaug demo` in `home`: exit code (and last error line), wall time, peak memory,
    the cache's work, per-asset table (of the steps that ran, if it failed)."""
    embaug = str(Path(sys.executable).parent / "embaug")
    env = {**os.environ, "EMBAUG_HOME": str(home)}
    started = time.time()
    with log.open("w") as output:
        process = subprocess.Popen(
            [embaug, "demo", *demo_args], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        samples = sample_memory(process, interval)
        returncode = process.wait()
    wall = time.time() - started
    text = log.read_text()
    if returncode:
        logger.error("embaug demo failed (%d); see %s", returncode, log)
    steps, cache = step_stats(home / "dagster", started)
    assets = per_asset(steps, samples)
    errors = [
        line for line in text.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception): ", line)
    ]
    return {
        "returncode": returncode,
        "error": errors[-1] if returncode and errors else "",
        "wall_s": wall,
        "peak_mb": max(mb for _, mb in samples),
        "in_steps_s": float(assets["total_s"].sum()),
        "dagster_runs": int(steps["run_id"].nunique()),
        "cache": cache,
        "assets": assets.to_dict(orient="records"),
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sample-fraction", type=float, default=0.1)
    parser.add_argument(
        "--full", action="store_true", help="whole catalogue (slow); writes end_to_end_full.json"
    )
    parser.add_argument("--trials", type=int, default=2, help="the demo runs 5")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--interval", type=float, default=0.2, help="memory sampling, seconds")
    parser.add_argument(
        "--home",
        type=Path,
        help="run in this (new) EMBAUG_HOME and keep it; default: a temporary folder",
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    demo_args = ["--full"] if args.full else ["--sample-fraction", str(args.sample_fraction)]
    demo_args += ["--trials", str(args.trials), "--methods", args.methods]
    demo_args += ["--epochs", str(args.epochs)]
    home = args.home or Path(tempfile.mkdtemp(prefix="embaug-e2e-"))
    if args.home and (home / "embaug.duckdb").exists():
        raise SystemExit(f"{home} already holds a store; a cold run needs a new folder")
    logs = Path(tempfile.mkdtemp(prefix="embaug-e2e-logs-"))
    try:
        runs = {
            label: run_demo(home, demo_args, args.interval, logs / f"{label}.log")
            for label in ("cold", "warm")
        }
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    found = targets(runs) + (whole_catalogue_targets(runs) if args.full else [])
    return {"demo_args": demo_args, "logs": str(logs), "runs": runs, "targets": found}


def step_seconds(part: dict, asset: str) -> float:
    return next(row["total_s"] for row in part["assets"] if row["asset"] == asset)


def targets(runs: dict[str, dict]) -> list[dict[str, object]]:
    """Both runs succeed; the warm one embeds nothing and materialises each embedding asset at
    least 100x faster than the cold one (the asset's step, start to end, from Dagster)."""
    cold, warm = runs["cold"], runs["warm"]
    warm_cache = warm["cache"].values()
    return [
        *(
            check(f"end to end: {label} run succeeds", not part["returncode"], "exit code 0")
            for label, part in runs.items()
        ),
        check(
            "end to end: the warm run embeds nothing",
            len(warm_cache) == 2 and all(part["computed"] == 0 for part in warm_cache),
            "0 computed by both embedding assets",
        ),
        *(
            target(
                f"end to end: {asset} cold / warm step time",
                step_seconds(cold, asset) / step_seconds(warm, asset),
                100,
                at_least=True,
            )
            for asset in ("text_embeddings", "image_embeddings")
        ),
        target(
            "end to end: warm / cold wall time", warm["wall_s"] / cold["wall_s"], 1, at_least=False
        ),
    ]


def whole_catalogue_targets(runs: dict[str, dict]) -> list[dict[str, object]]:
    """Issue 26's targets on 2 cores: cold within 45 minutes, warm within 3.5."""
    return [
        target("whole catalogue: cold wall minutes", runs["cold"]["wall_s"] / 60, 45, False),
        target("whole catalogue: warm wall minutes", runs["warm"]["wall_s"] / 60, 3.5, False),
    ]


def render(result: dict) -> str:
    lines = [f"`embaug demo {' '.join(result['demo_args'])}`, cold then warm:", ""]
    for label, part in result["runs"].items():
        cache = ", ".join(
            f"{name} {c['computed']} computed / {c['wanted']}" for name, c in part["cache"].items()
        )
        lines.append(
            f"- {label}: {part['wall_s']:.0f} s wall, {part['in_steps_s']:.0f} s inside asset "
            f"steps, peak {part['peak_mb']:.0f} MB resident; {cache}."
            + (
                f" **Failed** (exit {part['returncode']}): `{part['error']}`"
                if part["returncode"]
                else ""
            )
        )
    cold, warm = (pd.DataFrame(result["runs"][k]["assets"]) for k in ("cold", "warm"))
    table = cold.merge(warm, on="asset", suffixes=(" cold", " warm"), how="left")
    lines += ["", table.to_markdown(index=False, floatfmt=".1f")]
    return "\n".join(lines)


if __name__ == "__main__":
    main("end_to_end", parser, run, render)
