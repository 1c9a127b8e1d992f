"""What is current, defined once: which stored splits, label sets and runs belong to the
catalogue and encoders in use now.

- The catalogue's fingerprint hashes the loaded product table (ids, texts, classes, image
  hashes) and the features used (`Store.staged_sha256`), so a sample, a relabelled class or an
  image-only variant of the same ids is a different catalogue.
- The vectors' fingerprint adds which encoder embeds each feature: the product matrix is a
  function of the two.
- A trial is current when its split was made on the current catalogue; a trial's lineage key
  hashes the vectors' fingerprint and the split's. A label set or an MLflow run counts only when
  its lineage key is the key of a current trial: anything else is stale, whatever its trial
  name, and left out of the report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from embaug_core.labels.splits import split_fingerprint
from embaug_core.store import Store


def _sha(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def vectors_sha256(catalogue: str, encoders: Mapping[str, str]) -> str:
    """A hash of what the product matrix is made of: the catalogue and, per feature in use,
    the identity of its encoder."""
    return _sha([catalogue, *(f"{feature}={encoders[feature]}" for feature in sorted(encoders))])


@dataclass(frozen=True)
class Lineage:
    """The current catalogue and vectors, and the split fingerprint of every current trial."""

    catalogue_sha256: str
    vectors_sha256: str
    splits: dict[str, str]

    def key(self, trial: str) -> str:
        """The lineage key of a current trial (its vectors and split)."""
        return _sha([self.vectors_sha256, self.splits[trial]])

    def keys(self) -> dict[str, str]:
        """Lineage key -> trial, for every current trial."""
        return {self.key(trial): trial for trial in self.splits}

    def current(self, table: pd.DataFrame, column: str = "lineage") -> pd.DataFrame:
        """The rows of `table` whose lineage key belongs to a current trial."""
        return table[table[column].isin(self.keys())]


def current_lineage(
    store: Store, encoders: Mapping[str, str], only: Iterable[str] | None = None
) -> Lineage:
    """The lineage of what the store holds now; `encoders` maps each feature in use to its
    encoder's identity. Trials whose split was made on an older catalogue are not current.
    `only` names the trials to look at (None: all), since each costs reading its split."""
    catalogue = str(store.catalogue()["sha256"])
    wanted = None if only is None else set(only)
    trials = [
        t
        for t, sha in store.split_catalogues().items()
        if sha == catalogue and (wanted is None or t in wanted)
    ]
    return Lineage(
        catalogue_sha256=catalogue,
        vectors_sha256=vectors_sha256(catalogue, encoders),
        splits={trial: split_fingerprint(store.split(trial)) for trial in trials},
    )


def current_label_sets(store: Store, lineage: Lineage) -> pd.DataFrame:
    """Every current trial's label sets (built on its current split and vectors)."""
    return lineage.current(store.label_sets()).drop(columns="lineage")
