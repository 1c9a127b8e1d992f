"""People's labels to the served model: seconds from the start of `embaug labels import` to
the new production version registered in MLflow (its creation time), on a copy of a demo
store, with the trials' evidence left to the schedule (`--evidence schedule`), and the
command's whole wall time (predictions and the queue are redone after the version).

The labels are the demo's filled-in queue (`EMBAUG_HOME/demo/labeling_queue_filled.csv`,
the labels it withheld). Each repeat imports them into a fresh copy of the store, so every
import is new; the copy also opens the store from a moved home. The load average before and
after each repeat says what else was running.

    python -m benchmarks.label_to_production --home .embaug [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import check, main, target

TARGET_SECONDS = 120


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("EMBAUG_HOME", ".embaug")),
        help="a home where `embaug demo` ran on the 10%% sample (it is copied, never changed)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    return parser


def registered_seconds(home: Path, started: float) -> tuple[int, float]:
    """The production version now served, and seconds from `started` to its creation."""
    import mlflow

    uri = f"sqlite:///{home / 'mlflow.db'}"
    version = mlflow.MlflowClient(uri, registry_uri=uri).get_model_version_by_alias(
        "embaug-classifier", "production"
    )
    return int(version.version), version.creation_timestamp / 1000 - started


def one_import(source: Path) -> dict[str, object]:
    """Copy the store, import the filled-in queue into the copy, time it."""
    scratch = Path(tempfile.mkdtemp(prefix="embaug-l2p-"))
    home = scratch / "home"
    try:
        shutil.copytree(source, home, ignore=shutil.ignore_patterns("logs", "shards"))
        labels = home / "demo" / "labeling_queue_filled.csv"
        before, _ = registered_seconds(home, 0)
        load = os.getloadavg()[0]
        env = {**os.environ, "EMBAUG_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
        embaug = Path(sys.executable).parent / "embaug"
        started = time.time()
        done = subprocess.run(
            [str(embaug), "labels", "import", str(labels), "--evidence", "schedule"],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.time() - started
        version, seconds = registered_seconds(home, started)
        return {
            "returncode": done.returncode,
            "labels": sum(1 for _ in labels.open()) - 1,
            "version_before": before,
            "version_after": version,
            "to_production_s": seconds,
            "command_s": wall,
            "load_before": load,
            "load_after": os.getloadavg()[0],
            "output": done.stdout[-1500:] + done.stderr[-1500:],
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, object]:
    if not (args.home / "demo" / "labeling_queue_filled.csv").is_file():
        raise SystemExit(f"{args.home}: no demo/labeling_queue_filled.csv; run `embaug demo`")
    repeats = [one_import(args.home.resolve()) for _ in range(args.repeats)]
    fastest = min(r["to_production_s"] for r in repeats)
    new = all(r["version_after"] > r["version_before"] and not r["returncode"] for r in repeats)
    return {
        "home": str(args.home),
        "repeats": repeats,
        "targets": [
            target(
                "labels to production: import to new version, s", fastest, TARGET_SECONDS, False
            ),
            check("labels to production: every import registers a new version", new, "yes"),
        ],
    }


def render(result: dict) -> str:
    lines = ["`embaug labels import` of the demo's filled-in queue, on a copy of the store:", ""]
    for number, r in enumerate(result["repeats"], 1):
        lines.append(
            f"- repeat {number}: {r['labels']} labels; production v{r['version_before']} -> "
            f"v{r['version_after']} registered {r['to_production_s']:.1f} s after the command "
            f"started; the command took {r['command_s']:.1f} s (load average "
            f"{r['load_before']:.2f} before, {r['load_after']:.2f} after)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main("label_to_production", parser, run, render)
