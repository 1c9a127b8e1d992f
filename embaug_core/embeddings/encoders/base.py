"""What every encoder offers: a stable identity for the cache, its width, and batch encoding."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Protocol, TypeVar

import numpy as np

Item = TypeVar("Item", contravariant=True)
Part = TypeVar("Part")
Result = TypeVar("Result")


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


def prefetched(
    pool: Executor, work: Callable[[Part], Result], parts: Iterable[Part], ahead: int
) -> Iterator[Result]:
    """`work(part)` for each part in order, up to `ahead` parts computed in `pool` while the
    caller uses the current one: preparation overlaps the model, and memory stays bounded."""
    pending: deque[Future[Result]] = deque()
    for part in parts:
        pending.append(pool.submit(work, part))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
