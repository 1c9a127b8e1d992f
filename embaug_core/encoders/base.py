"""What every encoder offers: a stable identity for the cache, its width, and batch encoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np

Item = TypeVar("Item", contravariant=True)


class Encoder(Protocol[Item]):
    """Maps items (texts or image bytes) to float32 vectors of a fixed width.

    `identity` names the model, its weights and its preprocessing: two encoders with the
    same identity must give the same vectors, so cached vectors can be reused.
    """

    @property
    def identity(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, items: Sequence[Item], progress: bool = False) -> np.ndarray: ...
