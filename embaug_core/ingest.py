"""Load a catalogue into the store: read and validate it, stream its images in, then replace
the product table in one transaction, with the fingerprints later steps compare against."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from embaug_core.catalog import Catalog, CatalogSettings, case_variants, load_catalog
from embaug_core.fingerprint import content_sha256
from embaug_core.lineage import catalogue_sha256
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
        return rejected / max(rejected + len(self.catalog.products), 1)


def ingest_catalogue(store: Store, settings: CatalogSettings) -> Ingested:
    """Make the catalogue at `settings.path` the store's; a catalogue that cannot be read
    raises `CatalogError` and leaves the store's products as they were."""
    source = content_sha256(Path(settings.path), settings)
    added = [0]

    def sink(images: dict[str, bytes]) -> None:
        added[0] += store.add_images(images)

    catalog = load_catalog(settings.path, settings, image_sink=sink)
    fingerprint, removed = store_catalog(store, catalog, source, settings)
    variants = case_variants(catalog.products["category"])
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
    fingerprint = catalogue_sha256(products, catalog.features)
    removed = store.replace_products(
        products,
        catalog.rejected,
        {
            "sha256": fingerprint,
            "source_sha256": source_sha256,
            "path": str(catalog.path),
            "layout": catalog.layout,
            "features": list(catalog.features),
            "label_column": catalog.label_column,
            "products": len(products),
            "labelled": int(products["category"].notna().sum()),
            "rejected": len(catalog.rejected),
            "loaded_at": datetime.now(UTC),
            "settings": json.dumps(asdict(settings or CatalogSettings())),
        },
    )
    return fingerprint, removed
