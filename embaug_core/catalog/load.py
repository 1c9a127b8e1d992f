"""The product table: read a catalogue in any known layout, validate every row, keep unusable
rows aside with a reason instead of failing the run.

A row with an empty category is an unlabelled product (docs/METHODS.md section 7): kept, embedded
and predicted, never trained or scored on. Products and image bytes can be handed to sinks in
chunks as they are checked (the store stages them), so memory does not grow with the
catalogue: only ids and classes are held, for duplicates and the stratified sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from embaug_core.catalog.files import ImageTooLarge
from embaug_core.catalog.images import ImageChecks
from embaug_core.catalog.readers import open_catalog
from embaug_core.catalog.readers.base import (
    REJECTED_COLUMNS,
    Candidate,
    CatalogError,
    Rejections,
)
from embaug_core.catalog.sample import sample_positions
from embaug_core.catalog.settings import CatalogSettings
from embaug_core.catalog.text import Spellings, category_name, field_problem, html_to_text, is_blank

logger = logging.getLogger(__name__)

PRODUCT_COLUMNS = ("product_id", "title", "description", "category", "image_sha256", "source")
ImageSink = Callable[[dict[str, bytes]], None]
ProductSink = Callable[[pd.DataFrame], None]
#: Image bytes, and products, handed to the sinks at a time.
SINK_BYTES = 64 * 2**20
SINK_PRODUCTS = 10_000


@dataclass
class Catalog:
    """Valid products (when no sink took them) and the rows set aside, each with its reason;
    `images` holds the bytes when no sink took them; `unicode_variants`, spellings of a class
    that Unicode normalisation (NFC) made one."""

    products: pd.DataFrame
    rejected: pd.DataFrame
    layout: str
    path: Path
    features: tuple[str, ...]
    label_column: str
    rows_read: int
    sampled_out: int
    count: int
    labelled: int
    images: dict[str, bytes] = field(repr=False, default_factory=dict)
    unicode_variants: list[list[str]] = field(default_factory=list)

    def rejection_counts(self) -> dict[str, int]:
        """How many rows were rejected for each kind of reason (text before the first colon)."""
        kinds = self.rejected["reason"].str.split(":").str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().items()}


def load_catalog(
    path: str | Path,
    settings: CatalogSettings | None = None,
    image_sink: ImageSink | None = None,
    labels: bool = True,
    product_sink: ProductSink | None = None,
) -> Catalog:
    """Read, sample (stratified by category) and validate a catalogue.

    Rows that cannot be used are rejected with a reason; only a catalogue that cannot be read
    at all raises `CatalogError`. `labels=False` reads products to predict (no label column;
    a file whose every row is rejected is returned with its rejections, each row's answer).
    With `product_sink`, products go there in chunks and `Catalog.products` stays empty.
    """
    settings = settings or CatalogSettings()
    path = Path(path).expanduser().resolve()
    reader = open_catalog(path, settings, labels)
    features = settings.features or reader.features
    absent = [name for name in features if name not in reader.features]
    if absent:
        raise CatalogError(
            f"{path}: the catalogue has no {', '.join(absent)}; it offers "
            f"{', '.join(reader.features)} (the features setting chooses among them)"
        )
    rejected = Rejections()
    keep, withheld, read, valid = _sample(reader, features, settings)
    rows = _check_fields(reader.rows(rejected), rejected, features)
    sampled = (
        replace(row, category=None) if position in withheld else row
        for position, row in enumerate(rows)
        if keep is None or position in keep
    )
    kept: dict[str, bytes] = {}
    collected: list[pd.DataFrame] = []
    counts, spellings = _Counts(), Spellings()
    checked = _check_images(
        spellings.note(sampled), rejected, features, settings, image_sink or kept.update
    )
    for chunk in _chunks(checked):
        counts.add(chunk)
        (product_sink or collected.append)(chunk)
    read = read if read is not None else counts.products + len(rejected.rows)
    sampled_out = valid - len(keep) if keep is not None else 0
    if not counts.products and labels:
        raise CatalogError(_nothing_usable(path, read, rejected, sampled_out))
    catalog = Catalog(
        products=pd.concat(collected, ignore_index=True) if collected else _empty(),
        rejected=pd.DataFrame(rejected.rows, columns=list(REJECTED_COLUMNS)),
        layout=reader.layout,
        path=path,
        features=tuple(features),
        label_column=reader.label_column,
        rows_read=read,
        sampled_out=sampled_out,
        count=counts.products,
        labelled=counts.labelled,
        images=kept,
        unicode_variants=spellings.merged(str(path)),
    )
    logger.info(
        "catalogue %s (%s): %d products (%d labelled), %d rejected",
        path,
        reader.layout,
        catalog.count,
        catalog.labelled,
        len(catalog.rejected),
    )
    return catalog


@dataclass
class _Counts:
    products: int = 0
    labelled: int = 0

    def add(self, chunk: pd.DataFrame) -> None:
        self.products += len(chunk)
        self.labelled += int(chunk["category"].notna().sum())


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(PRODUCT_COLUMNS))


def _chunks(products: Iterator[dict]) -> Iterator[pd.DataFrame]:
    """Products in frames of SINK_PRODUCTS rows."""
    chunk: list[dict] = []
    for product in products:
        chunk.append(product)
        if len(chunk) >= SINK_PRODUCTS:
            yield pd.DataFrame(chunk, columns=list(PRODUCT_COLUMNS))
            chunk = []
    if chunk:
        yield pd.DataFrame(chunk, columns=list(PRODUCT_COLUMNS))


def _sample(
    reader, features: tuple[str, ...], settings: CatalogSettings
) -> tuple[set[int] | None, set[int], int | None, int]:
    """The positions (among valid rows) a stratified sample keeps and those whose label is
    withheld (`sample.py`), from a first pass that holds only classes; None when everything is
    kept (one pass suffices). Also the rows read and the valid rows of that pass."""
    if settings.sample_fraction >= 1:
        return None, set(), None, 0
    first = Rejections()
    categories = [_category(row) for row in _check_fields(reader.rows(first), first, features)]
    keep, withheld = sample_positions(categories, settings)
    return keep, withheld, len(categories) + len(first.rows), len(categories)


def _nothing_usable(path: Path, read: int, rejected: Rejections, sampled_out: int) -> str:
    reasons = pd.Series([r["reason"].split(":")[0] for r in rejected.rows]).value_counts()
    message = f"{path}: no usable product: {read} rows read, {len(rejected.rows)} rejected"
    if len(reasons):
        message += " (" + ", ".join(f"{n} {reason}" for reason, n in reasons.items()) + ")"
        first = next(r for r in rejected.rows if r["reason"].startswith(reasons.index[0]))
        message += f"; for example line {first['line']}: {first['reason']}"
    if sampled_out:
        message += f", {sampled_out} left out by the sample (raise the sample fraction)"
    return message + "; nothing was stored"


def _check_fields(
    rows: Iterator[Candidate], rejected: Rejections, features: tuple[str, ...]
) -> Iterator[Candidate]:
    """Drop rows with an unusable id, title or category, and second occurrences of an id."""
    seen: dict[str, int] = {}
    for row in rows:
        problem = (
            field_problem("id", row.product_id)
            or field_problem("title", row.title)
            or field_problem("category", row.category or "")
        )
        if is_blank(row.product_id):
            rejected.reject(row, "empty id")
        elif problem:
            rejected.reject(row, problem)
        elif row.product_id in seen:
            rejected.reject(row, f"duplicate id: first seen on line {seen[row.product_id]}")
        elif "title" in features and is_blank(row.title):
            rejected.reject(row, "empty title")
        else:
            seen[row.product_id] = row.line
            yield row


def _category(row: Candidate) -> str | None:
    """The row's class (NFC), or None (unlabelled) when its category shows nothing."""
    return category_name(row.category)


def _check_images(
    rows: Iterator[Candidate],
    rejected: Rejections,
    features: tuple[str, ...],
    settings: CatalogSettings,
    sink: ImageSink,
) -> Iterator[dict]:
    """Read and check each row's image, hand the bytes to `sink` in chunks, yield products."""
    pending: dict[str, bytes] = {}
    pending_bytes = 0
    checks = ImageChecks(settings.max_image_pixels, settings.max_aspect_ratio)
    for row in rows:
        digest = None
        if "image" in features and row.read_image is not None:
            try:
                data = row.read_image()
            except ImageTooLarge as error:  # there, but over the cap: not "missing"
                rejected.reject(row, str(error))
                continue
            except OSError as error:
                rejected.reject(row, f"missing image: {error}")
                continue
            digest, problem, new = checks.check(data)  # each distinct image decoded once
            if problem:
                rejected.reject(row, problem)
                continue
            if new:
                pending[digest] = data
                pending_bytes += len(data)
            if pending_bytes >= SINK_BYTES:
                sink(pending)
                pending, pending_bytes = {}, 0
        yield {
            "product_id": row.product_id,
            "title": row.title.strip(),
            "description": html_to_text(row.description_html),
            "category": _category(row),
            "image_sha256": digest,
            "source": f"{row.source}:{row.line}",
        }
    if pending:
        sink(pending)


def case_variants(categories: pd.Series) -> list[list[str]]:
    """Groups of class names that differ only in case or surrounding space (`Tshirts`,
    `tshirts`): likely one class written two ways, kept apart but worth a warning."""
    names = pd.Series(categories.dropna().unique())
    groups = names.groupby(names.str.strip().str.casefold()).agg(sorted)
    return [group for group in groups if len(group) > 1]
