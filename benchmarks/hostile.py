"""`embaug demo` on a hostile catalogue under an address-space limit (RLIMIT_AS, as `ulimit -v`
sets it): whether it ends cleanly, how long it takes, and its peak resident memory.

The catalogue is real products in the plain-CSV layout (12 of each of 6 classes, photos by
path) plus the rows a hostile user hands over: an image 100000 x 1 px, one linked to
/dev/zero, a named pipe, a 2 GB sparse file, a symbolic link loop, a 16-bit PNG, a photo
stored sideways with EXIF orientation 6, a 1 MB title, a 5 MB HTML description, formula
titles, and categories called `none`, `NA`, a case variant and "Café" in two Unicode forms.
The clean run's store says why each hostile row was rejected.

Each limit runs a fresh EMBAUG_HOME in a child process whose limit is set before it starts;
the child's peak resident memory comes from the kernel (wait4), not from sampling. Then the
probes of `benchmarks.hostile_probes`: a Parquet file with one zstd image cell of
--bomb-gb of zeros, --repeated-rows rows naming one photo, and the sideways photo's cosine
to itself upright.

    python -m benchmarks.hostile [--limits-gb 4 6 8 0] [--bomb-gb 1.5]     # 0: no limit
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmarks.common import main, target
from benchmarks.hostile_probes import LIMITED, render_probes, run_probes
from embaug_core.catalog import locate_catalog
from embaug_core.store import Store

CLASSES = ("Watches", "Belts", "Sunglasses", "Wallets", "Socks", "Caps")
PER_CLASS = 12
DEMO = [
    "demo",
    "--sample-fraction",
    "1",
    "--trials",
    "2",
    "--methods",
    "control,logreg",
    "--epochs",
    "4",
]
TIMEOUT_S = 1800


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_catalogue(folder: Path) -> Path:
    """Real products plus hostile rows, in the plain-CSV layout; returns the CSV."""
    real = locate_catalog()
    styles = pd.read_csv(real / "styles.csv", dtype=str, keep_default_na=False)
    chosen = pd.concat([styles[styles["articleType"] == c].head(PER_CLASS) for c in CLASSES])
    photos = folder / "photos"
    photos.mkdir(parents=True)
    rows = [
        [
            row["id"],
            row["productDisplayName"],
            "",
            row["articleType"],
            str(real / "images" / f"{row['id']}.jpg"),
        ]
        for _, row in chosen.iterrows()
    ]
    (photos / "thin.png").write_bytes(_png(Image.new("RGB", (100_000, 1), "white")))
    (photos / "zero.jpg").symlink_to("/dev/zero")
    os.mkfifo(photos / "pipe.jpg")
    with (photos / "sparse.jpg").open("wb") as handle:
        handle.truncate(2 * 2**30)
    (photos / "loopA.jpg").symlink_to("loopB.jpg")
    (photos / "loopB.jpg").symlink_to("loopA.jpg")
    deep = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(deep).save(photos / "deep.png")
    watch = rows[0][4]
    with Image.open(watch) as photo:  # stored turned left, EXIF says turn it right to show
        exif = Image.Exif()
        exif[0x0112] = 6
        photo.transpose(Image.Transpose.ROTATE_90).save(photos / "sideways.jpg", exif=exif)
    rows += [
        ["h-thin", "Thin image", "", "Watches", str(photos / "thin.png")],
        ["h-zero", "Linked to /dev/zero", "", "Watches", str(photos / "zero.jpg")],
        ["h-pipe", "A named pipe", "", "Watches", str(photos / "pipe.jpg")],
        ["h-sparse", "A 2 GB sparse file", "", "Watches", str(photos / "sparse.jpg")],
        ["h-loop", "A symbolic link loop", "", "Watches", str(photos / "loopA.jpg")],
        ["h-sideways", "Stored sideways (EXIF 6)", "", "Watches", str(photos / "sideways.jpg")],
        ["h-deep", "A 16-bit photo", "", "Watches", str(photos / "deep.png")],
        ["h-title", "x" * 2**20, "", "Watches", watch],
        ["h-html", "Huge description", "<p>" + "<b>word</b> " * 450_000 + "</p>", "Belts", watch],
        ["h-formula", '=HYPERLINK("http://example.com")', "", "Belts", watch],
        ["h-none", "A category called none", "", "none", watch],
        ["h-na", "A category called NA", "", "NA", watch],
        ["h-case", "Case variant", "", "watches", watch],
        ["h-cafe-nfc", "Café, composed", "", "Caf\u00e9", watch],
        ["h-cafe-nfd", "Café, decomposed", "", "Cafe\u0301", watch],
    ]
    path = folder / "products.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description", "category", "image"])
        writer.writerows(rows)
    return path


def run_limited(catalogue: Path, limit_gb: float, roots: list[Path]) -> dict[str, object]:
    """One `embaug demo` in a fresh home under `limit_gb` of address space (0: none)."""
    home = Path(tempfile.mkdtemp(prefix="embaug-hostile-home-"))
    outcome = home / "outcome.json"
    roots_args = [arg for root in roots for arg in ("--image-root", str(root))]
    embaug = str(Path(sys.executable).parent / "embaug")
    command = [embaug, *DEMO, "--data", str(catalogue), *roots_args]
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", LIMITED, str(int(limit_gb * 2**30)), str(outcome), *command],
        env={**os.environ, "EMBAUG_HOME": str(home), "EMBAUG_AUC_FLOOR": "0"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    seconds = time.perf_counter() - started
    measured = json.loads(outcome.read_text())
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    return {
        "rejected": _hostile_reasons(home) if measured["exit_code"] == 0 else {},
        "limit_gb": limit_gb or None,
        "exit_code": measured["exit_code"],
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(measured["peak_kb"] / 1024, 1),
        "stderr_tail": lines[-3:],
        "stderr_lines": len(lines),
    }


def _hostile_reasons(home: Path) -> dict[str, str]:
    """Why each hostile row (id h-...) was rejected, as the store of a clean run keeps it."""
    rejected = Store(home / "embaug.duckdb").query(
        "SELECT product_id, reason FROM rejected_products"
    )
    hostile = rejected[rejected["product_id"].str.startswith("h-")]
    return {r.product_id: r.reason[:300] for r in hostile.itertuples()}


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="embaug-hostile-"))
    catalogue = write_catalogue(work / "catalogue")
    roots = [catalogue.parent, locate_catalog() / "images"]
    rows = [run_limited(catalogue, gb, roots) for gb in args.limits_gb]
    clean = [row for row in rows if row["exit_code"] == 0]
    smallest = min((row["limit_gb"] or float("inf") for row in clean), default=float("nan"))
    probes = run_probes(locate_catalog(), args.bomb_gb, args.repeated_rows)
    bomb = probes["parquet_bomb"]
    return {
        "rows": rows,
        "probes": probes,
        "targets": [
            target(
                "smallest address-space limit (GB) that ends cleanly", smallest, 4, at_least=False
            ),
            target(
                f"peak memory (MB) reading a {args.bomb_gb:g} GB zstd image cell in Parquet",
                bomb["peak_rss_mb"],
                1500,
                at_least=False,
            ),
            target(
                "cosine of a photo stored sideways (EXIF 6) to itself upright",
                min(probes["sideways_photo"]["cosine_to_upright_now"]),
                0.99,
                at_least=True,
            ),
        ],
    }


def render(result: dict) -> str:
    lines = [
        "| address-space limit | exit | seconds | peak resident memory (MB) | last line |",
        "|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        limit = f"{row['limit_gb']:g} GB" if row["limit_gb"] else "none"
        tail = (row["stderr_tail"] or [""])[-1].replace("|", "\\|")[:160]
        lines.append(
            f"| {limit} | {row['exit_code']} | {row['seconds']:.0f} | "
            f"{row['peak_rss_mb']:,.0f} | {tail} |"
        )
    reasons = next((row["rejected"] for row in result["rows"] if row.get("rejected")), {})
    if reasons:
        lines += ["", "| hostile row | rejected because |", "|---|---|"]
        lines += [f"| {i} | {r.replace('|', '/')[:200]} |" for i, r in sorted(reasons.items())]
    if "probes" in result:
        lines += ["", render_probes(result["probes"])]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limits-gb", type=float, nargs="+", default=[4, 6, 8, 0])
    parser.add_argument("--bomb-gb", type=float, default=1.5, help="the Parquet image cell")
    parser.add_argument("--repeated-rows", type=int, default=30_000, help="rows naming one photo")
    return parser


if __name__ == "__main__":
    main("hostile", parser, run, render)
