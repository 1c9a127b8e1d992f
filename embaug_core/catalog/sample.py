"""Which rows a load keeps: a stratified sample of the catalogue, and beside it a slice whose
labels are withheld, so that a sampled catalogue also has products arriving unlabelled to
predict and queue (the demo's labeling loop) without changing the labelled sample."""

from __future__ import annotations

import pandas as pd

from embaug_core.catalog.settings import CatalogSettings


def sample_positions(
    categories: list[str | None], settings: CatalogSettings
) -> tuple[set[int], set[int]]:
    """The positions kept (the sample and the withheld slice) and those whose label is
    withheld. The sample is the same with or without a withheld slice: the slice is drawn
    from the rest, per class, with a seed of its own."""
    frame = pd.DataFrame({"category": categories})
    picked = frame.groupby("category", dropna=False).sample(
        frac=settings.sample_fraction, random_state=settings.sample_seed
    )
    rest = frame.drop(picked.index).dropna()
    withheld: set[int] = set()
    if settings.unlabelled_fraction and len(rest):
        share = min(1.0, settings.unlabelled_fraction / (1 - settings.sample_fraction))
        slice_ = rest.groupby("category").sample(frac=share, random_state=settings.sample_seed + 1)
        withheld = set(slice_.index)
    return set(picked.index) | withheld, withheld
