"""Run every benchmark with its defaults (or given flags) and write BENCHMARKS.md and
benchmarks/results/bench.json: the figures, the machine, the exact commands, and whether
each target was met.

Each benchmark runs in its own process (`python -m benchmarks.NAME`, writing
results/NAME.json), so one's memory and threads do not disturb the next. When neither
EMBAUG_HOME nor benchmarks/.home holds a store, the end-to-end benchmark runs first in
benchmarks/.home and leaves its store there for the others.

--full runs the whole-catalogue variants instead: end to end on all 44k products (cold, in a
fresh benchmarks/.home-full, then warm), then neighbours, peers and the partition profile on
that store.
Their results sit beside the default ones and BENCHMARKS.md shows both.

    python -m benchmarks.run_all                               # all, defaults (33 min here)
    python -m benchmarks.run_all --full                        # whole catalogue (~2 h here)
    python -m benchmarks.run_all --only encoders,cache         # some
    python -m benchmarks.run_all --args neighbours="--hnsw"    # extra flags for one
    python -m benchmarks.run_all --only memory                 # on request (14 min here)
    python -m benchmarks.run_all --render                      # re-render from results/*.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time

from benchmarks.common import BENCH_HOME, RESULTS, ROOT, has_splits, machine, setup_logging
from embaug_core.common.home import Home

logger = logging.getLogger(__name__)
BENCHMARKS = {
    "end_to_end": "End to end: the whole asset graph, cold and warm",
    "encoders": "Encoders: embaug against the bare models",
    "cache": "Embedding cache: first pass, second pass, 1% new products",
    "training": "Training: epoch time per augmentation, zeta-mixup's batch cost",
    "peers": "Peers: scikit-learn on the same trial splits",
    "neighbours": "Neighbours: exact kNN, label augmentation, approximate search at 1M",
    "partition": "Profile: where one trained_models partition spends its time",
    "curve": "Validation curve: a sample of H or every k epochs against every epoch on all of H",
    "image_size": "Image size: 224, 160 and 128 px, speed and the report's figures",
    "text_order": "Text order: texts sorted by length before chunking, or in the store's order",
    "workers": "Workers: the grid and the embedding, 1 worker against 2 (local processes, Dask)",
    "hostile": "A hostile catalogue under an address-space limit",
    "split_scaling": "The trial split as the class count grows (singleton classes)",
    "label_to_production": "People's labels to the served model: import to new production version",
    "encoder_defaults": "Encoders: issue 26's defaults against what they replaced",
}
#: The whole-catalogue variants (`--full`): module `NAME` run with --full writes NAME_full.
FULL = {
    "end_to_end_full": "End to end on the whole catalogue (44k products), cold and warm",
    "neighbours_full": "Neighbours on the whole catalogue's vectors",
    "peers_full": "Peers on the whole catalogue's trial splits",
    "partition_full": "Profile: one trained_models partition on the whole catalogue",
    "curve_full": "Validation curve on the whole catalogue's trials",
    "floor_full": "The whole catalogue's stages against their arithmetic floor",
}
#: Run only on request (`--only NAME`, flags with `--args NAME="..."`): they take long.
ON_REQUEST = {
    "neighbours_ann": "Label augmentation at 1M vectors, exact against approximate neighbours",
    "memory": "Memory: peak resident set size as the catalogue grows",
    "int8": "int8 encoders: rate, cosine to fp32 and the report's figures",
    "test_tiers": "Test tiers: the fast tier's wall time",
}
ALL = BENCHMARKS | FULL | ON_REQUEST
#: Where --full builds its store (git-ignored; replaced by every --full run, as cold must be).
FULL_HOME = BENCH_HOME.with_name(".home-full")
MARKDOWN = ROOT / "BENCHMARKS.md"
#: Hand-written reading of the last full run, placed after the targets.
NOTES = ROOT / "benchmarks" / "notes.md"


def run_benchmark(name: str, flags: list[str]) -> bool:
    """Run one benchmark in its own process; whether it succeeded (a failure is logged and
    the others still run)."""
    command = [sys.executable, "-m", f"benchmarks.{module_name(name)}", *flags]
    env = {**os.environ, "EMBAUG_HOME": str(FULL_HOME)} if name in FULL else None
    logger.info("running %s", shlex.join(command))
    failed = subprocess.run(command, cwd=ROOT, env=env).returncode
    if failed:
        logger.error("%s failed (exit %d); its last results, if any, are kept", name, failed)
    return not failed


def module_name(name: str) -> str:
    """The module a result comes from: neighbours_full and neighbours_ann from neighbours."""
    return name.removesuffix("_full").removesuffix("_ann")


def load_results() -> dict[str, dict]:
    return {
        name: json.loads((RESULTS / f"{name}.json").read_text())
        for name in ALL
        if (RESULTS / f"{name}.json").exists()
    }


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def render(results: dict[str, dict], total_s: float | None) -> str:
    """BENCHMARKS.md from the benchmarks' result payloads."""
    now = machine()
    targets = [(name, t) for name, result in results.items() for t in result.get("targets", [])]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run_all`) from "
        "`benchmarks/results/*.json`; all figures in `benchmarks/results/bench.json`. "
        "Alternatives are timed in the same process, interleaved round by round, and compared "
        "as ratios of medians: the cores are shared with other work, so absolute times move "
        "from run to run and ratios much less.",
        "",
        "## Machine",
        "",
        f"- {now['cores']} cores, {now['cpu']}; torch {now['torch']} "
        f"({now['torch_threads']} threads), faiss {now['faiss']} ({now['faiss_threads']} "
        f"threads), duckdb {now['duckdb']}, scikit-learn {now['scikit-learn']}, "
        f"transformers {now['transformers']}, Python {now['python']}.",
    ]
    if total_s is not None:
        lines.append(f"- `make bench` with defaults took {total_s / 60:.0f} min.")
    lines += [
        "",
        "## Targets",
        "",
        "| benchmark | target | measured | limit | met |",
        "|---|---|---:|---:|:---:|",
    ]
    lines += [
        f"| {name} | {t['name']} | {format_value(t['value'])} | {t['target']} | "
        f"{'met' if t['met'] else '**missed**'} |"
        for name, t in targets
    ]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    for name, result in results.items():
        module = importlib.import_module(f"benchmarks.{module_name(name)}")
        load = result["machine"].get("load_average")
        lines += [
            "",
            f"## {ALL[name]}",
            "",
            f"`{result['command']}` ({result['wall_s'] / 60:.1f} min, finished "
            f"{result['finished']}"
            + (f", load average {load[0]:.1f} at the end" if load else "")
            + ")",
            "",
            module.render(result),
        ]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated, of {', '.join(ALL)}"
    )
    parser.add_argument("--full", action="store_true", help=f"run {', '.join(FULL)}")
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar='NAME="FLAGS"',
        help='extra flags for one benchmark, e.g. neighbours="--hnsw" (repeatable)',
    )
    parser.add_argument("--render", action="store_true", help="only re-render the results")
    return parser


def main() -> None:
    setup_logging()
    args = parser().parse_args()
    wanted = list(FULL) if args.full else args.only.split(",")
    chosen = [name for name in ALL if name in wanted]
    unknown = set(wanted) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(ALL)}")
    flags = {name: ["--full"] if name in FULL else [] for name in ALL}
    flags["neighbours_ann"] = ["--ann-augment"]
    for item in args.args:
        name, _, text = item.partition("=")
        if name not in flags:
            raise SystemExit(f"--args {item!r}: unknown benchmark {name!r}")
        flags[name] += shlex.split(text)
    summary = RESULTS / "bench.json"
    total_s = json.loads(summary.read_text())["total_s"] if summary.exists() else None
    failed: list[str] = []
    if not args.render:
        if "end_to_end" in chosen and not (has_splits(Home.from_env()) or BENCH_HOME.exists()):
            flags["end_to_end"] += ["--home", str(BENCH_HOME)]
        if "end_to_end_full" in chosen:
            shutil.rmtree(FULL_HOME, ignore_errors=True)
            flags["end_to_end_full"] += ["--home", str(FULL_HOME)]
        started = time.perf_counter()
        failed = [name for name in chosen if not run_benchmark(name, flags[name])]
        if chosen == list(BENCHMARKS):
            total_s = time.perf_counter() - started
    results = load_results()
    summary.write_text(
        json.dumps({"machine": machine(), "total_s": total_s, "benchmarks": results}, indent=2)
    )
    MARKDOWN.write_text(render(results, total_s))
    print(f"written: {MARKDOWN} and {RESULTS / 'bench.json'}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
