"""The embedding cache in DuckDB: computed once, reused, extended only by what is new."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from embaug_core.catalog import load_catalog
from embaug_core.catalog.ingest import store_catalog
from embaug_core.embeddings.cache import fill_cache, product_texts, shortest_first
from embaug_core.embeddings.vectors import product_vectors, text_sha256
from embaug_core.store import Store


class CountingEncoder:
    """A real encoder wrapped to count what it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.calls, self.chunks = inner, 0, []

    identity = property(lambda self: self.inner.identity)
    dim = property(lambda self: self.inner.dim)

    def encode(self, items, progress=False):
        self.calls += len(items)
        self.chunks.append(list(items))
        return self.inner.encode(items, progress)


def test_second_pass_computes_nothing_and_new_products_only_themselves(
    kaggle_slice: Path, tmp_path: Path, text_encoder, image_encoder
):
    store = Store(tmp_path / "embaug.duckdb")
    catalog = load_catalog(kaggle_slice)
    first, rest = catalog.products.iloc[:60], catalog.products
    store_catalog(store, catalog, products=first)
    texts = CountingEncoder(text_encoder)
    report = fill_cache(
        store, texts, product_texts(first), list(product_texts(first)), chunk_size=16
    )
    assert report.computed == texts.calls == len(product_texts(first))

    again = fill_cache(store, texts, product_texts(first), list(product_texts(first)))
    assert again.computed == 0 and again.cached == report.requested

    store_catalog(store, catalog, products=rest)
    grown = fill_cache(store, texts, product_texts(rest), list(product_texts(rest)))
    assert grown.computed == len(set(product_texts(rest)) - set(product_texts(first)))

    hashes = rest["image_sha256"].unique().tolist()
    images = CountingEncoder(image_encoder)
    fill_cache(store, images, lambda chunk: [catalog.images[h] for h in chunk], hashes)
    identities = {"title": text_encoder.identity, "description": text_encoder.identity}
    vectors = product_vectors(store, identities | {"image": image_encoder.identity})
    assert vectors.vectors.shape == (72, 768 * 2 + 1280)
    assert vectors.vectors.dtype == np.float32
    row = vectors.rows([rest["product_id"].iloc[5]])[0]
    title = text_encoder.encode([rest["title"].iloc[5]])[0]
    np.testing.assert_allclose(vectors.vectors[row, :768], title, atol=1e-5)


def test_texts_shortest_first_reach_the_encoder_in_chunks_of_similar_length(
    kaggle_slice: Path, tmp_path: Path, text_encoder
):
    """The text asset's order: no chunk holds a text shorter than one of an earlier chunk, and
    the vectors are those of the store's order."""
    texts = product_texts(load_catalog(kaggle_slice).products)
    counted = CountingEncoder(text_encoder)
    sorted_store, plain_store = Store(tmp_path / "sorted.duckdb"), Store(tmp_path / "plain.duckdb")
    fill_cache(sorted_store, counted, texts, shortest_first(texts), chunk_size=16)
    lengths = [[len(text) for text in chunk] for chunk in counted.chunks]
    assert len(lengths) > 2
    assert all(max(a) <= min(b) for a, b in itertools.pairwise(lengths))
    fill_cache(plain_store, text_encoder, texts, list(texts), chunk_size=16)
    hashes = list(texts)
    np.testing.assert_allclose(
        sorted_store.embeddings(text_encoder.identity, hashes),
        plain_store.embeddings(text_encoder.identity, hashes),
        atol=1e-5,
    )


def test_missing_vectors_are_a_clear_error(tmp_path: Path):
    store = Store(tmp_path / "embaug.duckdb")
    store.write_embeddings("enc", ["a"], np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(store.embeddings("enc", ["a", "a"]), np.ones((2, 3)))
    with pytest.raises(KeyError, match="1 vectors not cached for enc"):
        store.embeddings("enc", ["a", "b"])
    with pytest.raises(ValueError, match="2 hashes for 1 vectors"):
        store.write_embeddings("enc", ["a", "b"], np.ones((1, 3)))


def test_a_shard_is_written_whole_and_merged_once(tmp_path: Path, text_encoder):
    """What a worker leaves behind is either a finished shard file (merged, then deleted) or
    nothing usable (a temporary draft a killed worker never renamed)."""
    from embaug_core.embeddings.shards import embed_shard, merge_shards

    store = Store(tmp_path / "embaug.duckdb")
    texts = ["Blue shirt", "Steel watch"]
    hashes = [text_sha256(t) for t in texts]
    folder = tmp_path / "shards"
    folder.mkdir()
    settings = {"model_dir": None, "max_length": 256, "batch_size": 0, "device": "cpu"}
    settings["precision"] = text_encoder.precision
    path, _ = embed_shard("text", settings, hashes, texts, str(folder))
    (folder / ".abandoned.parquet.123").write_bytes(b"half written")
    assert merge_shards(store, text_encoder.identity, folder) == 2
    assert not Path(path).exists()
    assert merge_shards(store, text_encoder.identity, folder) == 0
    np.testing.assert_allclose(
        store.embeddings(text_encoder.identity, hashes), text_encoder.encode(texts), atol=1e-5
    )
