"""Peak memory of loading a catalogue into the store and embedding it, from 10k to 1M
products: it should stay flat, since products and images are streamed in bounded chunks.

Synthetic catalogues in the plain-CSV layout reuse the titles, descriptions, classes and
photos of the products in the store given by --cache-from (product i is that store's product
i mod n under a new id), so the embedding cache seeded from it already knows every content:
what is measured is reading, checking, staging, fingerprinting and the cache lookups, not the
networks. Any store made by `embaug demo` serves; without --cache-from, the benchmarks' own.

Each size runs `raw_products` and both embedding assets in a child process, in its own
EMBAUG_HOME, sampling its resident memory.

    python -m benchmarks.memory [--cache-from DIR] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.common import ensure_store, main, target
from benchmarks.end_to_end import sample_memory
from embaug_core.catalog import html_to_text, locate_catalog
from embaug_core.store import Store

INGEST = """
import sys
import dagster as dg
from embaug_pipeline.run.graph import EMBEDDING_ASSETS
from embaug_pipeline.run.runner import prepare_home, run_assets

prepare_home()
config = {"raw_products": {"path": sys.argv[1], "image_roots": [sys.argv[2]]}}
with dg.DagsterInstance.get() as instance:
    run_assets(["raw_products", *EMBEDDING_ASSETS], instance, config)
"""


def write_catalogue(folder: Path, size: int, known: list[str]) -> Path:
    """`size` rows cycling through the real products `known`, each with a new id, images by path."""
    real = locate_catalog()
    styles = pd.read_csv(real / "styles.csv", dtype=str, keep_default_na=False)
    styles = styles[styles["id"].isin(known)].reset_index(drop=True)
    descriptions = _descriptions(real)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "products.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description", "category", "image"])
        for i in range(size):
            row = styles.iloc[i % len(styles)]
            image = str(real / "images" / f"{row['id']}.jpg")
            text = descriptions.get(row["id"], "")
            writer.writerow([f"p{i}", row["productDisplayName"], text, row["articleType"], image])
    return path


def _descriptions(real: Path) -> dict[str, str]:
    import gzip
    import json

    table = {}
    with gzip.open(real / "styles.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            data = json.loads(line)["data"]
            value = ((data.get("productDescriptors") or {}).get("description") or {}).get("value")
            table[str(data.get("id"))] = html_to_text(value or "")
    return table


def known_products(source: Path) -> list[str]:
    """The ids of the products stored under `source` (an EMBAUG_HOME): their vectors are cached."""
    with duckdb.connect(str(source / "embaug.duckdb"), read_only=True) as connection:
        return [row[0] for row in connection.execute("SELECT product_id FROM products").fetchall()]


def seed_cache(home: Path, source: Path) -> None:
    """Copy the embedding cache of `source` (an EMBAUG_HOME) into a fresh store in `home`."""
    home.mkdir(parents=True, exist_ok=True)
    with Store(home / "embaug.duckdb").connect() as connection:  # the schema, keys and all
        connection.execute(f"ATTACH '{source / 'embaug.duckdb'}' AS source (READ_ONLY)")
        connection.execute("INSERT INTO embeddings SELECT * FROM source.embeddings")


def measure(size: int, cache_from: Path, interval: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"embaug-memory-{size}-"))
    path = write_catalogue(work / "catalogue", size, known_products(cache_from))
    seed_cache(work / "home", cache_from)
    env = {**os.environ, "EMBAUG_HOME": str(work / "home")}
    images = str(locate_catalog() / "images")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", INGEST, str(path), images], env=env)
    samples = sample_memory(process, interval)
    seconds = time.perf_counter() - started
    with duckdb.connect(str(work / "home" / "embaug.duckdb"), read_only=True) as connection:
        products = connection.execute("SELECT count(*) FROM products").fetchall()[0][0]
    catalogue_mb = path.stat().st_size / 2**20
    shutil.rmtree(work)
    return {
        "size": size,
        "exit_code": process.returncode,
        "products": products,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(max(mb for _, mb in samples), 1) if samples else None,
        "catalogue_mb": round(catalogue_mb, 1),
    }


def run(args: argparse.Namespace) -> dict:
    cache_from = args.cache_from or ensure_store().root
    rows = [measure(size, cache_from, args.interval) for size in args.sizes]
    small, large = rows[0]["peak_rss_mb"], rows[-1]["peak_rss_mb"]
    ratio = large / small if small else float("nan")
    return {
        "rows": rows,
        "targets": [
            target(
                f"peak memory at {rows[-1]['size']:,} / at {rows[0]['size']:,} products",
                ratio,
                1.5,
                at_least=False,
            )
        ],
    }


def render(result: dict) -> str:
    lines = [
        "| products | catalogue CSV (MB) | seconds | peak resident memory (MB) |",
        "|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['size']:,} | {row['catalogue_mb']} | {row['seconds']} | {row['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--cache-from", type=Path, help="an EMBAUG_HOME whose products and vectors to reuse"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--interval", type=float, default=0.5)
    return parser


if __name__ == "__main__":
    main("memory", parser, run, render)
