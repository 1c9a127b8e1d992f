"""The catalogue: layouts, bounded file access, row validation, and where to find one."""

from embaug_core.catalog.images import image_problem
from embaug_core.catalog.load import PRODUCT_COLUMNS, Catalog, case_variants, load_catalog
from embaug_core.catalog.locate import locate_catalog
from embaug_core.catalog.readers import open_catalog
from embaug_core.catalog.readers.base import REJECTED_COLUMNS, CatalogError
from embaug_core.catalog.settings import FEATURES, CatalogSettings
from embaug_core.catalog.text import html_to_text

__all__ = [
    "FEATURES",
    "PRODUCT_COLUMNS",
    "REJECTED_COLUMNS",
    "Catalog",
    "CatalogError",
    "CatalogSettings",
    "case_variants",
    "html_to_text",
    "image_problem",
    "load_catalog",
    "locate_catalog",
    "open_catalog",
]
