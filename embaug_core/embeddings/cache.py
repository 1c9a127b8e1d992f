"""The embedding cache in use: embed only what the store lacks, and assemble product vectors.

Vectors are keyed by (encoder identity, SHA-256 of the content), so a title shared by two
products, an empty description, or a rerun costs nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from embaug_core.common.progress import Progress
from embaug_core.embeddings.encoders.base import Encoder
from embaug_core.embeddings.shards import ShardRunner, merge_shards
from embaug_core.embeddings.vectors import text_sha256
from embaug_core.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheReport:
    """What one pass over the cache did."""

    encoder: str
    requested: int
    computed: int
    seconds: float

    @property
    def cached(self) -> int:
        return self.requested - self.computed

    @property
    def rate(self) -> float:
        """Items embedded per second (0 when nothing was computed)."""
        return self.computed / self.seconds if self.computed and self.seconds else 0.0


def fill_cache(
    store: Store,
    encoder: Encoder,
    items: Mapping[str, object] | Callable[[Sequence[str]], Sequence[object]],
    hashes: Sequence[str],
    chunk_size: int = 512,
    progress: bool = False,
    on_chunk: Callable[[str], None] | None = None,
    shards: ShardRunner | None = None,
) -> CacheReport:
    """Embed the contents in `hashes` that the cache lacks, writing every chunk as it is done.

    `items` gives the content for a hash, as a mapping or as a loader of a chunk's contents
    (images are loaded a chunk at a time). Writing per chunk means a killed run keeps what it
    finished. `on_chunk(line)` reports progress ("512 of 4406 embedded, 45/s, about 1 min left").
    With `shards` (encoder kind and settings, and a runner such as `shards.DaskShards`), each
    chunk is a shard that a worker embeds; finished shards are merged as they come.
    """
    if shards is not None:
        merge_shards(store, encoder.identity, shards.folder(encoder.identity))
    missing = store.missing_embeddings(encoder.identity, hashes)
    requested = len(set(hashes))
    load = items if callable(items) else (lambda chunk: [items[h] for h in chunk])
    started = time.perf_counter()
    counter = Progress(len(missing), "embedded")
    chunks = [missing[start : start + chunk_size] for start in range(0, len(missing), chunk_size)]
    if shards is None:
        done = (
            (
                chunk,
                store.write_embeddings(
                    encoder.identity, chunk, encoder.encode(load(chunk), progress)
                ),
            )
            for chunk in chunks
        )
    else:
        done = shards.embed(store, encoder.identity, chunks, load)
    for chunk, _ in done:
        line = counter.advance(len(chunk))
        logger.info("%s: %s", encoder.identity, line)
        if on_chunk:
            on_chunk(line)
    report = CacheReport(encoder.identity, requested, len(missing), time.perf_counter() - started)
    logger.info(
        "%s: %d requested, %d cached, %d computed",
        encoder.identity,
        requested,
        report.cached,
        report.computed,
    )
    return report


TEXT_FEATURES = ("title", "description")


def product_texts(
    products: pd.DataFrame, features: Sequence[str] = TEXT_FEATURES
) -> dict[str, str]:
    """Every distinct text of the features in use, keyed by hash (titles and descriptions
    share the cache)."""
    columns = [products[name] for name in TEXT_FEATURES if name in features]
    texts = pd.concat(columns).unique() if columns else []
    return {text_sha256(text): text for text in texts}


def shortest_first(texts: Mapping[str, str]) -> list[str]:
    """The hashes of `texts` ordered by the texts' length, so that every chunk (and every
    shard) holds texts of similar length: the encoder pads each batch to its longest text, and
    sorting within one chunk of random texts still leaves long and short side by side."""
    return sorted(texts, key=lambda content: len(texts[content]))
