"""How a catalogue is read: the one definition of every loading default and limit.

The limits bound what one hostile row can cost (memory, time) so that it is rejected with a
reason instead of taking the whole load down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

FEATURES = ("title", "description", "image")
#: `embaug demo` on its own catalogue (none named): a stratified 10% sample, and beside it 1%
#: of the catalogue with labels withheld, to predict and queue. A catalogue a person names is
#: read whole unless a sample is asked for.
DEMO_SAMPLE_FRACTION, DEMO_UNLABELLED_FRACTION = 0.1, 0.01


@dataclass(frozen=True)
class CatalogSettings:
    """Where the catalogue is and how to read it (every field is Dagster config of
    `raw_products` and a flag of `embaug demo`)."""

    path: str = field(
        default="",
        metadata={"doc": "Catalogue folder or file; empty: $EMBAUG_DATA or ../shared"},
    )
    label_column: str = field(
        default="",
        metadata={
            "doc": "Column holding the class; empty: articleType (Kaggle, Parquet), "
            "category (plain CSV)"
        },
    )
    features: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Which of title, description, image to embed; empty: every one the catalogue has"
        },
    )
    sample_fraction: float = field(
        default=1.0, metadata={"doc": "Stratified share of the catalogue to keep"}
    )
    sample_seed: int = 0
    unlabelled_fraction: float = field(
        default=0.0,
        metadata={
            "doc": "Stratified share of the catalogue, outside the sample, loaded with its "
            "labels withheld: products arriving unlabelled, to predict and queue (the demo's "
            "labeling loop)"
        },
    )
    image_roots: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "Folders image files may live in (links are followed into them); "
            "empty: the catalogue's own folder"
        },
    )
    max_image_bytes: int = field(
        default=20 * 2**20, metadata={"doc": "Larger image files are rejected unread"}
    )
    max_image_pixels: int = field(
        default=40_000_000, metadata={"doc": "Larger images are rejected before decoding"}
    )
    max_aspect_ratio: float = field(
        default=20.0, metadata={"doc": "Thinner images (long side / short side) are rejected"}
    )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> CatalogSettings:
        """Settings from stored config (lists as tuples; keys that are not settings ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        )

    def __post_init__(self) -> None:
        if not 0 < self.sample_fraction <= 1:
            raise ValueError(f"sample_fraction must be in (0, 1], got {self.sample_fraction}")
        if not 0 <= self.unlabelled_fraction <= 1 - self.sample_fraction:
            raise ValueError(
                f"unlabelled_fraction must be in [0, 1 - sample_fraction], got "
                f"{self.unlabelled_fraction} with a sample of {self.sample_fraction}"
            )
        unknown = [name for name in self.features if name not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; choose among {', '.join(FEATURES)}")
        for name in ("max_image_bytes", "max_image_pixels", "max_aspect_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


#: The csv module's limit on one field (its default, 128 KiB, aborts a whole file); a longer
#: field rejects its line.
MAX_CSV_FIELD = 8 * 2**20
#: Longest accepted id, title and category (characters); a longer one rejects its row.
MAX_FIELD_CHARS = {"id": 200, "title": 2_000, "category": 200}
#: Description HTML beyond this is cut before cleaning: the encoders read a few hundred tokens,
#: and parsing megabytes of HTML takes a minute. No real description of the sample is longer.
MAX_DESCRIPTION_CHARS = 65_536
#: Table files (styles.csv, a plain CSV, a Parquet file) larger than this are refused.
MAX_TABLE_BYTES = 8 * 2**30
