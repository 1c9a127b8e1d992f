"""The order texts reach the text encoder in: the store's order (the encoder sorts each chunk
of 512 by length) against every text sorted by length first (`shortest_first`, what the
`text_embeddings` asset does), so each chunk holds texts of similar length and its batches
are padded less. Both fill a fresh cache with every title and description of the benchmarks'
store, interleaved round by round; the vectors of the two must agree (cosine).

    python -m benchmarks.text_order [--repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import ensure_store, interleaved, main, medians, target
from embaug_core.common.home import Home
from embaug_core.embeddings.cache import fill_cache, shortest_first
from embaug_core.embeddings.encoders import TextEncoder
from embaug_core.store import Store


def run(args: argparse.Namespace) -> dict:
    ensure_store()
    found = Store(Home.from_env().duckdb_path).texts(("title", "description"))
    texts = dict(zip(found["content_sha256"], found["text"], strict=True))
    encoder = TextEncoder(device="cpu")
    orders = {"store order": list(texts), "shortest first": shortest_first(texts)}
    stores: dict[str, Store] = {}

    def fill(name: str) -> None:
        stores[name] = Store(Path(tempfile.mkdtemp(prefix="embaug-order-")) / "embaug.duckdb")
        fill_cache(stores[name], encoder, texts, orders[name])

    seconds = medians(interleaved({name: lambda n=name: fill(n) for name in orders}, args.repeats))
    hashes = list(texts)
    a, b = (stores[name].embeddings(encoder.identity, hashes) for name in orders)
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    speedup = seconds["store order"] / seconds["shortest first"]
    return {
        "texts": len(texts),
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
        "min_cosine": float(cosine.min()),
        "targets": [
            target("shortest first / store order, texts per second", speedup, 1.0, at_least=True),
            target("vectors, minimum cosine between the orders", float(cosine.min()), 0.999, True),
        ],
    }


def render(result: dict) -> str:
    lines = [f"{result['texts']:,} texts; median seconds of a fresh cache fill", ""]
    lines += ["| order | seconds |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in result["seconds"].items()]
    lines += ["", f"Minimum cosine between the two orders' vectors: {result['min_cosine']:.7f}"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2)
    return parser


if __name__ == "__main__":
    main("text_order", parser, run, render)
