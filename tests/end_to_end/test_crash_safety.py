"""A run killed in the middle of embedding loses nothing it finished and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from embaug_core.catalog import load_catalog
from embaug_core.embeddings.cache import fill_cache
from embaug_core.store import Store

#: Kills a process mid-run: subprocesses.
pytestmark = pytest.mark.slow

EMBED = textwrap.dedent(
    """
    import sys
    from embaug_core.catalog import load_catalog
    from embaug_core.catalog.ingest import store_catalog
    from embaug_core.embeddings.cache import fill_cache
    from embaug_core.embeddings.encoders import ImageEncoder
    from embaug_core.store import Store

    store = Store(sys.argv[1])
    catalog = load_catalog(sys.argv[2])
    store_catalog(store, catalog)
    hashes = list(catalog.images)
    fill_cache(store, ImageEncoder(), lambda chunk: [catalog.images[h] for h in chunk], hashes,
               chunk_size=8, on_chunk=lambda line: print("chunk", line, flush=True))
    """
)


def test_sigkill_during_embedding_then_rerun_stores_every_image_once(
    kaggle_slice: Path, tmp_path: Path, image_encoder, embeddings_written
):
    path = tmp_path / "embaug.duckdb"
    worker = subprocess.Popen(
        [sys.executable, "-c", EMBED, str(path), str(kaggle_slice)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().startswith("chunk 8 of")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    store = Store(path)
    hashes = list(load_catalog(kaggle_slice).images)
    count = "SELECT count(*) AS n FROM embeddings"
    stored = store.query(count)["n"][0]
    assert 8 <= stored < len(hashes)
    catalog = load_catalog(kaggle_slice)
    report = fill_cache(
        store, image_encoder, lambda chunk: [catalog.images[h] for h in chunk], hashes
    )
    assert report.computed == len(hashes) - stored
    # Written by the rerun, counted as they are written: only what the killed run had not.
    assert embeddings_written[image_encoder.identity] == len(hashes) - stored
    assert store.query(count)["n"][0] == len(hashes)
    assert store.products()["image_sha256"].isin(hashes).all()


REFRESH = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from embaug_pipeline.run.graph import EMBEDDING_ASSETS
    from embaug_pipeline.run.runner import prepare_home, run_assets

    prepare_home()  # its dagster.yaml limits the DuckDB pool to one slot
    with dg.DagsterInstance.get() as instance:
        config = {"raw_products": {"path": sys.argv[1]}}
        result = run_assets(["raw_products", *EMBEDDING_ASSETS], instance, config)
        print("success", result.success, flush=True)
    """
)


def test_a_killed_run_frees_its_pool_slot_and_the_rerun_completes(
    kaggle_slice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embeddings_written
):
    import dagster as dg

    from embaug_pipeline.run.graph import EMBEDDING_ASSETS
    from embaug_pipeline.run.runner import prepare_home, run_assets

    home = {"EMBAUG_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "home/dagster")}
    env = {**os.environ, **home, "EMBAUG_DAGSTER_LOG": "INFO"}  # the test reads step logs
    command = [sys.executable, "-c", REFRESH, str(kaggle_slice)]
    worker = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in worker.stderr:  # the first embedding asset is done: kill during the second
            if " embedded, " in line:
                first = "image" if " - image_embeddings - " in line else "text"
                break
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    stored = Store(tmp_path / "home" / "embaug.duckdb").query(
        "SELECT split_part(encoder, ':', 1) AS kind, count(*) AS n FROM embeddings GROUP BY 1"
    )
    kept = dict(zip(stored["kind"], stored["n"], strict=True))
    for name, value in home.items():  # the rerun here, its writes counted as they happen
        monkeypatch.setenv(name, value)
    prepare_home()
    with dg.DagsterInstance.get() as instance:
        config = {"raw_products": {"path": str(kaggle_slice)}}
        rerun = run_assets(["raw_products", *EMBEDDING_ASSETS], instance, config)
        statuses = sorted(r.status.value for r in instance.get_runs())
        pool = instance.event_log_storage.get_concurrency_info("embaug_duckdb")
    assert rerun.success and statuses == ["FAILURE", "SUCCESS"]
    assert pool.slot_count == 1 and pool.active_slot_count == 0
    written = Counter()
    for encoder, count in embeddings_written.items():
        written[encoder.split(":")[0]] += count
    second = "text" if first == "image" else "image"
    wanted = rerun.asset_materializations_for_node(f"{second}_embeddings")[0].metadata
    # Nothing of the finished asset again; of the killed one, only what it had not stored.
    assert written[first] == 0
    assert written[second] == wanted["requested"].value - kept.get(second, 0) > 0
