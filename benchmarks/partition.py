"""Where one `trained_models` partition spends its time.

In-process Dagster runs of one trial x method partition as `embaug demo` runs them, after a
warm-up run. The functions that do each stage are wrapped with timers (`benchmarks/spans.py`),
so each run's wall and CPU time split into stages that add up to it; each run trains with a
new seed (the same work: an unchanged partition would be reused). Medians over runs.

--baseline DIR times an older checkout's code (DIR, e.g. `git archive COMMIT | tar -x -C DIR`)
against this one, each in its own process, round by round in a rotating order: a before/after
ratio measured under the same load.

    python -m benchmarks.partition [--method e_stitchup] [--repeats 5] [--baseline DIR]
        [--also-env NAME=VALUE] [--rounds 3] [--profile] [--full]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common
from benchmarks.common import ROOT, add_full_flag, ensure_store, main, setup_logging, target
from benchmarks.spans import Target, timing
from embaug_core.store import Store

ASSET, RUNS = "embaug_pipeline.defs.training.trained_models", "embaug_pipeline.defs.training.runs"
LOGGED = "embaug_core.training.logged"
RESOURCES, EXPERIMENT = "embaug_pipeline.resources", "embaug_core.training.experiment"
DAGSTER_JOB = "dagster._core.definitions.job_definition"
DAGSTER_COMPUTE = "dagster._core.execution.plan.compute_generator"
#: The stages of a partition, in the order they happen, and the functions that do them.
TARGETS = [
    Target("Dagster: job built for the run", "dagster", "materialize"),
    Target("Dagster: run start and end", DAGSTER_JOB, "JobDefinition.execute_in_process"),
    Target("resources set up", RESOURCES, "MlflowResource.setup_for_execution"),
    Target("asset: the rest (metadata)", DAGSTER_COMPUTE, "invoke_compute_fn"),
    Target("inputs from DuckDB (split, labels)", ASSET, "trial_inputs"),
    Target("fingerprint of inputs and code", RUNS, "fingerprint"),
    Target("MLflow: find_run", RUNS, "find_run"),
    Target("MLflow: experiment lookup", RESOURCES, "MlflowResource.experiment_id"),
    Target("MLflow: parent run lookup", RESOURCES, "MlflowResource.parent_run"),
    Target("vectors (memory-mapped cache)", RESOURCES, "EncodersResource.vectors"),
    Target("vectors: the trial's rows", RUNS, "trial_data"),
    Target("MLflow: run start", "mlflow", "start_run"),
    Target("MLflow: run end", "mlflow.tracking.fluent", "end_run"),
    Target("MLflow: dataset", LOGGED, "log_dataset"),
    Target("MLflow: params", "mlflow", "log_params"),
    Target("scoring on H and S", LOGGED, "run_method"),
    Target("training (the fit)", EXPERIMENT, "fit_method", (6, "on_epoch"), "per-epoch curve"),
    Target("MLflow: metrics (per epoch, final)", "mlflow", "log_metrics"),
    Target("evaluation tables", LOGGED, "run_tables"),
    Target("figures (matplotlib PNGs)", LOGGED, "run_figures"),
    Target("MLflow: tables and figures logged", LOGGED, "log_evaluation"),
    Target("MLflow: model logged (pyfunc)", LOGGED, "log_classifier"),
    Target("train_tracked: the rest", LOGGED, "train_tracked"),
    Target("train_or_reuse: the rest", RUNS, "train_or_reuse"),
]
OUTSIDE = "outside Dagster (the runner)"
STAGES = [t.stage for t in TARGETS] + ["per-epoch curve", OUTSIDE]
RESULT_LINE = "PARTITION-RESULT "
TARGET = "10% partition, median wall seconds (this checkout)"


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Warm up once, then `args.repeats` timed runs in this process: each run's wall time and
    seconds per stage."""
    import dagster as dg

    from embaug_pipeline.partitions import trial_method_key
    from embaug_pipeline.resources import PARENT_RUN_TAG, MlflowResource
    from embaug_pipeline.run.runner import prepare_home, run_assets

    prepare_home()
    instance = dg.DagsterInstance.get()
    key = str(trial_method_key(args.trial, args.method))
    parent = {PARENT_RUN_TAG: MlflowResource().parent_run("benchmarks.partition", "partition")}

    def one_run() -> None:
        config = {"trained_models": {"epochs": args.epochs, "seed": random.randrange(1, 2**31)}}
        run_assets(["trained_models"], instance, config, key, parent)

    one_run()  # warm: imports, the vectors file, MLflow's first connection
    totals: dict[str, list[float]] = {"wall_s": [], "cpu_s": []}
    stages = {kind: {s: [] for s in STAGES} for kind in ("stages_s", "stages_cpu_s")}
    with timing(TARGETS) as (spans, missing):
        for _ in range(args.repeats):
            spans.reset()
            started, started_cpu = time.perf_counter(), time.process_time()
            one_run()
            totals["wall_s"].append(time.perf_counter() - started)
            totals["cpu_s"].append(time.process_time() - started_cpu)
            for total, own, kind in (("wall_s", spans.own, "stages_s"),
                                     ("cpu_s", spans.own_cpu, "stages_cpu_s")):  # fmt: skip
                for stage in STAGES:
                    outside = totals[total][-1] - sum(own.values())
                    stages[kind][stage].append(outside if stage == OUTSIDE else own[stage])
    profile, profiler = io.StringIO(), cProfile.Profile()
    if args.profile:
        profiler.runcall(one_run)
        pstats.Stats(profiler, stream=profile).sort_stats("cumulative").print_stats(args.lines)
    return {
        **totals,
        **stages,
        "load_average": os.getloadavg(),
        "not_found": missing,
        "profile": profile.getvalue(),
    }


def in_process(baseline: Path | None, extra: dict[str, str], argv: list[str]) -> dict:
    """`measure` in a fresh process on this checkout's code (with the OMP_WAIT_POLICY its
    embaug_core set here) or on `baseline`'s (without), with `extra` in its environment."""
    env = {**os.environ, **extra}
    with tempfile.TemporaryDirectory() as shim:
        if baseline is not None:  # the baseline's packages, this benchmark's code
            (Path(shim) / "benchmarks").symlink_to(ROOT / "benchmarks")
            env["PYTHONPATH"] = os.pathsep.join([shim, str(baseline)])
            env.pop("OMP_WAIT_POLICY", None)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.partition", "--worker", *argv],
            cwd=shim if baseline is not None else ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_LINE))
    return json.loads(line.removeprefix(RESULT_LINE))


def summary(measured: list[dict]) -> dict[str, object]:
    """Every run of every round of one variant together, with medians."""
    found = {"not_found": measured[0]["not_found"], "profile": measured[-1]["profile"]}
    found["load_average"] = [m["load_average"] for m in measured]
    for kind in ("wall_s", "cpu_s"):
        values = [v for m in measured for v in m[kind]]
        found |= {kind: values, f"median_{kind}": float(np.median(values))}
    for kind in ("stages_s", "stages_cpu_s"):
        values = {s: [v for m in measured for v in m[kind][s]] for s in STAGES}
        found |= {kind: values, f"median_{kind}": {s: np.median(v) for s, v in values.items()}}
    return found


def run(args: argparse.Namespace) -> dict[str, object]:
    home = ensure_store(fallback=not args.full)
    if args.full:
        common.require_whole_catalogue(len(Store(home.duckdb_path).products()))
    argv = [f"--{k}={getattr(args, k)}" for k in ("trial", "method", "epochs", "repeats", "lines")]
    argv += ["--profile"] if args.profile else []
    variants: dict[str, tuple[Path | None, dict[str, str]]] = {"this checkout": (None, {})}
    if args.baseline:
        variants = {"baseline": (Path(args.baseline).resolve(), {}), **variants}
    for setting in args.also_env:
        variants[f"this checkout, {setting}"] = (None, dict([setting.split("=", 1)]))
    measured: dict[str, list[dict]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        names = list(variants)[round_ % len(variants) :] + list(variants)[: round_ % len(variants)]
        for name in names:
            measured[name].append(in_process(*variants[name], argv))
    result = {name: summary(runs) for name, runs in measured.items()}
    mine = result["this checkout"]
    payload: dict[str, object] = {
        "partition": f"{args.method}|{args.trial}",
        "epochs": args.epochs,
        "runs_per_variant": args.rounds * args.repeats,
        "store": str(home.root),
        "baseline": args.baseline or "",
        "variants": result,
        "ratio_to_this_checkout": {
            name: {k: other[f"median_{k}"] / mine[f"median_{k}"] for k in ("wall_s", "cpu_s")}
            for name, other in result.items()
            if other is not mine
        },
        "targets": [] if args.full else [target(TARGET, mine["median_wall_s"], 2.0, False)],
    }
    return payload


def render(result: dict) -> str:
    if "variants" not in result:  # a result of the cProfile version (before 2026-12-04)
        rows = [f"| {stage} | {s:.2f} |" for stage, s in result["stages_s"].items()]
        head = f"One run under cProfile, {result['wall_s']:.1f} s:"
        return "\n".join([head, "", "| stage | s |", "|---|---:|", *rows])
    variants = result["variants"]
    names = list(variants)
    loads = [load[0] for n in names for load in variants[n]["load_average"]]
    lines = [
        f"Partition `{result['partition']}` ({result['epochs']} epochs), in-process Dagster "
        f"runs as `embaug demo` makes them; medians over {result['runs_per_variant']} runs "
        f"per variant, wall and CPU seconds (CPU: every thread; it grows less with the load, "
        f"which was {min(loads):.1f} to {max(loads):.1f})"
        + (f"; baseline `{result['baseline']}`, interleaved by process." if names[1:] else "."),
        "",
        "| stage | " + " | ".join(f"{n}, wall | {n}, CPU" for n in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for stage in STAGES:
        cells = [
            variants[n][f"median_{kind}"].get(stage, float("nan"))
            for n in names
            for kind in ("stages_s", "stages_cpu_s")
        ]
        if max(cells) >= 0.005:
            lines.append(f"| {stage} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    totals = [f"**{variants[n][f'median_{k}']:.2f}**" for n in names for k in ("wall_s", "cpu_s")]
    lines.append("| **the run (median)** | " + " | ".join(totals) + " |")
    for name, ratio in result.get("ratio_to_this_checkout", {}).items():
        lines.append(
            f"\n{name} / this checkout, medians: wall {ratio['wall_s']:.2f}x, "
            f"CPU {ratio['cpu_s']:.2f}x."
        )
    missing = sorted({m for n in names for m in variants[n]["not_found"]})
    if missing:
        lines += ["", "Not in that code (no span): " + ", ".join(f"`{m}`" for m in missing)]
    profile = variants[names[-1]]["profile"]
    if profile:
        lines += ["", "cProfile of one more run:", "", "```", profile.strip(), "```"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trial", default="trial_0")
    parser.add_argument("--method", default="e_stitchup")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per process")
    parser.add_argument("--rounds", type=int, default=1, help="processes per variant")
    parser.add_argument("--baseline", default="", help="a checkout of older code to compare")
    parser.add_argument(
        "--also-env", action="append", default=[], metavar="NAME=VALUE",
        help="one more variant: this checkout with NAME=VALUE in its environment",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile one more run")
    parser.add_argument("--lines", type=int, default=30, help="of the cProfile listing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_full_flag(parser, "partition")
    return parser


def worker() -> None:
    """One variant's process: its measurements as one line on stdout."""
    setup_logging()
    print(RESULT_LINE + json.dumps(measure(parser().parse_args())), flush=True)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main("partition", parser, run, render)
