"""Where the catalogue is when none is named."""

from __future__ import annotations

from pathlib import Path

from embaug_core.catalog.readers.base import CatalogError
from embaug_core.common.environment import DATA, setting

PLACES = ("data/fashion-products", "../shared/data/fashion-products")


def locate_catalog(path: str | Path = "") -> Path:
    """The catalogue to read: `path`, else $EMBAUG_DATA, else the usual places nearby."""
    if path:
        return Path(path).expanduser().resolve()
    candidates = [setting(DATA), *PLACES]
    for candidate in filter(None, candidates):
        if Path(candidate).expanduser().exists():
            return Path(candidate).expanduser().resolve()
    raise CatalogError(
        "no catalogue found: set EMBAUG_DATA (or pass --data) to a folder with styles.csv and "
        "images/<id>.jpg, a .parquet file or a plain .csv (id,title,description,category,image). "
        "The public Fashion Product Images dataset (Kaggle: paramaggarwal/"
        "fashion-product-images-small, or the Hugging Face copy "
        "ashraq/fashion-product-images-small as Parquet) has the expected layout; "
        "looked in: " + ", ".join(filter(None, candidates))
    )
