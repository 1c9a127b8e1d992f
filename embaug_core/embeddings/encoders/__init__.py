"""Frozen encoders behind one small interface: identity (the cache key), width, encode."""

from embaug_core.embeddings.encoders.base import Encoder
from embaug_core.embeddings.encoders.image import DEFAULT_IMAGE_SIZE, DEFAULT_MODEL, ImageEncoder
from embaug_core.embeddings.encoders.text import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_PRECISION,
    TextEncoder,
)

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MODEL",
    "DEFAULT_PRECISION",
    "Encoder",
    "ImageEncoder",
    "TextEncoder",
]
