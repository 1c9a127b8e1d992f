"""The embedding cache on a fresh store: a first pass embeds everything, a second pass over the
same products should cost only the cache look-up, and adding 1% new products should embed
only their new content.

Runs `embaug_core.embeddings.cache.fill_cache` the way the embedding assets do (texts as a mapping,
images loaded from the store a chunk at a time) on a stratified slice of the real catalogue,
in a temporary EMBAUG_HOME that is deleted afterwards.

    python -m benchmarks.cache [--products 2000] [--new-share 0.01] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.common import catalogue_sample, check, main, target, timed
from embaug_core.catalog import Catalog
from embaug_core.catalog.ingest import store_catalog
from embaug_core.embeddings.cache import CacheReport, fill_cache, product_texts
from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder
from embaug_core.store import Store

logger = logging.getLogger(__name__)
TARGET = 100.0


def fill(
    store: Store, products: pd.DataFrame, text: TextEncoder, image: ImageEncoder
) -> list[tuple[CacheReport, float]]:
    """One pass of both embedding assets' work over `products`: per encoder, the cache's
    report and the wall seconds of the whole call (`CacheReport.seconds` leaves out the
    look-up of what is cached, which is all a cached pass does)."""
    texts = product_texts(products)
    hashes = products["image_sha256"].unique().tolist()

    def load(chunk: list[str]) -> list[bytes]:
        found = store.image_bytes(chunk)
        return [found[h] for h in chunk]

    return [
        timed(lambda: fill_cache(store, text, texts, list(texts))),
        timed(lambda: fill_cache(store, image, load, hashes)),
    ]


def as_row(label: str, report: CacheReport, seconds: float) -> dict[str, object]:
    return {
        "pass": label,
        "encoder": report.encoder.split(":")[0],
        "requested": report.requested,
        "computed": report.computed,
        "seconds": seconds,
    }


def store_products(store: Store, catalog: Catalog, products: pd.DataFrame) -> None:
    store_catalog(store, catalog, products=products)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2000, help="size of the slice")
    parser.add_argument("--new-share", type=float, default=0.01, help="share added afterwards")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the cached pass")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    catalog = catalogue_sample(args.products, args.seed)
    products = catalog.products.sample(frac=1.0, random_state=args.seed)
    n_new = max(1, round(args.new_share * len(products)))
    base, new = products.iloc[:-n_new], products.iloc[-n_new:]
    text, image = TextEncoder(), ImageEncoder()
    with tempfile.TemporaryDirectory(prefix="embaug-cache-") as folder:
        store = Store(Path(folder) / "embaug.duckdb")
        store_products(store, catalog, base)
        first = fill(store, base, text, image)
        cached = [fill(store, base, text, image) for _ in range(args.repeats)]
        store_products(store, catalog, products)
        grown = fill(store, products, text, image)
    # the median cached pass per encoder
    second = [sorted((p[i] for p in cached), key=lambda r: r[1])[args.repeats // 2] for i in (0, 1)]
    new_texts = set(product_texts(new)) - set(product_texts(base))
    new_images = set(new["image_sha256"]) - set(base["image_sha256"])
    rows = [
        as_row(label, report, seconds)
        for label, pair in (("first", first), ("second", second), (f"+{n_new} new", grown))
        for report, seconds in pair
    ]
    speedups = {kind: first[i][1] / second[i][1] for i, kind in enumerate(("text", "image"))}
    result: dict[str, object] = {
        "products": len(base),
        "new_products": n_new,
        "passes": rows,
        "speedup_second_pass": speedups,
        "expected_new": {"text": len(new_texts), "image": len(new_images)},
        "computed_new": {"text": grown[0][0].computed, "image": grown[1][0].computed},
        "targets": [
            target(f"cache, {kind}: first / second pass", s, TARGET, at_least=True)
            for kind, s in speedups.items()
        ]
        + [
            check(
                "cache: adding products embeds only their new content",
                grown[0][0].computed == len(new_texts) and grown[1][0].computed == len(new_images),
                "computed = new distinct texts and images",
            )
        ],
    }
    logger.info("cache: %s", speedups)
    return result


def render(result: dict) -> str:
    table = pd.DataFrame(result["passes"]).to_markdown(index=False, floatfmt=".3f")
    speed = result["speedup_second_pass"]
    return (
        f"{result['products']} products, then {result['new_products']} more.\n\n{table}\n\n"
        f"- Second pass {speed['text']:.0f}x faster for text, {speed['image']:.0f}x for images "
        "(median of the cached passes; wall time of the whole `fill_cache` call).\n"
        f"- After adding {result['new_products']} products: computed "
        f"{result['computed_new']['text']} texts and {result['computed_new']['image']} images; "
        f"their content new to the cache: {result['expected_new']['text']} texts, "
        f"{result['expected_new']['image']} images."
    )


if __name__ == "__main__":
    main("cache", parser, run, render)
