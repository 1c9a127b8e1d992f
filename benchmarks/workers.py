"""Past one machine, measured on this one: the trial x method grid and the embedding with
1 worker against 2, on a Dask cluster started for the purpose (scheduler and workers as
separate processes on loopback, one thread each), ratios in one run.

- Grid: `--trials` x `--methods` partitions of `trained_models` on the benchmarks' store, each
  its own Dagster run on a worker (retrained: the epochs are changed between runs so nothing is
  reused).
- Embedding: `--texts` texts of the catalogue embedded in shards of 256 through the workers
  into a throwaway store.

    python -m benchmarks.workers [--trials 2] [--methods control,e_stitchup,logreg] [--texts 2048]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

from benchmarks.common import ensure_store, main, target
from embaug_core.embeddings import fill_cache, text_sha256
from embaug_core.encoders import TextEncoder
from embaug_core.shards import ShardRunner
from embaug_core.store import Store
from tests.servers import DaskCluster


def grid_seconds(address: str, trials: list[str], methods: list[str], epochs: int) -> float:
    from embaug_pipeline.graph import materialise_grid

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        materialise_grid(instance, trials, methods, {"trained_models": {"epochs": epochs}}, address)
    return time.perf_counter() - started


def embedding_seconds(address: str, texts: list[str], root: Path) -> float:
    store = Store(root / "embaug.duckdb")
    with store.connect():
        pass
    encoder = TextEncoder(device="cpu")
    runner = ShardRunner(address, root / "shards", "text", {"device": "cpu"})
    items = {text_sha256(t): t for t in texts}
    started = time.perf_counter()
    fill_cache(store, encoder, items, list(items), chunk_size=256, shards=runner)
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict:
    from embaug_pipeline.runner import prepare_home

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
    texts = store.texts(("title", "description"))["text"].tolist()[: args.texts]
    env = {"EMBAUG_HOME": str(home.root), "DAGSTER_HOME": str(home.dagster_home)}
    results = {}
    for workers in (1, 2):
        cluster = DaskCluster(env).start(workers=workers)
        try:
            epochs = args.epochs + workers  # a new setting: every partition trains again
            grid = grid_seconds(cluster.address, trials, methods, epochs)
            embed = embedding_seconds(cluster.address, texts, Path(tempfile.mkdtemp()))
        finally:
            cluster.stop()
        results[workers] = {"grid_seconds": round(grid, 1), "embedding_seconds": round(embed, 1)}
    grid_ratio = results[1]["grid_seconds"] / results[2]["grid_seconds"]
    embed_ratio = results[1]["embedding_seconds"] / results[2]["embedding_seconds"]
    return {
        "partitions": len(trials) * len(methods),
        "texts": len(texts),
        "cores": os.cpu_count(),
        "runs": results,
        "targets": [
            target("grid: 1 worker / 2 workers", grid_ratio, 1.0, at_least=True),
            target("embedding: 1 worker / 2 workers", embed_ratio, 1.0, at_least=True),
        ],
    }


def render(result: dict) -> str:
    lines = [
        f"{result['partitions']} partitions, {result['texts']} texts, {result['cores']} cores",
        "",
        "| workers | grid seconds | embedding seconds |",
        "|---:|---:|---:|",
    ]
    for workers, row in result["runs"].items():
        lines.append(f"| {workers} | {row['grid_seconds']} | {row['embedding_seconds']} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--methods", default="control,e_stitchup,logreg")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--texts", type=int, default=2048)
    return parser


if __name__ == "__main__":
    main("workers", parser, run, render)
