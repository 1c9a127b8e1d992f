"""Embedding in shards any worker can run: the coordinator cuts the missing content into
disjoint shards; a worker embeds one and writes it as one Parquet file named by what it
holds, under the shared folder (written under a temporary name, then renamed: a killed worker
leaves nothing half-written, and its shard simply runs again); the coordinator merges each
finished file into DuckDB, the query layer, and deletes it. Files left by an earlier, killed
run are merged first, so nothing is embedded twice."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embaug_core.store import Store

logger = logging.getLogger(__name__)
_ENCODERS: dict[tuple, object] = {}


def shard_name(identity: str, hashes: Sequence[str]) -> str:
    digest = hashlib.sha256(identity.encode())
    for value in hashes:
        digest.update(value.encode())
    return digest.hexdigest()[:32]


def encoder_for(kind: str, settings: dict) -> object:
    """The worker's encoder for these settings, built (and its weights loaded) once."""
    key = (kind, tuple(sorted(settings.items())))
    if key not in _ENCODERS:
        from embaug_core.embeddings.encoders import ImageEncoder, TextEncoder

        _ENCODERS[key] = (TextEncoder if kind == "text" else ImageEncoder)(**settings)
    return _ENCODERS[key]


def embed_shard(
    kind: str, settings: dict, hashes: list[str], items: list, folder: str
) -> tuple[str, int]:
    """Run on a worker: embed one shard and write it; returns its file and the worker's pid."""
    encoder = encoder_for(kind, settings)
    target = Path(folder) / f"{shard_name(encoder.identity, hashes)}.parquet"
    if not target.exists():
        vectors = np.ascontiguousarray(encoder.encode(items), dtype=np.float32)
        table = pa.table(
            {
                "content_sha256": pa.array(hashes, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1)), vectors.shape[1]
                ),
            }
        )
        draft = target.with_name(f".{target.name}.{os.getpid()}")
        pq.write_table(table, draft)
        draft.replace(target)
    return str(target), os.getpid()


def merge_shards(store: Store, identity: str, folder: Path) -> int:
    """Merge every finished shard file into DuckDB, deleting it after; returns vectors merged."""
    merged = 0
    for path in sorted(folder.glob("*.parquet")):
        merged += merge_shard(store, identity, path)
    return merged


def merge_shard(store: Store, identity: str, path: Path) -> int:
    table = pq.read_table(path)
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
    store.write_embeddings(identity, table.column("content_sha256").to_pylist(), vectors)
    path.unlink()
    return len(vectors)


class ShardRunner:
    """Shards of one encoder on the workers of an existing Dask cluster, a bounded number in
    flight so that the coordinator never holds more than a few shards' contents."""

    def __init__(self, address: str, root: Path, kind: str, settings: dict, in_flight: int = 4):
        self.address, self.root, self.kind, self.settings = address, root, kind, settings
        self.in_flight = in_flight
        self.workers: set[int] = set()

    def folder(self, identity: str) -> Path:
        return self.root / hashlib.sha256(identity.encode()).hexdigest()[:16]

    def embed(
        self,
        store: Store,
        identity: str,
        chunks: Sequence[list[str]],
        load: Callable[[list[str]], list],
    ) -> Iterator[tuple[list[str], int]]:
        """Each chunk (and the vectors merged), as its shard finishes and is merged."""
        from distributed import Client, as_completed

        folder = self.folder(identity)
        folder.mkdir(parents=True, exist_ok=True)
        pending = iter(chunks)
        shard_of: dict[str, list[str]] = {}
        with Client(self.address) as client:

            def submit(hashes: list[str]):
                arguments = (self.kind, self.settings, hashes, load(hashes), str(folder))
                future = client.submit(embed_shard, *arguments, pure=False)
                shard_of[future.key] = hashes
                return future

            first = [submit(h) for _, h in zip(range(self.in_flight), pending, strict=False)]
            running = as_completed(first)
            for future in running:
                path, pid = future.result()
                self.workers.add(pid)
                yield shard_of.pop(future.key), merge_shard(store, identity, Path(path))
                following = next(pending, None)
                if following is not None:
                    running.add(submit(following))
