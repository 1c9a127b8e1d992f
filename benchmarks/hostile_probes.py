"""Hostile inputs measured on their own, beside `benchmarks.hostile`'s demo (which needs the
plain-CSV layout): a Parquet file whose one image cell is gigabytes of zeros under zstd, a
photo stored sideways with EXIF orientation 6, and thousands of rows naming one photo.

Each catalogue load runs in a child process; its peak resident memory comes from the kernel
(wait4, as the child's parent reads RUSAGE_CHILDREN), not from sampling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: The Hugging Face image struct: the file's bytes inline, or a path.
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

#: Loads a catalogue and prints its rejection reasons (or its one error) as JSON.
LOAD = """
import json, sys
from embaug_core.catalog import CatalogError, load_catalog
try:
    catalog = load_catalog(sys.argv[1])
    found = dict(zip(catalog.rejected["product_id"], catalog.rejected["reason"]))
    found["products"] = len(catalog.products)
except CatalogError as error:
    found = {"error": str(error)}
print(json.dumps(found))
"""


#: Runs a command under an address-space limit (0: none) and writes its exit code and the
#: peak resident memory of its process tree. The command is started from this small process,
#: because a child's peak counts what its parent held when it was forked.
LIMITED = """
import json, resource, subprocess, sys
limit, out, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def limited():
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
code = subprocess.call(command, preexec_fn=limited)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(out, "w").write(json.dumps({"exit_code": code, "peak_kb": peak}))
"""


def measured_load(path: Path) -> dict[str, object]:
    """Load a catalogue in a child process: its reasons, wall seconds and peak memory (MB)."""
    with tempfile.TemporaryDirectory() as folder:
        outcome = Path(folder) / "outcome.json"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                LIMITED,
                "0",
                str(outcome),
                sys.executable,
                "-c",
                LOAD,
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        measured = json.loads(outcome.read_text())
    return {
        "exit_code": measured["exit_code"],
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(measured["peak_kb"] / 1024, 1),
        "reasons": json.loads(done.stdout.strip().splitlines()[-1] or "{}"),
    }


def _zeros_cell(size: int) -> pa.Array:
    """One image struct whose bytes are `size` zeros, without a Python copy (np.zeros maps
    untouched zero pages)."""
    data = pa.py_buffer(np.zeros(size, dtype=np.uint8))
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int32))
    cell = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, data])
    return pa.StructArray.from_arrays([cell, pa.array([None], pa.string())], fields=list(IMAGE))


def parquet_bomb(folder: Path, real: Path, cell_bytes: int, per_class: int = 12) -> dict:
    """Real products with their photos inline, then a row group of one image cell of
    `cell_bytes` zeros, zstd-compressed; loaded with the default settings."""
    styles = pd.read_csv(real / "styles.csv", dtype=str).head(per_class)
    photos = [(real / "images" / f"{i}.jpg").read_bytes() for i in styles["id"]]
    first = pa.table(
        {
            "id": styles["id"].tolist(),
            "productDisplayName": styles["productDisplayName"].tolist(),
            "articleType": styles["articleType"].tolist(),
            "image": pa.array([{"bytes": b, "path": None} for b in photos], IMAGE),
        }
    )
    bomb = pa.table(
        {
            "id": ["h-bomb"],
            "productDisplayName": ["A gigabyte of zeros"],
            "articleType": [styles["articleType"].iloc[0]],
            "image": _zeros_cell(cell_bytes),
        },
        schema=first.schema,
    )
    path = folder / "bomb.parquet"
    with pq.ParquetWriter(path, first.schema, compression="zstd") as writer:
        writer.write_table(first)
        writer.write_table(bomb)
    return {"cell_bytes": cell_bytes, "file_bytes": path.stat().st_size, **measured_load(path)}


def repeated_image(folder: Path, real: Path, rows: int) -> dict:
    """A plain CSV of `rows` products all naming one real photo."""
    photo = sorted((real / "images").glob("*.jpg"))[0]
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "title": [f"Product {i}" for i in range(rows)],
            "category": ["Watches", "Belts"] * (rows // 2) + ["Watches"] * (rows % 2),
            "image": [photo.name] * rows,
        }
    )
    (folder / photo.name).write_bytes(photo.read_bytes())
    frame.to_csv(folder / "repeated.csv", index=False)
    found = measured_load(folder / "repeated.csv")
    return {"rows": rows, **found, "reasons": {"products": found["reasons"].get("products")}}


def sideways_photo(real: Path) -> dict:
    """Cosines to the upright photo of the same photo stored turned 90 degrees left with EXIF
    orientation 6, as embedded now, and of its stored pixels without the turn (what embaug
    embedded before it applied the orientation)."""
    import io

    from PIL import Image

    from embaug_core.embeddings.encoders import ImageEncoder

    styles = pd.read_csv(real / "styles.csv", dtype=str)
    watches = styles.loc[styles["articleType"] == "Watches", "id"].head(5)
    encoder, rows = ImageEncoder(), []
    for product_id in watches:
        upright = (real / "images" / f"{product_id}.jpg").read_bytes()
        with Image.open(io.BytesIO(upright)) as photo:
            stored = photo.convert("RGB").transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        oriented, plain = io.BytesIO(), io.BytesIO()
        stored.save(oriented, format="JPEG", quality=95, exif=exif)
        stored.save(plain, format="JPEG", quality=95)
        vectors = encoder.encode([upright, oriented.getvalue(), plain.getvalue()])
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        rows.append((float(unit[0] @ unit[1]), float(unit[0] @ unit[2])))
    now, before = zip(*rows, strict=True)
    return {
        "photos": len(rows),
        "cosine_to_upright_now": [round(c, 4) for c in now],
        "cosine_to_upright_ignoring_exif": [round(c, 4) for c in before],
        "identity": encoder.identity,
    }


def run_probes(real: Path, bomb_gb: float, repeated_rows: int) -> dict:
    """Every probe, each in its own work folder."""
    work = Path(tempfile.mkdtemp(prefix="embaug-hostile-probes-"))
    (work / "bomb").mkdir()
    (work / "repeated").mkdir()
    return {
        "parquet_bomb": parquet_bomb(work / "bomb", real, int(bomb_gb * 2**30)),
        "repeated_image": repeated_image(work / "repeated", real, repeated_rows),
        "sideways_photo": sideways_photo(real),
    }


def render_probes(probes: dict) -> str:
    """Three lines of Markdown, one per probe."""
    bomb, repeated, sideways = (
        probes["parquet_bomb"],
        probes["repeated_image"],
        probes["sideways_photo"],
    )
    reason = bomb["reasons"].get("h-bomb") or bomb["reasons"].get("error", "")
    return "\n".join(
        [
            f"- Parquet file of {bomb['file_bytes']:,} bytes with one zstd image cell of "
            f"{bomb['cell_bytes']:,} zeros: loaded in {bomb['seconds']:.1f} s, peak "
            f"{bomb['peak_rss_mb']:,.0f} MB resident, {bomb['reasons'].get('products')} "
            f"products kept; the row: `{reason}`",
            f"- {repeated['rows']:,} rows naming one photo: loaded in "
            f"{repeated['seconds']:.1f} s, peak {repeated['peak_rss_mb']:,.0f} MB resident",
            f"- A photo stored sideways with EXIF orientation 6 ({sideways['photos']} photos): "
            f"cosine to the upright photo {min(sideways['cosine_to_upright_now']):.4f} to "
            f"{max(sideways['cosine_to_upright_now']):.4f} now, "
            f"{min(sideways['cosine_to_upright_ignoring_exif']):.3f} to "
            f"{max(sideways['cosine_to_upright_ignoring_exif']):.3f} with the orientation "
            f"ignored (identity `{sideways['identity']}`)",
        ]
    )
