"""The embedding cache: vectors keyed by (encoder identity, content hash)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from embaug_core.store.base import StoreBase, _insert


class EmbeddingTables(StoreBase):
    # -- embedding cache --------------------------------------------------------------------

    def missing_embeddings(self, encoder: str, hashes: Sequence[str]) -> list[str]:
        """The content hashes (in the given order, without repeats) not cached for `encoder`;
        all of them while the store does not exist yet (the first write creates it)."""
        unique = list(dict.fromkeys(hashes))
        if not self.path.exists():
            return unique
        with self.connect(read_only=True) as connection:
            connection.register("wanted", pa.table({"content_sha256": unique}))
            cached = connection.execute(
                "SELECT content_sha256 FROM embeddings WHERE encoder = ? "
                "AND content_sha256 IN (SELECT content_sha256 FROM wanted)",
                [encoder],
            ).fetchall()
        done = {row[0] for row in cached}
        return [h for h in unique if h not in done]

    def write_embeddings(self, encoder: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Cache vectors in one bulk insert; a hash already cached keeps its first vector."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(hashes) != len(vectors):
            raise ValueError(f"{len(hashes)} hashes for {len(vectors)} vectors")
        flat = pa.array(vectors.reshape(-1))
        offsets = pa.array(np.arange(0, len(flat) + 1, vectors.shape[1], dtype=np.int32))
        batch = pa.table(
            {
                "encoder": pa.array([encoder] * len(hashes), pa.string()),
                "content_sha256": pa.array(list(hashes), pa.string()),
                "vector": pa.ListArray.from_arrays(offsets, flat),
            }
        )
        with self.connect() as connection:
            _insert(connection, "embeddings", batch, "ON CONFLICT DO NOTHING")

    def embeddings(self, encoder: str, hashes: Sequence[str]) -> np.ndarray:
        """Cached vectors for `hashes`, in their order (repeats allowed), as float32."""
        wanted = pa.table({"position": np.arange(len(hashes)), "content_sha256": list(hashes)})
        with self.connect(read_only=True) as connection:
            connection.register("wanted", wanted)
            table = connection.sql(
                "SELECT w.position, e.vector FROM wanted w LEFT JOIN embeddings e "
                "ON e.content_sha256 = w.content_sha256 AND e.encoder = $encoder "
                "ORDER BY w.position",
                params={"encoder": encoder},
            ).to_arrow_table()
        column = table.column("vector").combine_chunks()
        if column.null_count:
            missing = [hashes[i] for i in np.flatnonzero(column.is_null().to_numpy(False))[:3]]
            raise KeyError(f"{column.null_count} vectors not cached for {encoder}: {missing}...")
        if not len(hashes):
            return np.zeros((0, 0), dtype=np.float32)
        return column.flatten().to_numpy().astype(np.float32).reshape(len(hashes), -1)

    def embedding_health(self, encoder: str, hashes: Sequence[str], dim: int) -> dict[str, int]:
        """How many of `hashes` have no vector, a vector of another width, or a non-finite value."""
        wanted = pa.table({"content_sha256": list(dict.fromkeys(hashes))})
        with self.connect(read_only=True) as connection:
            connection.register("wanted", wanted)
            missing, wrong_width, non_finite = connection.execute(
                "SELECT count(*) FILTER (WHERE e.vector IS NULL), "
                "count(*) FILTER (WHERE len(e.vector) <> ?), "
                "count(*) FILTER "
                "(WHERE list_bool_or(list_transform(e.vector, lambda x: NOT isfinite(x)))) "
                "FROM wanted w LEFT JOIN embeddings e "
                "ON e.content_sha256 = w.content_sha256 AND e.encoder = ?",
                [dim, encoder],
            ).fetchall()[0]
        return {
            "checked": len(wanted),
            "missing": missing,
            "wrong_width": wrong_width,
            "non_finite": non_finite,
        }
