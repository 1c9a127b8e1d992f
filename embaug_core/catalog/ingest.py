"""Load a catalogue into the store: read and validate it, stream its images in, then replace
the product table in one transaction, with the fingerprints later steps compare against."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from embaug_core.catalog import Catalog, CatalogSettings, case_variants, load_catalog
from embaug_core.catalog.fingerprint import content_sha256
from embaug_core.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    """What a load did: the catalogue as loaded, its fingerprints, the store's image changes."""

    catalog: Catalog
    source_sha256: str
    catalogue_sha256: str
    new_images: int
    removed_images: int
    case_variants: list[list[str]]

    @property
    def rejected_share(self) -> float:
        rejected = len(self.catalog.rejected)
        return rejected / max(rejected + self.catalog.count, 1)


def ingest_catalogue(store: Store, settings: CatalogSettings) -> Ingested:
    """Make the catalogue at `settings.path` the store's, streaming its products and images
    into the store in chunks (memory does not grow with the catalogue); a catalogue that
    cannot be read raises `CatalogError` and leaves the store's products as they were."""
    source = content_sha256(Path(settings.path), settings)
    added, chunks = [0], [0]

    def images(batch: dict[str, bytes]) -> None:
        added[0] += store.add_images(batch)

    def products(chunk: pd.DataFrame) -> None:
        store.stage_products(chunk, first=not chunks[0])
        chunks[0] += 1

    catalog = load_catalog(settings.path, settings, image_sink=images, product_sink=products)
    fingerprint = store.staged_sha256(catalog.features)
    removed = store.replace_products(
        None, catalog.rejected, _description(catalog, fingerprint, source, settings)
    )
    variants = case_variants(pd.Series(store.categories(), dtype=object))
    for group in variants:
        logger.warning("classes that differ only in case are kept apart: %s", ", ".join(group))
    return Ingested(catalog, source, fingerprint, added[0], removed, variants)


def store_catalog(
    store: Store,
    catalog: Catalog,
    source_sha256: str = "",
    settings: CatalogSettings | None = None,
    products: pd.DataFrame | None = None,
) -> tuple[str, int]:
    """Make a loaded catalogue (or `products`, a part of it) the store's, with the images it
    still holds in memory. Returns the catalogue's fingerprint and how many images went."""
    products = catalog.products if products is None else products
    if catalog.images:
        store.add_images(catalog.images)
    store.stage_products(products, first=True)
    fingerprint = store.staged_sha256(catalog.features)
    counted = replace(
        catalog, count=len(products), labelled=int(products["category"].notna().sum())
    )
    description = _description(counted, fingerprint, source_sha256, settings or CatalogSettings())
    return fingerprint, store.replace_products(None, catalog.rejected, description)


def _description(
    catalog: Catalog, fingerprint: str, source: str, settings: CatalogSettings
) -> dict[str, object]:
    """The `catalogue` table's row: what was loaded, from where, how, and its fingerprints."""
    return {
        "sha256": fingerprint,
        "source_sha256": source,
        "path": str(catalog.path),
        "layout": catalog.layout,
        "features": list(catalog.features),
        "label_column": catalog.label_column,
        "products": catalog.count,
        "labelled": catalog.labelled,
        "rejected": len(catalog.rejected),
        "loaded_at": datetime.now(UTC),
        "settings": json.dumps(asdict(settings)),
    }
