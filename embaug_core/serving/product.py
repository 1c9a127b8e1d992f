"""The product-level classifier: what the served production model and `embaug predict` run.

It embeds each product with the same frozen encoders the training vectors came from (checked
by identity when it is built), applies the classifier (with its own standardisation) and the
threshold, and answers per row: a row that cannot be used gets its reason in `error`, never
an error for the whole batch.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from embaug_core.catalog.files import FileAccess
from embaug_core.catalog.images import image_problem
from embaug_core.catalog.text import html_to_text, is_blank
from embaug_core.embeddings.encoders import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    DEFAULT_PRECISION,
    ImageEncoder,
    TextEncoder,
)
from embaug_core.training.model import Classifier

logger = logging.getLogger(__name__)
TOP = 3
OUTPUT_COLUMNS = [
    "product_id",
    "category",
    "probability",
    "none",
    *[f"{kind}_{i}" for i in range(1, TOP + 1) for kind in ("top", "p")],
    #: An open-set model's score (docs/METHODS.md section 8; high: like what training saw),
    #: empty for a model whose "none" is its top probability under the threshold.
    "open_set_score",
    "error",
]


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoders made the training vectors: enough to build them again, offline."""

    features: tuple[str, ...]
    text_model_dir: str = ""
    text_max_length: int = DEFAULT_MAX_LENGTH
    text_precision: str = DEFAULT_PRECISION
    image_model: str = DEFAULT_MODEL
    image_checkpoint: str = ""
    image_size: int = DEFAULT_IMAGE_SIZE
    identities: dict[str, str] = field(default_factory=dict)

    def text(self) -> TextEncoder:
        return TextEncoder(
            self.text_model_dir or None, self.text_max_length, precision=self.text_precision
        )

    def image(self) -> ImageEncoder:
        return ImageEncoder(self.image_model, self.image_checkpoint or None, self.image_size)


@dataclass(frozen=True)
class InputLimits:
    """Where image paths may point and how large an image may be (the catalogue's settings)."""

    image_roots: tuple[str, ...] = ()
    max_image_bytes: int = 20 * 2**20
    max_image_pixels: int = 40_000_000
    max_aspect_ratio: float = 20.0


class ProductClassifier:
    """Products in, categories out (see the module docstring)."""

    def __init__(
        self, classifier: Classifier, encoders: EncoderSpec, threshold: float, limits: InputLimits
    ):
        self.classifier, self.spec, self.threshold, self.limits = (
            classifier,
            encoders,
            threshold,
            limits,
        )
        self.text = encoders.text() if {"title", "description"} & set(encoders.features) else None
        self.image = encoders.image() if "image" in encoders.features else None
        self._check_identities()

    def _check_identities(self) -> None:
        """Vectors from other encoders would be silently wrong: refuse instead."""
        for feature, expected in self.spec.identities.items():
            found = (self.image if feature == "image" else self.text).identity
            if found != expected:
                raise ValueError(
                    f"the model was trained on {feature} vectors of {expected}, but the encoder "
                    f"available here is {found}; install the same encoder packages"
                )

    def predict(self, products: pd.DataFrame) -> pd.DataFrame:
        """One output row per input row (OUTPUT_COLUMNS); unusable rows carry `error`."""
        frame = products.reset_index(drop=True)
        checked = [self._check(row._asdict()) for row in frame.itertuples(index=False)]
        usable = [i for i, (_, error) in enumerate(checked) if error is None]
        out = pd.DataFrame(
            {"product_id": _column(frame, "product_id"), "error": [e for _, e in checked]}
        )
        if usable:
            images = [checked[i][0] for i in usable]
            vectors = self.vectors(frame.iloc[usable], images)
            probs = self.classifier.predict_proba(vectors)
            decided = decide(probs, self.classifier.classes, self.threshold)
            if hasattr(self.classifier, "scores"):
                decided["open_set_score"] = self.classifier.scores(vectors)
            for column in decided.columns:
                out.loc[usable, column] = decided[column].to_numpy()
        return json_safe(out.reindex(columns=OUTPUT_COLUMNS))

    def vectors(self, frame: pd.DataFrame, images: list[bytes | None]) -> np.ndarray:
        """The product matrix of usable rows: concat(title, description, image) in use."""
        parts = []
        for feature in self.spec.features:
            if feature == "image":
                parts.append(self.image.encode(images))
            else:
                parts.append(
                    self.text.encode([_text(frame, feature, i) for i in range(len(frame))])
                )
        return np.concatenate(parts, axis=1)

    def _check(self, values: dict) -> tuple[bytes | None, str | None]:
        """A row's image bytes (when images are used) and why it cannot be scored, or None."""
        if "title" in self.spec.features and is_blank(_str(values.get("title"))):
            return None, "empty title"
        if "image" not in self.spec.features:
            return None, None
        try:
            data = _image_bytes(values.get("image"), self.limits, values.get("image_path"))
        except (OSError, ValueError) as error:
            return None, f"unusable image: {error}"
        limits = self.limits
        return data, image_problem(data, limits.max_image_pixels, limits.max_aspect_ratio)


def decide(probs: np.ndarray, classes: list[str], threshold: float) -> pd.DataFrame:
    """Category (None under the threshold), its probability, the none flag and the top 3."""
    names = np.asarray(classes, dtype=object)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :TOP]
    best = probs[np.arange(len(probs)), order[:, 0]]
    none = best <= threshold
    out = {
        "category": np.where(none, None, names[order[:, 0]]),
        "probability": best,
        "none": none,
    }
    for i in range(TOP):
        if i < order.shape[1]:
            out[f"top_{i + 1}"] = names[order[:, i]]
            out[f"p_{i + 1}"] = probs[np.arange(len(probs)), order[:, i]]
    return pd.DataFrame(out)


def json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing cells as None, which the server writes as JSON null: a bare NaN is not JSON,
    and strict parsers refuse the whole answer."""
    return frame.astype(object).where(frame.notna(), None)


def _column(frame: pd.DataFrame, name: str) -> list:
    return frame[name].tolist() if name in frame else [None] * len(frame)


def _str(value: object) -> str:
    """Text of a cell; missing values (None, NaN) are empty."""
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _text(frame: pd.DataFrame, feature: str, i: int) -> str:
    text = _str(frame[feature].iloc[i]) if feature in frame else ""
    return html_to_text(text) if feature == "description" else text.strip()


def _image_bytes(value: object, limits: InputLimits, path: object = None) -> bytes:
    """An image given as bytes, as base64 text, or as a path under the allowed roots."""
    if isinstance(value, bytes | bytearray) and value:
        data = bytes(value)
    elif isinstance(value, str) and value:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("image is neither bytes nor base64 text") from error
    elif isinstance(path, str) and path:
        if not limits.image_roots:
            raise ValueError("image paths are refused: no image root is configured")
        root = Path(limits.image_roots[0])
        access = FileAccess.of(root, limits.image_roots, limits.max_image_bytes)
        data = access.read(root, path)
    else:
        raise ValueError("no image given")
    if len(data) > limits.max_image_bytes:
        raise ValueError(f"image too large: {len(data):,} bytes (limit {limits.max_image_bytes:,})")
    return data


def batches(frame: pd.DataFrame, size: int) -> Iterable[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
