"""The product table: read a catalogue in one of the known layouts, validate every row, and
keep unusable rows aside with a reason instead of failing the run.

Layouts:
- Kaggle Fashion "small": a folder with `styles.csv` and `images/<id>.jpg`; descriptions from
  the "full" dataset's `styles/<id>.json` documents or the same documents one per line in
  `styles.jsonl.gz`, when present.
- A Parquet file with image bytes (the Hugging Face copy of the small set): metadata columns
  plus an `image` struct with `bytes`.
- A plain CSV: `id,title,description,category,image`, image paths relative to the CSV.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from PIL import Image

logger = logging.getLogger(__name__)

#: Larger images are rejected before decoding (a decompression-bomb guard); real product
#: photos are far smaller.
MAX_IMAGE_PIXELS = 40_000_000
PLAIN_CSV_COLUMNS = ("id", "title", "description", "category", "image")
PRODUCT_COLUMNS = ("product_id", "title", "description", "category", "image_sha256", "source")
REJECTED_COLUMNS = ("source", "line", "product_id", "reason")


class CatalogError(ValueError):
    """The catalogue as a whole cannot be read; the message names the file and what was expected."""


@dataclass(frozen=True)
class Candidate:
    """One row as read from the source, before validation."""

    source: str
    line: int
    product_id: str
    title: str
    description_html: str
    category: str
    read_image: Callable[[], bytes]


@dataclass
class Catalog:
    """Valid products (with image bytes) and the rows set aside, each with its reason."""

    products: pd.DataFrame
    rejected: pd.DataFrame
    layout: str
    path: Path
    images: dict[str, bytes] = field(repr=False, default_factory=dict)

    def rejection_counts(self) -> dict[str, int]:
        """How many rows were rejected for each kind of reason (text before the first colon)."""
        kinds = self.rejected["reason"].str.split(":").str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().items()}


def html_to_text(html: str) -> str:
    """Plain text of a product description: tags dropped, entities decoded, spaces collapsed."""
    if not html or not html.strip():
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        text = BeautifulSoup(html, "html.parser").get_text(" ")
    return " ".join(text.split())


def image_problem(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why these bytes are not a usable image, or None when they decode fully. The size is
    checked from the header, before any pixel is decoded (decompression bombs)."""
    if not data:
        return "unreadable image: empty file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is lower
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > max_pixels:
                    return (
                        f"image too large: {image.width}x{image.height} pixels "
                        f"(limit {max_pixels:,})"
                    )
                image.load()
    except Image.DecompressionBombError as error:
        return f"image too large: {error}"
    except Exception as error:  # PIL raises many types for broken files
        return f"unreadable image: {error}"
    return None


def find_layout(path: Path) -> str:
    """Name the layout of a catalogue path, or explain what was expected."""
    if path.is_dir():
        if (path / "styles.csv").is_file():
            return "kaggle"
        raise CatalogError(
            f"{path}: no styles.csv in this folder; expected the Kaggle Fashion Product Images "
            "layout (styles.csv + images/<id>.jpg), a .parquet file or a plain .csv file"
        )
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix == ".csv" and path.is_file():
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
        return "kaggle" if "productDisplayName" in header else "plain_csv"
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    raise CatalogError(f"{path}: unknown catalogue format; expected a folder, .csv or .parquet")


def load_catalog(
    path: str | Path,
    label_column: str = "articleType",
    sample_fraction: float = 1.0,
    sample_seed: int = 0,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> Catalog:
    """Read, sample (stratified by category) and validate a catalogue.

    Rows that cannot be used are rejected with a reason; only a catalogue that cannot be read
    at all raises `CatalogError`.
    """
    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
    path = Path(path).expanduser().resolve()
    layout = find_layout(path)
    readers = {"kaggle": _read_kaggle, "parquet": _read_parquet, "plain_csv": _read_plain_csv}
    rejected: list[dict] = []
    candidates = _check_fields(readers[layout](path, label_column, rejected), rejected)
    candidates = _stratified_sample(candidates, sample_fraction, sample_seed)
    products, images = _check_images(candidates, rejected, max_image_pixels)
    if not products:
        reasons = pd.Series([r["reason"].split(":")[0] for r in rejected]).value_counts()
        raise CatalogError(
            f"{path}: no usable product ({len(rejected)} rows rejected: "
            + ", ".join(f"{n} {reason}" for reason, n in reasons.items())
            + "); nothing was stored"
        )
    catalog = Catalog(
        products=pd.DataFrame(products, columns=list(PRODUCT_COLUMNS)),
        rejected=pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS)),
        layout=layout,
        path=path,
        images=images,
    )
    logger.info(
        "catalogue %s (%s): %d products, %d rejected",
        path,
        layout,
        len(catalog.products),
        len(catalog.rejected),
    )
    return catalog


def _reject(rejected: list[dict], row: Candidate | tuple[str, int, str], reason: str) -> None:
    source, line, product_id = (
        (row.source, row.line, row.product_id) if isinstance(row, Candidate) else row
    )
    rejected.append({"source": source, "line": line, "product_id": product_id, "reason": reason})


def _check_fields(rows: Iterator[Candidate], rejected: list[dict]) -> list[Candidate]:
    """Drop rows with an empty id, title or category, and second occurrences of an id."""
    seen: dict[str, int] = {}
    kept = []
    for row in rows:
        if not row.product_id:
            _reject(rejected, row, "empty id")
        elif row.product_id in seen:
            _reject(rejected, row, f"duplicate id: first seen on line {seen[row.product_id]}")
        elif not row.title.strip():
            _reject(rejected, row, "empty title")
        elif not row.category.strip():
            _reject(rejected, row, "empty category")
        else:
            seen[row.product_id] = row.line
            kept.append(row)
    return kept


def _stratified_sample(rows: list[Candidate], fraction: float, seed: int) -> list[Candidate]:
    """The same share of every category, in source order (classes too small may vanish)."""
    if fraction >= 1 or not rows:
        return rows
    frame = pd.DataFrame({"category": [r.category for r in rows]})
    picked = frame.groupby("category").sample(frac=fraction, random_state=seed).index
    return [rows[i] for i in sorted(picked)]


def _check_images(
    rows: list[Candidate], rejected: list[dict], max_pixels: int
) -> tuple[list[dict], dict[str, bytes]]:
    products, images = [], {}
    for row in rows:
        try:
            data = row.read_image()
        except (OSError, CatalogError) as error:
            _reject(rejected, row, f"missing image: {error}")
            continue
        problem = image_problem(data, max_pixels)
        if problem:
            _reject(rejected, row, problem)
            continue
        digest = hashlib.sha256(data).hexdigest()
        images[digest] = data
        products.append(
            {
                "product_id": row.product_id,
                "title": row.title.strip(),
                "description": html_to_text(row.description_html),
                "category": row.category.strip(),
                "image_sha256": digest,
                "source": f"{row.source}:{row.line}",
            }
        )
    return products, images


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CatalogError(f"{path}: cannot read the file ({error.strerror})") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogError(
            f"{path}: not UTF-8 text (byte {error.start}: {raw[error.start : error.start + 4]!r}); "
            "re-save the file as UTF-8"
        ) from error


def _csv_rows(
    path: Path, required: tuple[str, ...], rejected: list[dict]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each well-formed data row; malformed lines are rejected."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise CatalogError(f"{path}: empty file; expected a header with {', '.join(required)}")
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(missing)}; expected at least "
            f"{', '.join(required)} (found {', '.join(header)})"
        )
    for fields in reader:
        if not fields:
            continue
        if len(fields) != len(header):
            reason = f"malformed line: {len(fields)} fields, expected {len(header)}"
            _reject(rejected, (path.name, reader.line_num, fields[0].strip()), reason)
        else:
            yield reader.line_num, dict(zip(header, fields, strict=True))


def _read_kaggle(path: Path, label_column: str, rejected: list[dict]) -> Iterator[Candidate]:
    folder = path if path.is_dir() else path.parent
    styles = folder / "styles.csv" if path.is_dir() else path
    descriptions = _kaggle_descriptions(folder)
    required = ("id", "productDisplayName", label_column)
    for line, row in _csv_rows(styles, required, rejected):
        product_id = row["id"].strip()
        yield Candidate(
            source=styles.name,
            line=line,
            product_id=product_id,
            title=row["productDisplayName"],
            description_html=descriptions(product_id),
            category=row[label_column],
            read_image=_file_reader(folder, f"images/{product_id}.jpg"),
        )


def _kaggle_descriptions(folder: Path) -> Callable[[str], str]:
    """Look up a product's description HTML from styles.jsonl.gz or styles/<id>.json."""
    bundle = folder / "styles.jsonl.gz"
    if bundle.is_file():
        table: dict[str, str] = {}
        with gzip.open(bundle, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    data = json.loads(line)["data"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s line %d: not a style document, skipped", bundle, number)
                    continue
                table[str(data.get("id", ""))] = _description_html(data)
        return lambda product_id: table.get(product_id, "")
    documents = folder / "styles"
    if documents.is_dir():
        return lambda product_id: _description_from_file(documents / f"{product_id}.json")
    return lambda product_id: ""


def _description_html(data: dict) -> str:
    descriptors = data.get("productDescriptors") or {}
    return (descriptors.get("description") or {}).get("value") or ""


def _description_from_file(document: Path) -> str:
    if not document.is_file():
        return ""
    try:
        return _description_html(json.loads(document.read_text("utf-8"))["data"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        logger.warning("%s: not a style document, description left empty", document)
        return ""


def _file_reader(folder: Path, relative: str) -> Callable[[], bytes]:
    """A reader for an image path that must stay inside the catalogue folder."""

    def read() -> bytes:
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise CatalogError(f"image path {relative!r} leaves the catalogue folder")
        return target.read_bytes()

    return read


def _read_plain_csv(path: Path, label_column: str, rejected: list[dict]) -> Iterator[Candidate]:
    for line, row in _csv_rows(path, PLAIN_CSV_COLUMNS, rejected):
        yield Candidate(
            source=path.name,
            line=line,
            product_id=row["id"].strip(),
            title=row["title"],
            description_html=row["description"],
            category=row["category"],
            read_image=_file_reader(path.parent, row["image"].strip()),
        )


def _read_parquet(path: Path, label_column: str, rejected: list[dict]) -> Iterator[Candidate]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:
        raise CatalogError(f"{path}: cannot read as Parquet ({error})") from error
    required = ("id", "productDisplayName", label_column, "image")
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(missing)}; expected the Hugging Face "
            f"layout with {', '.join(required)} (image as a struct with 'bytes')"
        )
    has_description = "description" in table.column_names
    for index, row in enumerate(table.to_pylist(), start=1):
        image = row["image"] or {}
        data = image.get("bytes") if isinstance(image, dict) else None
        yield Candidate(
            source=path.name,
            line=index,
            product_id=str(row["id"] if row["id"] is not None else "").strip(),
            title=row["productDisplayName"] or "",
            description_html=(row["description"] or "") if has_description else "",
            category=str(row[label_column] or ""),
            read_image=lambda data=data: data or b"",
        )


def locate_catalog(path: str | Path = "") -> Path:
    """The catalogue to read: `path`, else $EMBAUG_DATA, else the usual places nearby."""
    import os

    if path:
        return Path(path).expanduser().resolve()
    candidates = [
        os.environ.get("EMBAUG_DATA", ""),
        "data/fashion-products",
        "../shared/data/fashion-products",
    ]
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
