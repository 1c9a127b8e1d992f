"""The trial_splits step as the class count grows: 1,000 to 30,000 singleton classes (one
product each) beside four real classes of 200 products each, the catalogue a careless export
hands over. Each size is a text-only plain CSV loaded into a fresh store (not timed); then the
step's work as the asset does it is timed, part by part: people's labels merged with the
catalogue's (`effective_labels`), `make_split`, the split stored, and its metadata
(`split_summary`, the fingerprint, `supported_trials`, the roles by class).

The step should grow linearly with the classes: the target is the time per class at the
largest size against the smallest.

    python -m benchmarks.split_scaling [--classes 1000 3000 10000 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import main, medians, target, timed
from embaug_core.catalog import CatalogSettings
from embaug_core.catalog.ingest import ingest_catalogue
from embaug_core.labels.people import effective_labels
from embaug_core.labels.splits import (
    SplitConfig,
    make_split,
    split_fingerprint,
    split_summary,
    supported_trials,
)
from embaug_core.store import Store

REAL_CLASSES = ("Tshirts", "Watches", "Casual Shoes", "Handbags")
REAL_PRODUCTS = 200
PARTS = ("labels", "split", "store", "metadata")


def write_catalogue(path: Path, singletons: int) -> None:
    """`singletons` classes of one product each, and the real classes' products."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "category"])
        for i in range(singletons):
            writer.writerow([f"s{i}", f"Product {i}", f"one-off class {i}"])
        for name in REAL_CLASSES:
            for j in range(REAL_PRODUCTS):
                writer.writerow([f"{name[:3]}{j}", f"{name} {j}", name])


def time_step(store: Store, repeats: int) -> dict[str, float]:
    """Median seconds of each part of the step on trial 0."""
    config, state = SplitConfig(), {}

    def labels() -> None:
        state["categories"], state["people"] = effective_labels(store)

    def split() -> None:
        state["split"] = make_split(state["categories"], 0, config, 0, state["people"])

    def stored() -> None:
        store.replace_split("trial_0", state["split"], "benchmark")

    def metadata() -> None:
        frame = state["split"]
        split_summary(frame)
        split_fingerprint(frame)
        supported_trials(state["categories"], config)
        frame.pivot_table(index="category", columns="role", values="product_id", aggfunc="count")

    times: dict[str, list[float]] = {name: [] for name in PARTS}
    for _ in range(repeats):  # in order: each part needs the one before
        for name, part in zip(PARTS, (labels, split, stored, metadata), strict=True):
            times[name].append(timed(part)[1])
    return medians(times)


def run(args: argparse.Namespace) -> dict:
    rows = []
    for singletons in args.classes:
        work = Path(tempfile.mkdtemp(prefix="embaug-split-scaling-"))
        write_catalogue(work / "products.csv", singletons)
        store = Store(work / "embaug.duckdb")
        ingest_catalogue(store, CatalogSettings(path=str(work / "products.csv")))
        parts = time_step(store, args.repeats)
        classes = singletons + len(REAL_CLASSES)
        total = sum(parts.values())
        rows.append(
            {
                "classes": classes,
                "products": singletons + len(REAL_CLASSES) * REAL_PRODUCTS,
                **{f"{name}_s": round(seconds, 4) for name, seconds in parts.items()},
                "total_s": round(total, 4),
                "us_per_class": round(total / classes * 1e6, 1),
            }
        )
    per_class = [row["us_per_class"] for row in rows]
    growth = float(np.max(per_class) / per_class[0])
    return {
        "rows": rows,
        "targets": [
            target(
                f"split step time per class, worst size against {rows[0]['classes']:,} classes",
                round(growth, 2),
                1.5,
                at_least=False,
            )
        ],
    }


def render(result: dict) -> str:
    lines = [
        "| classes | products | people's labels (s) | make_split (s) | stored (s) | "
        "metadata (s) | total (s) | per class (µs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['classes']:,} | {r['products']:,} | {r['labels_s']:.3f} | {r['split_s']:.3f} | "
        f"{r['store_s']:.3f} | {r['metadata_s']:.3f} | {r['total_s']:.3f} | "
        f"{r['us_per_class']:.0f} |"
        for r in result["rows"]
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--classes", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    parser.add_argument("--repeats", type=int, default=3)
    return parser


if __name__ == "__main__":
    main("split_scaling", parser, run, render)
