"""A photo as the network's square input: upright, RGB on white, padded, resized.

Training and serving both embed through `to_rgb_square`, so a product's photo gives the same
vector wherever it is embedded (deep grey, alpha, EXIF rotation and odd shapes included).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

#: Modes converted to RGB directly: no alpha, so flattening onto white would change nothing.
OPAQUE_MODES = ("RGB", "L")

#: Grey modes deeper than 8 bits. PIL's own conversion to RGB clips them at 255, so a 16-bit
#: or float photo would embed as a white square.
DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

#: Longest side padded as it always was (a canvas of at most 48 MiB in RGB). A longer image is
#: shrunk to the output size before padding: a 100000 x 1 strip passes any pixel limit, but
#: its square canvas would not fit in memory. The catalogue's photos (60 x 80) are far below.
MAX_PAD_SIDE = 4096


def deep_range(values: np.ndarray, mode: str) -> tuple[float, float]:
    """The values that become black and white: the full 16-bit range for 16-bit data (and for
    32-bit integers within it, as PIL gives some 16-bit files), [0, 1] for floats within it;
    any other range has no standard meaning, so the image's own extremes are stretched."""
    if not np.isfinite(values).all():
        raise ValueError(f"{mode} image: some pixel values are not finite")
    low, high = float(values.min()), float(values.max())
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and high <= 65535):
        return 0.0, 65535.0
    if mode == "F" and low >= 0 and high <= 1:
        return 0.0, 1.0
    return low, max(high, low + 1)  # a constant image of unknown range becomes black


def to_eight_bit(image: Image.Image) -> Image.Image:
    """A deep grey image as 8-bit grey, scaled by its real value range (`deep_range`)."""
    if image.mode not in DEEP_MODES:
        return image
    values = np.array(image, dtype=np.float32)
    low, high = deep_range(values, image.mode)
    values -= low
    values *= 255 / (high - low)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def on_white(image: Image.Image) -> Image.Image:
    """RGB, any transparency flattened onto white."""
    if image.mode in OPAQUE_MODES and "transparency" not in image.info:
        return image.convert("RGB")  # the catalogue's JPEGs: skips two full-image passes
    image = image.convert("RGBA")
    canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, image).convert("RGB")


def shrink(image: Image.Image, size: int) -> Image.Image:
    """Bicubic, to a longer side of `size`, keeping the aspect ratio (at least 1 pixel)."""
    scale = size / max(image.size)
    width, height = (max(1, round(side * scale)) for side in image.size)
    return image.resize((width, height), Image.Resampling.BICUBIC)


def pad_square(image: Image.Image) -> Image.Image:
    """Centred on a white square as wide as its longer side."""
    side = max(image.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


#: The EXIF tag saying how a camera held the photo (1: as stored).
ORIENTATION = 0x0112


def upright(image: Image.Image) -> Image.Image:
    """The photo as a person sees it: its EXIF orientation applied (docs/METHODS.md section 8). A
    phone's photo stored sideways otherwise embeds as a sideways object (cosine 0.5 to itself
    upright). Untouched, without a copy, when no turn is asked for."""
    if image.getexif().get(ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def to_rgb_square(image: Image.Image, size: int) -> Image.Image:
    """Upright (EXIF orientation), RGB on white (deep grey scaled to 8 bits, alpha
    flattened), padded to a square with white, bicubic resize. Longer than MAX_PAD_SIDE:
    shrunk first, so the canvas stays small. Training and serving both embed through here."""
    image = on_white(to_eight_bit(upright(image)))
    if max(image.size) > MAX_PAD_SIDE:
        return pad_square(shrink(image, size))
    return pad_square(image).resize((size, size), Image.Resampling.BICUBIC)
