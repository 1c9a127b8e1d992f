"""Is an image usable? Checked from its header first (size, shape), then decoded once."""

from __future__ import annotations

import hashlib
import io
import re
import warnings

from PIL import Image

#: PIL names the file object in some errors ("<_io.BytesIO object at 0x7f...>").
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def image_problem(
    data: bytes, max_pixels: int = 40_000_000, max_aspect: float = 20.0
) -> str | None:
    """Why these bytes are not a usable image, or None when they decode fully. Size and aspect
    ratio are checked from the header, before any pixel is decoded (decompression bombs, and a
    100000 x 1 strip that padding to a square would turn into 10^10 pixels)."""
    if not data:
        return "unreadable image: empty file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is lower
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return f"image too large: {width}x{height} pixels (limit {max_pixels:,})"
                if min(width, height) < 1 or max(width, height) > max_aspect * min(width, height):
                    return (
                        f"image too thin: {width}x{height} pixels "
                        f"(aspect ratio limit {max_aspect:g}:1, setting max_aspect_ratio)"
                    )
                image.load()
    except Image.DecompressionBombError as error:
        return f"image too large: {error}"
    except Exception as error:  # PIL raises many types for broken files
        return f"unreadable image: {describe_error(error)}"
    return None


def describe_error(error: Exception) -> str:
    """An error's message without object addresses, naming what PIL could not read."""
    message = _OBJECT_REPR.sub("the image bytes", str(error))
    if message.startswith("cannot identify image file"):
        return "not a known image format (" + message + ")"
    return message or type(error).__name__


class ImageChecks:
    """`image_problem` once per distinct content within one load: 30,000 rows naming one
    photo decode it once, not 30,000 times."""

    def __init__(self, max_pixels: int, max_aspect: float):
        self.max_pixels, self.max_aspect = max_pixels, max_aspect
        self.problems: dict[str, str | None] = {}

    def check(self, data: bytes) -> tuple[str, str | None, bool]:
        """The bytes' SHA-256, why they are unusable (or None), and whether they are new."""
        digest = hashlib.sha256(data).hexdigest()
        new = digest not in self.problems
        if new:
            self.problems[digest] = image_problem(data, self.max_pixels, self.max_aspect)
        return digest, self.problems[digest], new
