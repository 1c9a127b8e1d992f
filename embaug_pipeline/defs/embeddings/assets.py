"""text_embeddings and image_embeddings: the cache filled for every product, only what is new."""

import os
import sys

import dagster as dg
import pandas as pd

from embaug_core.embeddings.cache import CacheReport, fill_cache, shortest_first
from embaug_core.embeddings.shards import ShardRunner
from embaug_pipeline.defs.catalog.raw_products import raw_products
from embaug_pipeline.metadata import table_markdown
from embaug_pipeline.resources import DUCKDB_POOL, EncodersResource, StoreResource

VECTORS_CHECK = "vectors_complete_finite_and_of_expected_width"
CHECK_DOC = "Every product's vector is cached, finite, and as wide as the encoder's output"


def _progress_logger(context: dg.AssetExecutionContext):
    return context.log.info


def _health_check(db, encoder, hashes: list[str], asset: str) -> dg.AssetCheckResult:
    """Every product's vector is cached, finite and of the encoder's width."""
    health = db.embedding_health(encoder.identity, hashes, encoder.dim)
    bad = health["missing"] + health["wrong_width"] + health["non_finite"]
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=VECTORS_CHECK,
        passed=bad == 0,
        metadata={**health, "expected_width": encoder.dim},
    )


def _result(
    context: dg.AssetExecutionContext,
    report: CacheReport,
    check: dg.AssetCheckResult,
    shards: ShardRunner | None,
) -> dg.MaterializeResult:
    context.log.info(
        f"{report.encoder}: {report.requested} wanted, {report.cached} from cache, "
        f"{report.computed} computed in {report.seconds:.1f} s ({report.rate:.1f}/s)"
    )
    summary = pd.DataFrame(
        [
            {
                "encoder": report.encoder,
                "wanted": report.requested,
                "from cache": report.cached,
                "computed": report.computed,
                "per second": round(report.rate, 1),
            }
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(table_markdown(summary)),
            "encoder": report.encoder,
            "requested": report.requested,
            "from_cache": report.cached,
            "computed": report.computed,
            "seconds": round(report.seconds, 2),
            "items_per_second": round(report.rate, 1),
            # Which processes embedded: the workers' pids with shards, else this one's.
            "embedded_by": sorted(shards.workers) if shards else [os.getpid()],
        },
        check_results=[check],
    )


@dg.asset(
    group_name="embeddings",
    deps=[raw_products],
    kinds={"pytorch", "duckdb"},
    pool=DUCKDB_POOL,
    check_specs=[dg.AssetCheckSpec(VECTORS_CHECK, asset="text_embeddings", description=CHECK_DOC)],
)
def text_embeddings(
    context: dg.AssetExecutionContext, store: StoreResource, encoders: EncodersResource
) -> dg.MaterializeResult:
    """Every distinct title and description in use, embedded once per text encoder."""
    db, encoder = store.get(), encoders.text()
    found = db.texts(db.catalogue()["features"])
    texts = dict(zip(found["content_sha256"], found["text"], strict=True))
    shards = encoders.shards("text")
    report = fill_cache(
        db,
        encoder,
        texts,
        shortest_first(texts),
        progress=sys.stderr.isatty(),
        on_chunk=_progress_logger(context),
        shards=shards,
    )
    check = _health_check(db, encoder, list(texts), "text_embeddings")
    return _result(context, report, check, shards)


@dg.asset(
    group_name="embeddings",
    deps=[raw_products],
    kinds={"pytorch", "duckdb"},
    pool=DUCKDB_POOL,
    check_specs=[dg.AssetCheckSpec(VECTORS_CHECK, asset="image_embeddings", description=CHECK_DOC)],
)
def image_embeddings(
    context: dg.AssetExecutionContext, store: StoreResource, encoders: EncodersResource
) -> dg.MaterializeResult:
    """Every distinct product image, embedded once per image encoder (none when the
    catalogue's features leave images out)."""
    db, encoder = store.get(), encoders.image()
    hashes = db.image_hashes() if "image" in db.catalogue()["features"] else []

    def load(chunk: list[str]) -> list[bytes]:
        images = db.image_bytes(chunk)
        return [images[h] for h in chunk]

    shards = encoders.shards("image")
    report = fill_cache(
        db,
        encoder,
        load,
        hashes,
        progress=sys.stderr.isatty(),
        on_chunk=_progress_logger(context),
        shards=shards,
    )
    return _result(context, report, _health_check(db, encoder, hashes, "image_embeddings"), shards)
