"""Partitions side by side, measured on this machine: the trial x method grid with 1 worker
against 2, on local processes (`embaug demo --workers N`) and on a Dask cluster started for
the purpose (scheduler and workers as separate processes on loopback); and the embedding in
shards through the Dask workers. Each worker gets its share of the cores' threads, as it would
have its own cores on its own machine.

Each setting runs twice, in the order 1, 2, 2, 1, so drift in the machine's load hits both
alike; the ratios are of the means. Every grid measurement trains afresh (a seed no earlier
run used, so no partition is reused); every embedding goes into a throwaway store.

- Grid: `--trials` x `--methods` partitions of `trained_models` on the benchmarks' store, each
  its own Dagster run.
- Embedding: `--texts` titles and descriptions of the store (a seeded sample, so long and
  short texts alike) in shards of 256.

    python -m benchmarks.workers [--trials 2] [--methods control,e_stitchup,logreg] [--texts 4096]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np

from benchmarks.common import ensure_store, main, target
from embaug_core.embeddings.cache import fill_cache
from embaug_core.embeddings.encoders import TextEncoder
from embaug_core.embeddings.shards import ShardRunner
from embaug_core.embeddings.vectors import text_sha256
from embaug_core.store import Store
from tests.end_to_end.servers import DaskCluster

ORDER = (1, 2, 2, 1)


def grid_seconds(trials: list[str], methods: list[str], config: dict, **workers) -> float:
    from embaug_pipeline.run.graph import materialise_grid

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        materialise_grid(instance, trials, methods, {"trained_models": config}, **workers)
    return time.perf_counter() - started


def embedding_seconds(address: str, texts: list[str]) -> float:
    root = Path(tempfile.mkdtemp(prefix="embaug-workers-"))
    store = Store(root / "embaug.duckdb")
    encoder = TextEncoder(device="cpu")
    runner = ShardRunner(address, root / "shards", "text", {"device": "cpu"})
    items = {text_sha256(t): t for t in texts}
    started = time.perf_counter()
    fill_cache(store, encoder, items, list(items), chunk_size=256, shards=runner)
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict:
    from embaug_pipeline.run.runner import prepare_home

    ensure_store()
    home = prepare_home()
    store = Store(home.duckdb_path)
    trials = sorted(store.split_catalogues())[: args.trials]
    if len(trials) < args.trials:
        raise SystemExit(
            f"the store under EMBAUG_HOME={home.root} has {len(trials)} trial split(s), "
            f"--trials asks for {args.trials}: run `embaug demo --trials {args.trials}` on it first"
        )
    methods = args.methods.split(",")
    every_text = store.texts(("title", "description"))["text"].tolist()
    chosen = np.random.default_rng(0).permutation(len(every_text))[: args.texts]
    texts = [every_text[i] for i in chosen]
    seeds = itertools.count(time.time_ns() % 10**9)  # a new setting each time: all train

    def config() -> dict:
        return {"epochs": args.epochs, "seed": next(seeds)}

    cores = os.cpu_count() or 1
    runs: dict[str, dict[int, list[float]]] = {
        name: {1: [], 2: []} for name in ("local grid", "dask grid", "dask embedding")
    }
    for workers in ORDER:
        runs["local grid"][workers].append(grid_seconds(trials, methods, config(), workers=workers))
        env = {
            "EMBAUG_HOME": str(home.root),
            "DAGSTER_HOME": str(home.dagster_home),
            "OMP_NUM_THREADS": str(max(1, cores // workers)),
        }
        cluster = DaskCluster(env).start(workers=workers)
        try:
            address = cluster.address
            runs["dask grid"][workers].append(
                grid_seconds(trials, methods, config(), dask_address=address)
            )
            runs["dask embedding"][workers].append(embedding_seconds(address, texts))
        finally:
            cluster.stop()
    means = {name: {w: float(np.mean(s)) for w, s in by.items()} for name, by in runs.items()}
    return {
        "partitions": len(trials) * len(methods),
        "texts": len(texts),
        "cores": cores,
        "order": list(ORDER),
        "seconds": {
            name: {str(w): [round(s, 1) for s in v] for w, v in by.items()}
            for name, by in runs.items()
        },
        "targets": [
            target(f"{name}: 1 worker / 2 workers", by[1] / by[2], 1.0, at_least=True)
            for name, by in means.items()
        ],
    }


def render(result: dict) -> str:
    lines = [
        f"{result['partitions']} partitions, {result['texts']} texts, {result['cores']} cores; "
        f"order {', '.join(map(str, result['order']))} workers",
        "",
        "| what | 1 worker (s) | 2 workers (s) | ratio of means |",
        "|---|---:|---:|---:|",
    ]
    ratios = {row["name"].split(":")[0]: row["value"] for row in result["targets"]}
    for name, by in result["seconds"].items():
        one, two = (", ".join(map(str, by[w])) for w in ("1", "2"))
        lines.append(f"| {name} | {one} | {two} | {ratios[name]:.2f} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--methods", default="control,e_stitchup,logreg")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--texts", type=int, default=4096)
    return parser


if __name__ == "__main__":
    main("workers", parser, run, render)
