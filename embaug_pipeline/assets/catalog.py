"""raw_products: the validated catalogue in DuckDB, rejected rows kept with their reasons."""

import dagster as dg
from pydantic import Field

from embaug_core.catalog import load_catalog, locate_catalog
from embaug_core.fingerprint import content_sha256
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource


class CatalogConfig(dg.Config):
    path: str = Field("", description="Catalogue folder or file; empty: $EMBAUG_DATA or ../shared")
    label_column: str = Field(
        "articleType", description="Column holding the class (Kaggle/Parquet)"
    )
    sample_fraction: float = Field(1.0, description="Stratified share of the catalogue to keep")
    sample_seed: int = 0
    max_rejected_share: float = Field(0.05, description="Warn above this share of rejected rows")


REJECTED_CHECK = "rejected_share_below_limit"


@dg.asset(
    group_name="catalog",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    check_specs=[dg.AssetCheckSpec(REJECTED_CHECK, asset="raw_products")],
)
def raw_products(
    context: dg.AssetExecutionContext, config: CatalogConfig, store: StoreResource
) -> dg.MaterializeResult:
    """Read and validate the catalogue; bad rows are rejected with a reason, never fatal.

    Its metadata keeps the settings and the content hash, which scheduled retraining and the
    catalogue sensor reuse: they reload the same catalogue the same way.
    """
    path = locate_catalog(config.path)
    fingerprint = content_sha256(path)
    catalog = load_catalog(path, config.label_column, config.sample_fraction, config.sample_seed)
    new_images = store.get().replace_products(catalog.products, catalog.rejected, catalog.images)
    context.log.info(
        f"{len(catalog.products)} products from {catalog.path} ({catalog.layout}), "
        f"{len(catalog.rejected)} rejected, {new_images} new images stored"
    )
    share = len(catalog.rejected) / (len(catalog.rejected) + len(catalog.products))
    check = dg.AssetCheckResult(
        check_name=REJECTED_CHECK,
        passed=share <= config.max_rejected_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_share": share, "limit": config.max_rejected_share},
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "catalogue": str(catalog.path),
            "catalogue_sha256": fingerprint,
            "settings": config.model_dump() | {"path": str(catalog.path)},
            "layout": catalog.layout,
            "products": len(catalog.products),
            "classes": int(catalog.products["category"].nunique()),
            "rejected": len(catalog.rejected),
            "rejected_by_reason": catalog.rejection_counts(),
            "rejected_preview": dg.MetadataValue.md(
                catalog.rejected.head(20).to_markdown(index=False)
                if len(catalog.rejected)
                else "none"
            ),
            "new_images": new_images,
        },
    )
