"""Frozen encoders behind one small interface: identity (the cache key), width, encode."""

from embaug_core.encoders.base import Encoder
from embaug_core.encoders.image import ImageEncoder
from embaug_core.encoders.text import TextEncoder

__all__ = ["Encoder", "ImageEncoder", "TextEncoder"]
