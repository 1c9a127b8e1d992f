"""A run killed in the middle of embedding loses nothing it finished and duplicates nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from embaug_core.catalog import load_catalog
from embaug_core.embeddings import fill_cache
from embaug_core.store import Store

EMBED = textwrap.dedent(
    """
    import sys
    from embaug_core.catalog import load_catalog
    from embaug_core.embeddings import fill_cache
    from embaug_core.encoders import ImageEncoder
    from embaug_core.store import Store

    store = Store(sys.argv[1])
    catalog = load_catalog(sys.argv[2])
    store.replace_products(catalog.products, catalog.rejected, catalog.images)
    hashes = list(catalog.images)
    fill_cache(store, ImageEncoder(), lambda chunk: [catalog.images[h] for h in chunk], hashes,
               chunk_size=8, on_chunk=lambda done, total, s: print("chunk", done, flush=True))
    """
)


def test_sigkill_during_embedding_then_rerun_stores_every_image_once(
    kaggle_slice: Path, tmp_path: Path, image_encoder
):
    path = tmp_path / "embaug.duckdb"
    worker = subprocess.Popen(
        [sys.executable, "-c", EMBED, str(path), str(kaggle_slice)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().startswith("chunk 8")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    store = Store(path)
    hashes = list(load_catalog(kaggle_slice).images)
    count = "SELECT count(*) AS n, count(DISTINCT content_sha256) AS d FROM embeddings"
    stored = store.query(count)["n"][0]
    assert 8 <= stored < len(hashes)
    catalog = load_catalog(kaggle_slice)
    report = fill_cache(
        store, image_encoder, lambda chunk: [catalog.images[h] for h in chunk], hashes
    )
    assert report.computed == len(hashes) - stored
    counts = store.query(count)
    assert counts["n"][0] == counts["d"][0] == len(hashes)
    assert store.products()["image_sha256"].isin(hashes).all()
