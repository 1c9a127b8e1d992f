"""raw_products: the validated catalogue in DuckDB, rejected rows kept with their reasons."""

import dagster as dg
from pydantic import Field

from embaug_core.catalog import CatalogSettings, locate_catalog
from embaug_core.catalog.ingest import ingest_catalogue
from embaug_pipeline.conditions import DEMO, TRIGGER_TAG
from embaug_pipeline.config import config_class, settings_of
from embaug_pipeline.metadata import table_markdown
from embaug_pipeline.partitions import add_default_partitions
from embaug_pipeline.resources import DUCKDB_POOL, StoreResource

CatalogConfig = config_class(
    "CatalogConfig",
    CatalogSettings,
    max_rejected_share=(float, Field(0.05, description="Warn above this share of rejected rows")),
)
REJECTED_CHECK = "rejected_share_below_limit"


@dg.asset(
    group_name="catalog",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            REJECTED_CHECK,
            asset="raw_products",
            description="Warns when more than max_rejected_share of the rows were rejected",
        )
    ],
)
def raw_products(
    context: dg.AssetExecutionContext, config: CatalogConfig, store: StoreResource
) -> dg.MaterializeResult:
    """Read and validate the catalogue; bad rows are rejected with a reason, never fatal. Rows
    without a category are kept as unlabelled products.

    Its metadata keeps the settings and the content hash, which scheduled retraining and the
    catalogue sensor reuse: they reload the same catalogue the same way. A first load gives
    the instance the default grid of trials and methods to materialise (unless the command
    line runs it: it adds the trials and methods it runs, and no others).
    """
    settings = settings_of(config, CatalogSettings, path=str(locate_catalog(config.path)))
    db = store.get()
    loaded = ingest_catalogue(db, settings)
    catalog = loaded.catalog
    context.log.info(
        f"{catalog.count} products ({catalog.labelled} labelled) from {catalog.path} "
        f"({catalog.layout}), {len(catalog.rejected)} rejected, {loaded.new_images} new images"
    )
    if context.run.tags.get(TRIGGER_TAG) != DEMO:  # the command line adds what it runs
        add_default_partitions(context.instance)
    check = dg.AssetCheckResult(
        check_name=REJECTED_CHECK,
        passed=loaded.rejected_share <= config.max_rejected_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_share": round(loaded.rejected_share, 4),
            "limit": config.max_rejected_share,
        },
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            "catalogue": str(catalog.path),
            "source_sha256": loaded.source_sha256,
            "catalogue_sha256": loaded.catalogue_sha256,
            "settings": config.model_dump() | {"path": str(catalog.path)},
            "layout": catalog.layout,
            "features": list(catalog.features),
            "label_column": catalog.label_column,
            "products": catalog.count,
            "labelled": catalog.labelled,
            "unlabelled": catalog.count - catalog.labelled,
            "classes": len(db.categories()),
            "rejected": len(catalog.rejected),
            "rejected_by_reason": catalog.rejection_counts(),
            "left_out_by_sample": catalog.sampled_out,
            "classes_differing_only_in_case": [", ".join(g) for g in loaded.case_variants],
            "classes_merged_by_unicode_form": [
                ", ".join(map(ascii, g)) for g in catalog.unicode_variants
            ],
            "preview": dg.MetadataValue.md(
                table_markdown(
                    db.query("SELECT product_id, title, category FROM products LIMIT 10")
                )
            ),
            "rejected_preview": dg.MetadataValue.md(table_markdown(catalog.rejected, 20)),
            "new_images": loaded.new_images,
            "removed_images": loaded.removed_images,
        },
    )
